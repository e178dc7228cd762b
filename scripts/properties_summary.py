"""Per property: the best method, the place of unsure's default, and the headline agreements, from
the JSON of ``unsure bench properties`` (docs/results/properties.md).

    python scripts/properties_summary.py docs/results/properties-digits/properties.json [...]
"""
from __future__ import annotations

import json
import math
import sys

from unsure.attribution.base import DEFAULT_SPEC
from unsure.bench.properties import off_diagonal_mean
from unsure.metrics.base import metric_info


#: values that score the same property (pairs inside a group are left out of the between-property mean)
GROUPS = {"complexity": "compactness", "effective-complexity": "compactness", "murr": "blurring",
          "auc-urr": "blurring", "repeatability-cosine": "consistency", "repeatability-spearman": "consistency",
          "rank-improvement": "rank", "top-rank-share": "rank", "conveyance-spearman": "similarity",
          "conveyance-cosine": "similarity", "gt-rank": "groundtruth", "gt-mass": "groundtruth",
          "gt-auroc": "groundtruth", "gt-pointing": "groundtruth"}


def between(mat: list[list[float]], names: list[str]) -> float:
    """Mean of the matrix over pairs of values that score different properties (NaN left out)."""
    g = [GROUPS.get(n, n) for n in names]
    vals = [mat[i][j] for i in range(len(names)) for j in range(len(names))
            if g[i] != g[j] and not math.isnan(mat[i][j])]
    return sum(vals) / len(vals) if vals else float("nan")


def default_label(results: dict) -> str:
    """The default's label in ``results``: its full spec, or ``default`` when run by that name."""
    return DEFAULT_SPEC if DEFAULT_SPEC in results or "default" not in results else "default"


def summary(path: str) -> str:
    js = json.load(open(path))
    res, names, agree = js["results"], js["metrics"], js["agreement"]
    dflt = default_label(res)
    lines = [f"### {path}", "", f"{len(res)} methods; default `{DEFAULT_SPEC}`"
             + ("" if dflt in res else " (not in this run)"), "",
             "| property | best method | value | default's place | default's value |", "|---|---|---|---|---|"]
    for k in names:
        info = metric_info(k)
        vals = {m: r["mean"][k] for m, r in res.items() if not math.isnan(r["mean"][k])}
        order = sorted(vals, key=lambda m: info.sort_key(vals[m]))
        best = vals[order[0]]
        tied = [m for m in order if abs(vals[m] - best) <= 1e-3 * max(1.0, abs(best))]  # equal to 3 digits
        dv = f"{vals[dflt]:.3f}" if dflt in vals else "-"
        if dflt not in order:
            place = "-"
        elif dflt in tied:
            place = f"1 of {len(order)}" if len(tied) == 1 else f"tied first ({len(tied)} of {len(order)})"
        else:
            place = f"{1 + sum(info.sort_key(vals[m]) < info.sort_key(vals[dflt]) for m in order)} of {len(order)}"
        who = order[0] if len(tied) == 1 else f"{len(tied)} tie, e.g. {order[0]}"
        lines.append(f"| {k} {info.arrow} | {who} | {best:.3f} | {place} | {dv} |")
    i = {n: j for j, n in enumerate(names)}
    lines += ["", "| agreement | across methods | across images |", "|---|---|---|",
              f"| mean off-diagonal | {off_diagonal_mean(agree['across_methods']):.3f} | "
              f"{off_diagonal_mean(agree['across_images']):.3f} |",
              f"| mean over pairs of different properties | {between(agree['across_methods'], names):.3f} | "
              f"{between(agree['across_images'], names):.3f} |"]
    for a, b in (("rank-improvement", "conveyance-spearman"), ("murr", "flipping-auc"),
                 ("murr", "deletion-auc"), ("complexity", "murr"), ("rank-improvement", "murr"),
                 ("gt-rank", "murr"), ("gt-rank", "flipping-auc"), ("gt-rank", "insertion-auc"),
                 ("gt-rank", "complexity")):
        if a in i and b in i:
            lines.append(f"| {a} vs {b} | {agree['across_methods'][i[a]][i[b]]:.3f} | "
                         f"{agree['across_images'][i[a]][i[b]]:.3f} |")
    return "\n".join(lines) + "\n"


def means_table(path: str) -> str:
    """Every method's mean of every value (rows in the file's order; the default marked), 3
    significant digits."""
    js = json.load(open(path))
    names = js["metrics"]
    head = "| method | " + " | ".join(f"{k} {metric_info(k).arrow}" for k in names) + " |"
    lines = [head, "|---" * (len(names) + 1) + "|"]
    for m, r in js["results"].items():
        label = (f"**{m}**" + ("" if m == "default" else " (default)")) if m == default_label(js["results"]) else m
        lines.append(f"| {label} | " + " | ".join(f"{r['mean'][k]:.3g}" for k in names) + " |")
    return "\n".join(lines) + "\n"


def on_same_images(sub_path: str, main_path: str) -> str:
    """The methods of ``sub_path`` (a run on a subset of ``main_path``'s images) beside the best
    method of ``main_path`` and the default, both averaged over the same images only."""
    sub, main = json.load(open(sub_path)), json.load(open(main_path))
    where = {img: i for i, img in enumerate(main["config"]["images"])}
    missing = [i for i in sub["config"]["images"] if i not in where]
    if missing:
        raise SystemExit(f"{sub_path}: images {missing[:5]} are not in {main_path}")
    pos = [where[i] for i in sub["config"]["images"]]
    dflt = default_label(main["results"])
    own = list(sub["results"])
    lines = ["| property | " + " | ".join(own) + f" | best of the {len(main['results'])} on these images | "
             "default on these images |", "|---" * (len(own) + 3) + "|"]
    for k in sub["metrics"]:
        if k not in main["metrics"]:
            continue
        info = metric_info(k)
        vals = {}
        for m, r in main["results"].items():
            v = [r["per_image"][k][p] for p in pos]
            v = [x for x in v if x is not None and not math.isnan(x)]
            if v:
                vals[m] = sum(v) / len(v)
        best = min(vals, key=lambda m: info.sort_key(vals[m]))
        lines.append(f"| {k} {info.arrow} | " + " | ".join(f"{sub['results'][m]['mean'][k]:.3f}" for m in own)
                     + f" | {vals[best]:.3f} ({best}) | " + (f"{vals[dflt]:.3f}" if dflt in vals else "-") + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print("\n".join(summary(p) for p in sys.argv[1:]))
