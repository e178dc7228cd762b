"""Place new methods among the settings of a substitute panel (``unsure bench blurring`` JSONs).

Two uses:

- ``BASE NEW [NEW2 ...]``: new runs on the same images as an earlier run BASE (same data, split,
  images and fractions; the new runs are joined first). The methods both have (anchors) must
  agree: their largest per-substitute MURR difference is printed. New = methods BASE lacks.
- ``--old SETTINGS RUN [RUN2 ...]``: runs that were made together on the same images (joined);
  the old settings are those listed in the comma-separated file SETTINGS (e.g.
  ``scripts/panel_methods_fmnist.txt``); new = every joined method not listed there. The listed
  settings missing from the runs are printed. ``--show M1,M2`` adds old settings to the table
  (marked "(old)"); ``--against EARLIER.json`` also prints the Spearman correlation of the old
  settings' panel MURR between these runs and an earlier run (other images).

Every method is ranked per substitute by MURR (1 = best, ties share, the bench's own ``_ranks``),
the ranks are averaged over the substitutes (the panel's mean rank), and each new method's
panel-mean MURR, mean rank and place (position when all are sorted by panel-mean MURR) are
printed at each fraction.

    python scripts/panel_place.py docs/results/blurring-panel-fmnist-all/blurring.json \\
        docs/results/peers-panel-fmnist/grads/blurring.json
    python scripts/panel_place.py --old scripts/panel_methods_fmnist.txt \\
        docs/results/peers-panel-fmnist/n40/a1/blurring.json docs/results/peers-panel-fmnist/n40/a2/blurring.json
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
        for key in ("data", "split", "image_indices", "fractions"):
            if d["config"][key] != out["config"][key]:
                sys.exit(f"the runs differ in {key}")
        if list(d["by_replacement"]) != list(out["by_replacement"]):
            sys.exit("the runs have different substitutes")
        out["panel"].update(d["panel"])
        for s, res in d["by_replacement"].items():
            out["by_replacement"][s].update(res)
    return out


def place(table: dict, methods: list[str], fresh: list[str], fr: list[str], shown: list[str] = ()) -> None:
    """Print the table of the fresh methods' (then ``shown`` old ones', marked) panel MURR, mean
    rank and place among ``methods``."""
    old = [m for m in shown if m in methods and m not in fresh]
    subs = list(table)
    print("| method | " + " | ".join(f"panel MURR @{f} | mean rank @{f} | place @{f}" for f in fr) + " |")
    print("|---|" + "---|---|---|" * len(fr))
    out = {m: [] for m in fresh + old}
    for f in fr:
        per = [_ranks([table[s][m][f]["murr"] for m in methods], True) for s in subs]
        rank = {m: sum(r[k] for r in per) / len(subs) for k, m in enumerate(methods)}
        mean = {m: sum(table[s][m][f]["murr"] for s in subs) / len(subs) for m in methods}
        order = sorted(methods, key=lambda m: -mean[m])
        for m in fresh + old:
            out[m].append(f"{mean[m]:.3f} | {rank[m]:.1f} | {order.index(m) + 1} of {len(methods)}")
    for m in fresh + old:
        print(f"| `{m}`{' (old)' if m in old else ''} | " + " | ".join(out[m]) + " |")


def main_base(base_path: str, new_paths: list[str]) -> None:
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
    place(table, methods, fresh, fr)


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = _ranks(a, True), _ranks(b, True)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def main_old(settings_path: str, paths: list[str], against: str | None = None, shown: list[str] = ()) -> None:
    old = [m for m in open(settings_path).read().replace("\n", ",").split(",") if m]
    run = join(paths)
    methods = list(run["panel"])
    fresh = [m for m in methods if m not in old]
    missing = [m for m in old if m not in methods]
    fr = [str(f) for f in run["config"]["fractions"]]
    print(f"{len(run['config']['image_indices'])} images; {len(methods) - len(fresh)} of the "
          f"{len(old)} settings of {settings_path}, missing: {', '.join(missing) or 'none'}; "
          f"{len(fresh)} new\n")
    place(run["by_replacement"], methods, fresh, fr, shown)
    if against:  # how well these images order the old settings as an earlier run did
        ref = json.load(open(against))["panel"]
        common = [m for m in methods if m in ref and m not in fresh]
        rho = [f"{spearman([run['panel'][m][f]['murr'] for m in common], [ref[m][f]['murr'] for m in common]):.2f}"
               f" @{f}" for f in fr]
        print(f"\nSpearman correlation of the panel MURR of the {len(common)} settings both have, against "
              f"{against}: {', '.join(rho)}")


if __name__ == "__main__":
    args = sys.argv[1:]
    opts = {"--against": None, "--show": ""}
    for k in opts:
        if k in args:
            i = args.index(k)
            opts[k], args = args[i + 1], args[:i] + args[i + 2:]
    if args[:1] == ["--old"] and len(args) >= 3:
        main_old(args[1], args[2:], opts["--against"], [m for m in opts["--show"].split(",") if m])
    elif len(args) >= 2 and not args[0].startswith("-"):
        main_base(args[0], args[1:])
    else:
        sys.exit("usage: python scripts/panel_place.py BASE/blurring.json NEW/blurring.json [NEW2 ...]\n"
                 "       python scripts/panel_place.py --old SETTINGS.txt RUN/blurring.json [RUN2 ...] [--show M1,M2] [--against EARLIER.json]")
