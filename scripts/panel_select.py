"""The selection rule of the default method (docs/results/blurring-panel.md, section 1), applied to
validation screens of ``unsure bench blurring`` (their ``blurring.json``, same methods in each).

For every method run in all the screens: its panel mean rank (the mean over the five substitutes
of its MURR rank among the screen's methods) at each fraction of each screen, the average of those
(the rule: lowest wins), and its panel-mean MURR per screen and fraction. Sorted by the rule.

    python scripts/panel_select.py runs/screen-val-digits/blurring.json runs/screen-val-fmnist/blurring.json
"""
from __future__ import annotations

import json
import sys


def main(paths: list[str]) -> None:
    runs = [json.load(open(p)) for p in paths]
    methods = [m for m in runs[0]["panel"] if all(m in d["panel"] for d in runs)]
    cols = [(i, str(f)) for i, d in enumerate(runs) for f in d["config"]["fractions"]]
    names = [f"{runs[i]['config']['data']} {runs[i]['config']['split']} @{f}" for i, f in cols]

    def rule(m: str) -> float:
        return sum(runs[i]["panel"][m][f]["mean_rank"] for i, f in cols) / len(cols)

    print("| method | mean rank (rule) | " + " | ".join(f"rank, MURR: {n}" for n in names) + " |")
    print("|---|---|" + "---|" * len(cols))
    for m in sorted(methods, key=rule):
        cells = [f"{runs[i]['panel'][m][f]['mean_rank']:.1f}, {runs[i]['panel'][m][f]['murr']:.3f}"
                 for i, f in cols]
        print(f"| {m} | {rule(m):.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/panel_select.py SCREEN/blurring.json [SCREEN/blurring.json ...]")
    main(sys.argv[1:])
