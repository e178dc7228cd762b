"""The selection rule of the default method (docs/results/blurring-panel.md, section 1), applied to
validation screens of ``unsure bench blurring`` (their ``blurring.json``, same methods in each).

For the methods run in every screen: the panel mean rank (the mean over the substitutes of the
MURR rank among *these common methods*, ties shared, re-ranked here so that screens of different
method sets weigh alike) at each fraction of each screen, the average of those (the rule: lowest
wins), and the panel-mean MURR per screen and fraction. Sorted by the rule.

    python scripts/panel_select.py docs/results/blurring-panel-val-digits/blurring.json \
        docs/results/blurring-panel-val-fmnist/blurring.json
"""
from __future__ import annotations

import json
import sys

from unsure.bench.panel import _ranks  # the bench's own ranking (1 = best, ties share the mean rank)


def screen_ranks(paths: list[str]) -> tuple[list[str], list[tuple[int, str]], list[str], dict, list[dict]]:
    """The rule's pieces for the screens at ``paths``: the common methods, the (screen, fraction)
    columns and their names, each column's mean rank per method, and the loaded screens."""
    runs = [json.load(open(p)) for p in paths]
    methods = [m for m in runs[0]["panel"] if all(m in d["panel"] for d in runs)]
    cols = [(i, str(f)) for i, d in enumerate(runs) for f in d["config"]["fractions"]]
    names = [f"{runs[i]['config']['data']} {runs[i]['config']['split']} @{f}" for i, f in cols]

    def mean_ranks(i: int, f: str) -> dict[str, float]:
        """Each common method's MURR rank among the common methods, averaged over the substitutes."""
        subs = list(runs[i]["by_replacement"].values())
        per = [_ranks([res[m][f]["murr"] for m in methods], True) for res in subs]
        return {m: sum(r[k] for r in per) / len(subs) for k, m in enumerate(methods)}

    return methods, cols, names, {c: mean_ranks(*c) for c in cols}, runs


def _rule(methods: list[str], cols: list, rk: dict) -> dict[str, float]:
    return {m: sum(rk[c][m] for c in cols) / len(cols) for m in methods}


def rule_scores(paths: list[str]) -> dict[str, float]:
    """The rule's score (mean rank over screens and fractions; lower is better) of every method
    common to the screens at ``paths``."""
    methods, cols, _, rk, _ = screen_ranks(paths)
    return _rule(methods, cols, rk)


def main(paths: list[str]) -> None:
    methods, cols, names, rk, runs = screen_ranks(paths)
    score = _rule(methods, cols, rk)

    def rule(m: str) -> float:
        return score[m]

    print("| method | mean rank (rule) | " + " | ".join(f"rank, MURR: {n}" for n in names) + " |")
    print("|---|---|" + "---|" * len(cols))
    for m in sorted(methods, key=rule):
        cells = [f"{rk[(i, f)][m]:.1f}, {runs[i]['panel'][m][f]['murr']:.3f}" for i, f in cols]
        print(f"| {m} | {rule(m):.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/panel_select.py SCREEN/blurring.json [SCREEN/blurring.json ...]")
    main(sys.argv[1:])
