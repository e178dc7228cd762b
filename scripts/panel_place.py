"""Place the methods of new substitute-panel runs among those of an earlier run on the same images
(``unsure bench blurring`` JSONs, same data, split, images and fractions; several new runs are
joined first).

The methods both runs have (anchors) must agree: their largest per-substitute MURR difference is
printed. Then every method of either run is ranked per substitute by MURR (1 = best, ties share,
the bench's own ``_ranks``), the ranks are averaged over the substitutes (the panel's mean rank),
and each new method's panel-mean MURR, mean rank and place (position when all are sorted by
panel-mean MURR) are printed at each fraction.

    python scripts/panel_place.py docs/results/blurring-panel-fmnist-all/blurring.json \
        docs/results/peers-panel-fmnist/grads/blurring.json docs/results/peers-panel-fmnist/shapley/blurring.json
"""
from __future__ import annotations

import json
import sys

from unsure.bench.panel import _ranks


def join(paths: list[str]) -> dict:
    """One run from several on the same images: their methods side by side."""
    runs = [json.load(open(p)) for p in paths]
    out = runs[0]
    for d in runs[1:]:
        if d["config"]["image_indices"] != out["config"]["image_indices"]:
            sys.exit("the new runs differ in their images")
        out["panel"].update(d["panel"])
        for s, res in d["by_replacement"].items():
            out["by_replacement"][s].update(res)
    return out


def main(base_path: str, new_paths: list[str]) -> None:
    base, new = json.load(open(base_path)), join(new_paths)
    for key in ("data", "split", "image_indices", "fractions"):
        if base["config"][key] != new["config"][key]:
            sys.exit(f"the runs differ in {key}")
    subs = list(base["by_replacement"])
    if subs != list(new["by_replacement"]):
        sys.exit("the runs have different substitutes")
    anchors = [m for m in new["panel"] if m in base["panel"]]
    fresh = [m for m in new["panel"] if m not in base["panel"]]
    fr = [str(f) for f in base["config"]["fractions"]]
    diff = max((abs(base["by_replacement"][s][m][f]["murr"] - new["by_replacement"][s][m][f]["murr"])
                for s in subs for m in anchors for f in fr), default=float("nan"))
    print(f"anchors ({len(anchors)}): {', '.join(anchors)}; largest MURR difference {diff:.2e}\n")
    methods = list(base["panel"]) + fresh
    table = {s: {**base["by_replacement"][s], **{m: new["by_replacement"][s][m] for m in fresh}} for s in subs}
    print("| method | " + " | ".join(f"panel MURR @{f} | mean rank @{f} | place @{f}" for f in fr) + " |")
    print("|---|" + "---|---|---|" * len(fr))
    out = {m: [] for m in fresh}
    for f in fr:
        per = [_ranks([table[s][m][f]["murr"] for m in methods], True) for s in subs]
        rank = {m: sum(r[k] for r in per) / len(subs) for k, m in enumerate(methods)}
        mean = {m: sum(table[s][m][f]["murr"] for s in subs) / len(subs) for m in methods}
        order = sorted(methods, key=lambda m: -mean[m])
        for m in fresh:
            out[m].append(f"{mean[m]:.3f} | {rank[m]:.1f} | {order.index(m) + 1} of {len(methods)}")
    for m in fresh:
        print(f"| `{m}` | " + " | ".join(out[m]) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python scripts/panel_place.py BASE/blurring.json NEW/blurring.json [NEW2/blurring.json ...]")
    main(sys.argv[1], sys.argv[2:])
