"""The model's own split of each kind of uncertainty between the two causes (two-cause Shapley
values), against hand-computed cases."""
from __future__ import annotations

import math

import torch

from unsure.groundtruth.entanglement import cause_share, model_entanglement, summary


def _u(aleatoric, epistemic):
    """Versions clean, aleatoric, epistemic, both -> per-measure ``[n]`` tensors."""
    names = ("clean", "aleatoric", "epistemic", "both")
    return {v: {"aleatoric": torch.tensor(a, dtype=torch.float64), "epistemic": torch.tensor(e, dtype=torch.float64)}
            for v, a, e in zip(names, zip(*aleatoric), zip(*epistemic))}


def test_additive_causes_split_by_their_own_rises():
    # additive: M(both) = M(clean) + d_blend + d_patch, so the patch's share is d_patch / (d_blend + d_patch)
    da, de = torch.tensor([0.5, 0.2, 0.0]), torch.tensor([0.25, 0.2, 0.3])
    c = torch.tensor([0.4, 0.1, 0.3])
    rows = [(float(c[i]), float(c[i] + da[i]), float(c[i] + de[i]), float(c[i] + da[i] + de[i])) for i in range(3)]
    u = _u(rows, rows)
    share = cause_share(u, "aleatoric", "aleatoric", "epistemic")
    assert torch.allclose(share, (de / (da + de)).double())
    # the epistemic measure, the blend's share of it: the mirror image
    assert torch.allclose(model_entanglement(u)["epistemic_on_aleatoric"], (da / (da + de)).double())


def test_interaction_halved_negative_clamped_and_no_rise():
    # clean 0.4, blend alone 0.9, patch alone 0.8, both 1.1: phi_patch = (0.4 + 0.2) / 2 = 0.3,
    # phi_blend = (0.5 + 0.3) / 2 = 0.4 -> 0.3 / 0.7
    # a patch that lowers the measure: its share is 0; neither raises it: NaN
    rows = [(0.4, 0.9, 0.8, 1.1), (0.5, 1.0, 0.3, 0.8), (0.5, 0.4, 0.5, 0.4)]
    u = _u(rows, rows)
    s = cause_share(u, "aleatoric", "aleatoric", "epistemic")
    assert math.isclose(float(s[0]), 0.3 / 0.7, rel_tol=1e-12)
    assert float(s[1]) == 0.0
    assert math.isnan(float(s[2]))
    got = summary(model_entanglement(u), torch.tensor([0, 1, 2]))
    assert got["aleatoric_on_epistemic_images"] == 2  # the NaN is left out
    assert math.isclose(got["aleatoric_on_epistemic"], float(torch.tensor([0.3 / 0.7, 0.0]).median()))


def test_split_error_against_the_model():
    from unsure.groundtruth.score import disentangle
    from unsure.groundtruth.tasks import Task

    n, H = 3, 4
    ma = torch.zeros(n, H, H, dtype=torch.bool)
    me = torch.zeros(n, H, H, dtype=torch.bool)
    ma[:, 0, 0] = True
    me[:, 3, 3] = True
    # aleatoric maps: 3 on the blend, 1 on the patch, 4 elsewhere -> 1/4 of the two causes on the patch;
    # epistemic maps: 1 on the blend, 1 on the patch -> 1/2
    am = torch.zeros(n, H, H)
    am[:, 0, 0], am[:, 3, 3], am[:, 1, 1] = 3.0, 1.0, 4.0
    em = torch.zeros(n, H, H)
    em[:, 0, 0], em[:, 3, 3] = 1.0, 1.0
    image = torch.arange(n)
    tasks = {"aleatoric": Task("aleatoric", torch.zeros(n, 1, H, H), ma, ["both"] * n, image),
             "epistemic": Task("epistemic", torch.zeros(n, 1, H, H), me, ["both"] * n, image)}
    model = {"aleatoric_on_epistemic": torch.tensor([0.25, 0.5, float("nan")]),
             "epistemic_on_aleatoric": torch.tensor([0.0, 0.5, 0.5])}
    got = disentangle({"aleatoric": {"m": am}, "epistemic": {"m": em}}, tasks, (ma, me), model)["m"]
    assert math.isclose(got["aleatoric_on_epistemic"], 1 / 8, rel_tol=1e-6)  # of all its positive mass
    assert math.isclose(got["aleatoric_on_epistemic_of_causes"], 0.25, rel_tol=1e-6)
    assert math.isclose(got["epistemic_on_aleatoric_of_causes"], 0.5, rel_tol=1e-6)
    # per image: aleatoric |0.25 - 0.25| = 0, |0.25 - 0.5| = 0.25, NaN; epistemic 0.5, 0, 0
    # split error (mean of the two): 0.25, 0.125, NaN -> median over the defined ones
    assert math.isclose(got["aleatoric_split_error"], float(torch.tensor([0.0, 0.25]).median()), abs_tol=1e-7)
    assert math.isclose(got["split_error"], float(torch.tensor([0.25, 0.125]).median()), rel_tol=1e-6)
    assert "split_error" not in disentangle({"aleatoric": {"m": am}, "epistemic": {"m": em}}, tasks, (ma, me))["m"]
