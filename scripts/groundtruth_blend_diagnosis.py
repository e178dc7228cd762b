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
from dataclasses import replace

import torch

from unsure.bench.groundtruth import default_other
from unsure.data import load
from unsure.groundtruth import Design, cause_set
from unsure.groundtruth.cache import partner_for
from unsure.groundtruth.validity import NEAR, check_validity, decide
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
    d = load(a.data, "val")
    pick = torch.randperm(len(d.y), generator=torch.Generator().manual_seed(a.seed))[:a.n]
    other = load(default_other(a.data), "train").x[:2000]
    K = int(post.run_config["arch_options"]["num_classes"])
    design = replace(Design(), epistemic_share=0.45, partner=partner)
    cs = cause_set(d.x[pick], d.y[pick], design, torch.Generator().manual_seed(a.seed + 1), other, K)
    draw = post.draw(torch.Generator().manual_seed(a.seed))
    u = check_validity(draw, cs).u
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
        x, r, c = u[cause], u[f"{cause}_restored"], u["clean"]
        back = (r["total"] - c["total"]).abs() <= NEAR * (x["total"] - c["total"])
        rise = x[cause] - r[cause] >= 0.005
        ratio = x[cause] * r[other] > x[other] * r[cause]
        criteria[cause] = {k: round(float(v.float().mean()), 3) for k, v in
                           (("restored_near_clean", back), ("own_rise_0.005", rise), ("ratio_towards_own", ratio),
                            ("all_three", back & rise & ratio))}
    print(json.dumps({"run": a.run, "partner": partner, "n": len(cs.y), "all": row(torch.ones_like(valid)),
                      "valid": row(valid), "not_valid": row(~valid), "criteria": criteria}, indent=1))


if __name__ == "__main__":
    main()
