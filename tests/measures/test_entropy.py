"""Entropy measures: analytic cases, a float64 loop reference, invariances."""
import math

import pytest
import torch

from unsure.errors import UnsureError
from unsure.measures import MEASURES, aleatoric, decompose, epistemic, total

S, B, K = 3, 5, 7


def reference(logits):
    """Slow, obviously correct: explicit loops over images, samples and classes."""
    S, B, K = logits.shape
    out = {"total": [], "aleatoric": [], "epistemic": []}
    for b in range(B):
        ps = [torch.softmax(logits[m, b], 0).tolist() for m in range(S)]
        pbar = [sum(ps[m][k] for m in range(S)) / S for k in range(K)]
        ht = -sum(p * math.log(p) for p in pbar if p > 0)
        ha = sum(-sum(p * math.log(p) for p in ps[m] if p > 0) for m in range(S)) / S
        out["total"].append(ht)
        out["aleatoric"].append(ha)
        out["epistemic"].append(ht - ha)
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in out.items()}


def test_matches_loop_reference_float64():
    z = torch.randn(S, B, K, dtype=torch.float64) * 3
    ref = reference(z)
    for name, fn in [("total", total), ("aleatoric", aleatoric), ("epistemic", epistemic)]:
        got = fn(z)
        assert got.shape == (B,)
        torch.testing.assert_close(got, ref[name], rtol=1e-12, atol=1e-12)


def test_mutual_information_ln2_for_two_members_that_disagree_completely():
    z = torch.full((2, 1, 2), -1e4, dtype=torch.float64)
    z[0, 0, 0] = 1e4  # member 0 is certain of class 0
    z[1, 0, 1] = 1e4  # member 1 is certain of class 1
    assert epistemic(z).item() == pytest.approx(math.log(2), abs=1e-10)
    assert aleatoric(z).item() == pytest.approx(0.0, abs=1e-10)
    assert total(z).item() == pytest.approx(math.log(2), abs=1e-10)


def test_identical_members_have_zero_epistemic():
    z = torch.randn(1, B, K, dtype=torch.float64).expand(4, B, K)
    assert epistemic(z).abs().max().item() < 1e-12
    torch.testing.assert_close(total(z), aleatoric(z))


def test_one_member_epistemic_exactly_zero_no_nan():
    z = torch.randn(1, B, K)
    e = epistemic(z)
    assert torch.isfinite(e).all() and (e == 0).all()


def test_total_is_aleatoric_plus_epistemic():
    z = torch.randn(S, B, K, dtype=torch.float64) * 2
    torch.testing.assert_close(total(z), aleatoric(z) + epistemic(z), rtol=1e-12, atol=1e-12)


def test_invariant_to_sample_order_and_logit_shift():
    z = torch.randn(S, B, K, dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    shift = torch.randn(S, B, 1, dtype=torch.float64) * 10
    for fn in (total, aleatoric, epistemic):
        torch.testing.assert_close(fn(z[perm]), fn(z), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(fn(z + shift), fn(z), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["total", "aleatoric", "epistemic"])
def test_decomposition_sums_to_measure_and_matches_eq4(kind):
    z = torch.randn(S, B, K, dtype=torch.float64)
    a = decompose(z, kind)
    assert a.shape == (S, B, K)
    torch.testing.assert_close(a.sum((0, 2)), MEASURES.get(kind)(z), rtol=1e-12, atol=1e-12)
    # Eq. 4 term by term at one index
    p = torch.softmax(z, -1)
    pbar = p.mean(0)
    m, b, k = 1, 3, 4
    expected = {
        "total": -p[m, b, k] * math.log(pbar[b, k]) / S,
        "aleatoric": -p[m, b, k] * math.log(p[m, b, k]) / S,
        "epistemic": p[m, b, k] * (math.log(p[m, b, k]) - math.log(pbar[b, k])) / S,
    }[kind]
    assert a[m, b, k].item() == pytest.approx(float(expected), rel=1e-12)


def test_bad_inputs_name_the_problem():
    with pytest.raises(UnsureError, match=r"\[S,B,K\]"):
        total(torch.randn(5, 7))
    with pytest.raises(UnsureError, match="NaN"):
        total(torch.tensor([[[0.0, float("nan")]]]))
    with pytest.raises(UnsureError, match="at least 2"):
        total(torch.randn(2, 3, 1))
    with pytest.raises(UnsureError, match="decomposition"):
        decompose(torch.randn(2, 3, 4), "vacuity")
