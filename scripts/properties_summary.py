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


def summary(path: str) -> str:
    js = json.load(open(path))
    res, names, agree = js["results"], js["metrics"], js["agreement"]
    lines = [f"### {path}", "", f"{len(res)} methods; default `{DEFAULT_SPEC}`"
             + ("" if DEFAULT_SPEC in res else " (not in this run)"), "",
             "| property | best method | value | default's place | default's value |", "|---|---|---|---|---|"]
    for k in names:
        info = metric_info(k)
        vals = {m: r["mean"][k] for m, r in res.items() if not math.isnan(r["mean"][k])}
        order = sorted(vals, key=lambda m: info.sort_key(vals[m]))
        place = f"{order.index(DEFAULT_SPEC) + 1} of {len(order)}" if DEFAULT_SPEC in order else "-"
        dv = f"{vals[DEFAULT_SPEC]:.3f}" if DEFAULT_SPEC in vals else "-"
        lines.append(f"| {k} {info.arrow} | {order[0]} | {vals[order[0]]:.3f} | {place} | {dv} |")
    i = {n: j for j, n in enumerate(names)}
    lines += ["", "| agreement | across methods | across images |", "|---|---|---|",
              f"| mean off-diagonal | {off_diagonal_mean(agree['across_methods']):.3f} | "
              f"{off_diagonal_mean(agree['across_images']):.3f} |"]
    for a, b in (("rank-improvement", "conveyance-spearman"), ("murr", "flipping-auc"),
                 ("murr", "deletion-auc"), ("complexity", "murr"), ("rank-improvement", "murr")):
        if a in i and b in i:
            lines.append(f"| {a} vs {b} | {agree['across_methods'][i[a]][i[b]]:.3f} | "
                         f"{agree['across_images'][i[a]][i[b]]:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print("\n".join(summary(p) for p in sys.argv[1:]))
