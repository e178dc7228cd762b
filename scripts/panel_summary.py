"""Summarise a panel run of ``unsure bench blurring`` (its ``blurring.json``): the panel-mean table
sorted by MURR, each substitute's winner, and for a chosen method its gap to the best method on
each substitute (the issue's "within 0.03" check).

    python scripts/panel_summary.py docs/results/blurring-panel-fmnist/blurring.json [METHOD]
"""
from __future__ import annotations

import json
import sys


def main(path: str, method: str | None = None) -> None:
    d = json.load(open(path))
    by_rep, panel = d["by_replacement"], d["panel"]
    fr = [str(f) for f in d["config"]["fractions"]]
    print(f"{path}: {d['config']['data']} {d['config']['split']}, {d['config']['top']} images")
    print("| method | " + " | ".join(f"panel MURR @{f} | mean rank @{f}" for f in fr) + " |")
    print("|---|" + "---|" * (2 * len(fr)))
    for m in sorted(panel, key=lambda m: -panel[m][fr[-1]]["murr"]):
        print(f"| {m} | " + " | ".join(f"{panel[m][f]['murr']:.3f} | {panel[m][f]['mean_rank']:.1f}"
                                       for f in fr) + " |")
    print()
    for r, res in by_rep.items():
        print(r, "  ".join(f"@{f}: " + max(res, key=lambda m: res[m][f]["murr"]) +
                          f" {max(v[f]['murr'] for v in res.values()):.3f}" for f in fr))
    if method:
        print(f"\n{method}: gap to the best method per substitute (best - it)")
        for r, res in by_rep.items():
            print(r, "  ".join(f"@{f}: {max(v[f]['murr'] for v in res.values()) - res[method][f]['murr']:+.3f}"
                              for f in fr))


if __name__ == "__main__":
    main(*sys.argv[1:])
