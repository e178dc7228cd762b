"""What a ground-truth ensemble makes of the test blends (the aleatoric cause), on the VALIDATION
split: the members' mean probability of the image's own class, of the blended-in partner's class
and of the other classes, how much the members differ on each, and how often they agree on the
top class; and the share of the single-cause images meeting each part of the validity rule.
Shows whether the model learned "between these two classes" (the planted ambiguity)
or "some other class" (which members then disagree on). docs/results/groundtruth.md section 5.

    python scripts/groundtruth_blend_diagnosis.py --run RUN [--partner any|paired] [--n 300]
"""
from __future__ import annotations

import argparse
import json

import torch

from unsure.groundtruth import Design
from unsure.groundtruth.cache import partner_for
from unsure.groundtruth.images import cause_images
from unsure.groundtruth.validity import NEAR, decide
from unsure.groundtruth.validity import criteria as validity_criteria
from unsure.run import load_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--partner", default=None, help="default: as the run was trained")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    post = load_run(a.run)
    partner = partner_for(post.run_config, a.partner)
    draw = post.draw(torch.Generator().manual_seed(a.seed))
    ci = cause_images(post, draw, a.data, "val", a.n, a.seed, Design(partner=partner))  # as the bench makes them
    cs, u = ci.cs, ci.validity.u
    valid = decide(u, 0.005, NEAR, "ratio").aleatoric  # [n] bool
    with torch.no_grad():
        pa = draw(cs.aleatoric).softmax(-1)  # [S,n,K]
    i = torch.arange(len(cs.y))
    own, par = pa[:, i, cs.y], pa[:, i, cs.partner_y]  # [S,n]
    rest = 1 - own - par
    top = pa.argmax(-1)  # [S,n]

    def row(sel):
        return {"images": int(sel.sum()),
                "mean": {"own": round(float(own[:, sel].mean()), 3), "partner": round(float(par[:, sel].mean()), 3),
                         "other": round(float(rest[:, sel].mean()), 3)},
                "member_std": {"own": round(float(own[:, sel].std(0).mean()), 3),
                               "partner": round(float(par[:, sel].std(0).mean()), 3),
                               "other": round(float(rest[:, sel].std(0).mean()), 3)},
                "members_agree_on_top": round(float((top[:, sel] == top[0:1, sel]).all(0).float().mean()), 3)}

    criteria = {}  # the share of single-cause images meeting each part of the validity rule
    for cause, other in (("aleatoric", "epistemic"), ("epistemic", "aleatoric")):
        c = validity_criteria(u, cause, f"{cause}_restored", "clean", cause, other, 0.005, NEAR, "ratio")
        criteria[cause] = {k: round(float(v.float().mean()), 3) for k, v in
                           (("restored_near_clean", c["restored"]), ("own_rise_0.005", c["rise"]),
                            ("ratio_towards_own", c["more"]), ("all_three", c["restored"] & c["rise"] & c["more"]))}
    print(json.dumps({"run": a.run, "partner": partner, "n": len(cs.y), "all": row(torch.ones_like(valid)),
                      "valid": row(valid), "not_valid": row(~valid), "criteria": criteria}, indent=1))


if __name__ == "__main__":
    main()
