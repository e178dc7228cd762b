"""Vacuity and dissonance against loop references and known cases."""
import pytest
import torch

from unsure.measures import dissonance, vacuity


def dissonance_ref(alpha):
    K = len(alpha)
    S = sum(alpha)
    b = [(a - 1) / S for a in alpha]
    total = 0.0
    for k in range(K):
        num = den = 0.0
        for j in range(K):
            if j == k:
                continue
            bal = 1 - abs(b[j] - b[k]) / (b[j] + b[k]) if b[j] + b[k] > 0 else 0.0
            num += b[j] * bal
            den += b[j]
        total += b[k] * num / den if den > 0 else 0.0
    return total


def test_vacuity_and_dissonance_match_reference():
    alpha = torch.rand(5, 7, dtype=torch.float64) * 20 + 1
    z = alpha.log()[None]  # evidential logits are log(alpha), S = 1
    torch.testing.assert_close(vacuity(z), 7 / alpha.sum(-1))
    ref = torch.tensor([dissonance_ref(a.tolist()) for a in alpha], dtype=torch.float64)
    torch.testing.assert_close(dissonance(z), ref, rtol=1e-10, atol=1e-12)


def test_known_cases():
    K = 4
    no_evidence = torch.ones(1, 1, K, dtype=torch.float64).log()
    assert vacuity(no_evidence).item() == pytest.approx(1.0)
    assert dissonance(no_evidence).item() == pytest.approx(0.0)
    # equal, large evidence on two classes: high dissonance, low vacuity
    a = torch.tensor([[[1001.0, 1001.0, 1.0, 1.0]]], dtype=torch.float64)
    assert vacuity(a.log()).item() == pytest.approx(4 / 2004)
    assert dissonance(a.log()).item() == pytest.approx(2 * (1000 / 2004) ** 2 / (1000 / 2004), rel=1e-6)


def test_vacuity_and_dissonance_targets_warn_for_non_evidential_posteriors():
    import warnings

    from torch import nn

    import unsure

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    for target in ("vacuity", "dissonance", vacuity):
        with pytest.warns(UserWarning, match="Evidential posterior, not DeepEnsemble") as rec:
            unsure.attribute(unsure.DeepEnsemble([net]), x, "grad", target, batch_size=1)
        assert len([w for w in rec if "Evidential" in str(w.message)]) == 1  # once per call
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an Evidential posterior, or another target: no warning
        unsure.attribute(unsure.Evidential(net), x, "grad", "vacuity")
        unsure.attribute(unsure.DeepEnsemble([net]), x, "grad", "total")
