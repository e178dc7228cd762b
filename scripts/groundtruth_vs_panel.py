"""The ground truth beside the real-data substitute panel, over one screen of settings.

Section 6 of docs/results/groundtruth.md takes the panel half of its rule from the panel the
ground-truth bench runs on a few generated images. This script sets the ground-truth score of a
VALIDATION run (``scripts/groundtruth_default.py``'s part 1: the mean over the (target, cause)
cells of the median rank accuracy) beside the selection rule of the default on the real-data
validation screens (``scripts/panel_select.py``: the mean panel rank over screens and fractions),
for the settings present in both, with each one's place on either and the sum of the two places
(smallest first). It also gives the ground truth per cause kind: the mean over the cells of the
blend (aleatoric cause) and of the patch (epistemic cause). Without screens, the ground truth alone.

    python scripts/groundtruth_vs_panel.py GT/groundtruth.json [SCREEN/blurring.json ...]
"""
from __future__ import annotations

import json
import sys

from groundtruth_default import gt_scores, places  # the same folder (python puts it on sys.path)
from panel_select import rule_scores

from unsure.attribution.base import DEFAULT_SPEC


def main(gt_path: str, screens: list[str]) -> None:
    g = json.load(open(gt_path))
    cells, gt = gt_scores(g)
    pg = places(gt, True)

    def kind(cause: str, m: str) -> float:
        own = [(t, c) for t, c in cells if c == cause]
        return sum(g["by_cause"][t][c][m]["rank"] for t, c in own) / len(own)

    def name(m: str) -> str:
        return f"`{m}` (the default)" if m == DEFAULT_SPEC else f"`{m}`"

    print(f"ground truth: {gt_path} ({len(cells)} cells)" + (f"; panel screens: {', '.join(screens)}" if screens else ""))
    if not screens:
        print("| setting | GT rank acc. (mean of cells) | blend cells | patch cells | GT place |\n|---|---|---|---|---|")
        for m in sorted(gt, key=pg.get):
            print(f"| {name(m)} | {gt[m]:.3f} | {kind('aleatoric', m):.3f} | {kind('epistemic', m):.3f} | {pg[m]:.0f} |")
        return
    panel = rule_scores(screens)
    methods = [m for m in gt if m in panel]
    missing = sorted((set(gt) | set(panel)) - set(methods))
    gt, panel = {m: gt[m] for m in methods}, {m: panel[m] for m in methods}
    pg, pp = places(gt, True), places(panel, False)
    print("| setting | GT rank acc. (mean of cells) | blend cells | patch cells | GT place "
          "| panel rule (mean rank) | panel place | sum |\n|---|---|---|---|---|---|---|---|")
    for m in sorted(methods, key=lambda m: (pg[m] + pp[m], pg[m])):
        print(f"| {name(m)} | {gt[m]:.3f} | {kind('aleatoric', m):.3f} | {kind('epistemic', m):.3f} "
              f"| {pg[m]:.0f} | {panel[m]:.2f} | {pp[m]:.0f} | {pg[m] + pp[m]:.0f} |")
    lead_gt, lead_panel = max(gt, key=gt.get), min(panel, key=panel.get)
    print(f"\nbest by the ground truth: {lead_gt}; by the panel rule: {lead_panel}; "
          + ("one setting leads both" if lead_gt == lead_panel else "no setting leads both"))
    if missing:
        print(f"not in both (left out): {', '.join(missing)}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/groundtruth_vs_panel.py GT/groundtruth.json [SCREEN/blurring.json ...]")
    main(sys.argv[1], sys.argv[2:])
