"""Where the validity check fails, on the VALIDATION split (docs/results/groundtruth.md section 5):
the share of valid causes per class of the base image, by how uncertain the model already is about
the clean image (its aleatoric uncertainty), and for base images it classifies right or wrong;
and for each cause of the both-cause images, the share meeting each part of the rule, and how
the blend's validity on a both-cause image falls with the aleatoric uncertainty the patch has
already caused (fifth session); and the same parts of the rule for the single-cause images (sixth
session). Forward passes only. Usage:

    python scripts/groundtruth_validity_breakdown.py --run RUN [--data fashion-mnist] [--n 300] [--json FILE]
"""
from __future__ import annotations

import argparse
import json

import torch

from unsure.groundtruth import Design
from unsure.groundtruth.cache import partner_for
from unsure.groundtruth.images import cause_images
from unsure.groundtruth.validity import MIN_RISE, NEAR
from unsure.groundtruth.validity import criteria as validity_criteria
from unsure.run import load_run

LEVELS = (0.1, 0.3, 0.5)  # clean aleatoric uncertainty (nats) below which a base image counts as confident
PATCH_BINS = (0.0, 0.3, 0.6, 0.9, 1.2, float("inf"))  # aleatoric uncertainty (nats) of the epistemic-only image


def share(v: torch.Tensor) -> float | None:
    return round(float(v.double().mean()), 3) if len(v) else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    post = load_run(a.run)
    draw = post.draw(torch.Generator().manual_seed(a.seed))
    ci = cause_images(post, draw, a.data, "val", a.n, a.seed, Design(partner=partner_for(post.run_config, None)))
    cs, v = ci.cs, ci.validity
    causes = {"aleatoric": v.aleatoric, "epistemic": v.epistemic, "both": v.both}

    def shares(sel: torch.Tensor) -> dict:
        out = {c: share(x[sel]) for c, x in causes.items()}
        out["all"] = share(torch.cat([x[sel] for x in causes.values()]))
        out["images"] = int(sel.sum())
        return out

    clean_a = v.u["clean"]["aleatoric"]  # [n]
    with torch.no_grad():
        right = draw(cs.clean).softmax(-1).mean(0).argmax(-1) == cs.y  # [n]
    K = int(cs.y.max()) + 1
    out = {"run": a.run, "data": a.data, "n": a.n, "all": shares(torch.ones_like(right)),
           "by_class": {str(k): {**shares(cs.y == k), "clean_aleatoric": round(float(clean_a[cs.y == k].mean()), 3)}
                        for k in range(K) if bool((cs.y == k).any())},
           "classified": {"right": shares(right), "wrong": shares(~right)},
           "clean_aleatoric_below": {str(t): shares(clean_a < t) for t in LEVELS}}
    A, E = "aleatoric", "epistemic"
    out["both_criteria"] = {}
    for name, args in (("aleatoric", ("both", "both_without_aleatoric", E, A, E)),
                       ("epistemic", ("both", "both_without_epistemic", A, E, A))):
        c = validity_criteria(v.u, *args, MIN_RISE, NEAR, "ratio")
        out["both_criteria"][name] = {"restored": share(c["restored"]), "rise": share(c["rise"]), "more": share(c["more"]),
                                      "all_three": share(c["restored"] & c["rise"] & c["more"])}
    # the single-cause images too (sixth session): which part of the rule fails, and for the blends that
    # fail the proportion test, how much each kind rises over how much it had
    out["single_criteria"] = {}
    for name, args in (("aleatoric", (A, "aleatoric_restored", "clean", A, E)),
                       ("epistemic", (E, "epistemic_restored", "clean", E, A))):
        c = validity_criteria(v.u, *args, MIN_RISE, NEAR, "ratio")
        rises = {k: v.u[args[0]][k] - v.u[args[1]][k] for k in (A, E)}
        out["single_criteria"][name] = {
            "restored": share(c["restored"]), "rise": share(c["rise"]), "more": share(c["more"]),
            "all_three": share(c["restored"] & c["rise"] & c["more"]),
            **{f"more_{'passed' if ok else 'failed'}": {
                "images": int(sel.sum()),
                **{f"{k}_level": round(float(v.u[args[1]][k][sel].mean()), 4) for k in (A, E)},
                **{f"{k}_rise": round(float(rises[k][sel].mean()), 4) for k in (A, E)}}
               for ok, sel in ((True, c["more"]), (False, ~c["more"])) if bool(sel.any())}}
    # saturation: the blend of a both-cause image against the aleatoric uncertainty the patch already caused
    a_patch = v.u["epistemic"]["aleatoric"]  # [n]
    rise_alone = v.u["aleatoric"]["total"] - v.u["clean"]["total"]  # [n] the blend's rise on the clean image
    rise_on_patch = v.u["both"]["total"] - v.u["epistemic"]["total"]  # [n] ... on the patched image
    out["both_aleatoric_by_patch_aleatoric"] = [
        {"from": lo, "to": None if hi == float("inf") else hi, "images": int(sel.sum()),
         "blend_valid": share(v.both_aleatoric[sel]),
         "blend_total_rise_alone": round(float(rise_alone[sel].mean()), 3),
         "blend_total_rise_on_patch": round(float(rise_on_patch[sel].mean()), 3)}
        for lo, hi in zip(PATCH_BINS[:-1], PATCH_BINS[1:]) if bool((sel := (a_patch >= lo) & (a_patch < hi)).any())]
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
