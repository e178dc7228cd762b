"""The default rule of docs/results/groundtruth.md section 6, applied to a VALIDATION run of
``unsure bench groundtruth`` (with the panel):

1. ground-truth score of a method: the mean over the (target, cause) cells of its median rank
   accuracy (the cells: every target's causes in ``by_cause``);
2. panel score: the mean over the targets of its mean MURR rank at the first fraction;
3. each method's place among the methods on 1 and on 2 (1 = best); the default is the method
   with the smallest sum of the two places, ties going to the current default. ``random`` and
   methods that skip a target do not compete.

    python scripts/groundtruth_default.py docs/results/groundtruth-val-fmnist/groundtruth.json
"""
from __future__ import annotations

import json
import sys

from unsure.attribution.base import DEFAULT_SPEC


def places(score: dict[str, float], higher: bool) -> dict[str, float]:
    order = sorted(score, key=lambda m: -score[m] if higher else score[m])
    return {m: i + 1.0 for i, m in enumerate(order)}


def gt_scores(g: dict) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """Rule part 1 on a loaded ``groundtruth.json``: its (target, cause) cells and, per competing
    method (not ``random``, none that skips a cell), the mean over the cells of its median rank
    accuracy."""
    cells = [(t, c) for t, causes in g["by_cause"].items() for c in causes]
    methods = [m for m in g["results"]["total"] if m != "random"
               and all(m in g["by_cause"][t][c] for t, c in cells)]
    return cells, {m: sum(g["by_cause"][t][c][m]["rank"] for t, c in cells) / len(cells) for m in methods}


def main(path: str) -> None:
    g = json.load(open(path))
    cells, gt = gt_scores(g)
    methods = list(gt)
    frac = str(g["config"]["fractions"][0])
    panel = {m: sum(g["panel"][t][m][frac]["mean_rank"] for t in g["panel"]) / len(g["panel"]) for m in methods}
    pg, pp = places(gt, True), places(panel, False)
    total = {m: pg[m] + pp[m] for m in methods}
    best = min(methods, key=lambda m: (total[m], m != DEFAULT_SPEC))
    print(f"cells: {cells}")
    print("| method | mean GT rank acc | GT place | mean panel MURR rank | panel place | sum |\n|---|---|---|---|---|---|")
    for m in sorted(methods, key=lambda m: total[m]):
        print(f"| {m} | {gt[m]:.3f} | {pg[m]:.0f} | {panel[m]:.2f} | {pp[m]:.0f} | {total[m]:.0f} |")
    print(f"\nchosen: {best}" + (" (the current default)" if best == DEFAULT_SPEC else f"; current default {DEFAULT_SPEC}"))
    lead_gt, lead_panel = max(gt, key=gt.get), min(panel, key=panel.get)
    print(f"best by ground truth alone: {lead_gt}; by the panel alone: {lead_panel}; "
          + ("one setting leads both" if lead_gt == lead_panel else "no setting leads both"))


if __name__ == "__main__":
    main(sys.argv[1])
