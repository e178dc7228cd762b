"""The summary tables of docs/results/speed-scale.md from a ``speed-grid.json`` written by
``unsure bench speed --grid``: each method's ratio to the floor per grid point (one row per point),
and unsure against Captum on the same method and target.

    python scripts/speed_scale_summary.py docs/results/speed-scale/grid/speed-grid.json
"""
from __future__ import annotations

import json
import sys

from unsure.bench.base import markdown_table


def _ratio(r: dict) -> str:
    """``~`` marks a capped measurement (one first call: an upper bound)."""
    return f"{'~' if r.get('capped') else ''}{r['ratio_to_floor']:.2f}"


def main(path: str) -> None:
    d = json.loads(open(path).read())
    points = d["results"]["points"]
    methods = list(dict.fromkeys(m for v in points.values() for m in v["methods"]))
    rows = []
    for p, v in points.items():
        b = v["ratio_basis"]
        rows.append([p, v["floor"][b], f"{v['floor']['peak_bytes_per_image'] / 2**20:.3g}"]
                    + [_ratio(v["methods"][m]) if m in v["methods"] else "" for m in methods])
    print("Ratio to the floor (time of the method / time of one forward and one backward per sample):\n")
    print(markdown_table(["point", "floor s / image", "floor peak MiB / image"] + methods, rows, ".3g"))
    crows = []
    for p, v in points.items():
        b = v["ratio_basis"]
        for m, r in v["methods"].items():
            c = r.get("captum")
            if c:
                crows.append([p, m, c["implementation"], _ratio(r), _ratio(c),
                              f"{r[b] / c[b]:.2f}",
                              f"{r['peak_bytes_per_image'] / max(c['peak_bytes_per_image'], 1):.2f}"])
    print("\nunsure against Captum, same method, target and posterior draw:\n")
    print(markdown_table(["point", "method", "Captum", "unsure x floor", "Captum x floor", "time unsure / Captum",
                          "peak memory unsure / Captum"], crows))
    h = d["results"].get("headline")
    if h:
        print(f"\nThe default: {h['points_at_most_1.5']} of {h['points']} points at most 1.5x its floor; worst "
              f"{h['worst']:.2f}x ({h['worst_point']}), best {h['best']:.2f}x ({h['best_point']}).")


if __name__ == "__main__":
    main(sys.argv[1])
