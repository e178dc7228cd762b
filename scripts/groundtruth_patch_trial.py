"""Trial (issue 24, fifth session): is the epistemic patch's *content* or *place* what makes it
raise aleatoric uncertainty? On the VALIDATION split, with the bench's design and rule, this
checks validity with (1) each epistemic kind alone, the four of the benchmark and four trial
kinds registered here only (uniform noise, a 1-px checkerboard, 2-px block noise, a white
square); (2) the patch placed where the clean image has the least object (mean intensity), the
most, or closest to 30% (the generator places it uniformly); and (3) where the ensemble's mean
probability goes on the patched images, per kind and per member. Forward passes only. Usage:

    python scripts/groundtruth_patch_trial.py --run /work/runs/gt-paired/ens5 --json FILE
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

import unsure.groundtruth.generate as generate
import unsure.groundtruth.images as images
from unsure.groundtruth import Design
from unsure.groundtruth.epistemic import EPISTEMIC_KINDS, KINDS
from unsure.groundtruth.images import cause_images
from unsure.run import load_run

TRIAL_KINDS = {
    "noise": lambda region, g, other=None: torch.rand(region.shape, generator=g).to(region.dtype),
    "checker": lambda region, g, other=None: (
        (torch.arange(region.shape[-1])[:, None] + torch.arange(region.shape[-1])[None]) % 2
    ).to(region.dtype).expand(region.shape).clone(),
    "block-noise": lambda region, g, other=None: F.interpolate(
        (torch.rand(region.shape[0], 1, (region.shape[-1] + 1) // 2, (region.shape[-1] + 1) // 2, generator=g) > 0.5).float(),
        scale_factor=2, mode="nearest")[..., :region.shape[-1], :region.shape[-1]].expand(region.shape).to(region.dtype).clone(),
    "white": lambda region, g, other=None: torch.ones_like(region),
}

_state: dict = {}
_cause_set, _disjoint = generate.cause_set, generate.disjoint_boxes


def _recording_cause_set(x, y, *args, **kwargs):
    _state["x"] = x
    return _cause_set(x, y, *args, **kwargs)


def _placed(avoid, size, side, generator):
    """Like ``disjoint_boxes``, but by the share of object (mean intensity) the patch covers."""
    mode = _state["placement"]
    if mode == "uniform":
        return _disjoint(avoid, size, side, generator)
    x = _state["x"].mean(1)  # [n,H,W]
    pos = torch.arange(size - side + 1)
    top, left = torch.meshgrid(pos, pos, indexing="ij")
    top, left = top.reshape(-1), left.reshape(-1)  # [P]
    t0, l0, s0 = avoid[:, 0:1], avoid[:, 1:2], avoid[:, 2:3]
    apart = ((top[None] + side <= t0) | (top[None] >= t0 + s0) | (left[None] + side <= l0) | (left[None] >= l0 + s0))
    ii = F.pad(x.cumsum(1).cumsum(2), (1, 0, 1, 0))  # [n,H+1,W+1] integral image
    b, r = top + side, left + side
    share = (ii[:, b, r] - ii[:, top, r] - ii[:, b, left] + ii[:, top, left]) / side ** 2  # [n,P]
    tie = 1e-3 * torch.rand(apart.shape, generator=generator)
    score = {"least-object": -share, "most-object": share, "object-0.3": -(share - 0.3).abs()}[mode] + tie
    pick = score.masked_fill(~apart, -1e9).argmax(1)
    return torch.stack([top[pick], left[pick], torch.full_like(pick, side)], 1)


def shares(ci) -> dict:
    s = ci.validity.shares(ci.cs.kind, ci.cs.kinds)
    u = ci.validity.u
    return {**{k: round(s[k]["share"], 3) for k in ("aleatoric", "epistemic", "both", "all")},
            "aleatoric_level": {k: round(float(u[k]["aleatoric"].mean()), 3) for k in ("clean", "epistemic")},
            "epistemic_level": {k: round(float(u[k]["epistemic"].mean()), 3) for k in ("clean", "epistemic")}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    for name, fn in TRIAL_KINDS.items():
        if name not in EPISTEMIC_KINDS.names():
            EPISTEMIC_KINDS.register(name, f"trial kind {name}")(fn)
    generate.cause_set = images.cause_set = _recording_cause_set
    generate.disjoint_boxes = _placed
    post = load_run(a.run)
    draw = post.draw(torch.Generator().manual_seed(0))
    out = {"run": a.run, "data": a.data, "n": a.n, "kinds": {}, "placement": {}}
    _state["placement"] = "uniform"
    for kind in (*KINDS, *TRIAL_KINDS):
        ci = cause_images(post, draw, a.data, "val", a.n, 0, Design(partner="paired", kinds=(kind,)))
        out["kinds"][kind] = shares(ci)
        print(kind, out["kinds"][kind], flush=True)
    for mode in ("uniform", "least-object", "most-object", "object-0.3"):
        _state["placement"] = mode
        ci = cause_images(post, draw, a.data, "val", a.n, 0, Design(partner="paired"))
        out["placement"][mode] = shares(ci)
        print(mode, out["placement"][mode], flush=True)
    _state["placement"] = "uniform"
    ci = cause_images(post, draw, a.data, "val", a.n, 0, Design(partner="paired"))
    with torch.no_grad():
        probs = {v: draw(getattr(ci.cs, v)).softmax(-1) for v in ("clean", "epistemic")}  # [S,n,K] each
    per_member = {v: p_.mean(1) for v, p_ in probs.items()}  # [S,K] each
    mass = {v: p_.mean(0) for v, p_ in probs.items()}  # [n,K] each
    out["mean_probability_by_member"] = {v: [[round(float(m), 3) for m in row] for row in p_]
                                         for v, p_ in per_member.items()}
    out["mean_probability"] = {v: [round(float(m), 3) for m in p_.mean(0)] for v, p_ in mass.items()}
    out["mean_probability_by_kind"] = {k: [round(float(m), 3) for m in mass["epistemic"][ci.cs.kind == i].mean(0)]
                                       for i, k in enumerate(ci.cs.kinds)}
    print(json.dumps(out["mean_probability"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
