"""``unsure train --soft-labels``: the networks learn the label distributions, not the labels."""
import json

import numpy as np
import pytest
import torch

from unsure.errors import UnsureError
from unsure.run import load_run
from unsure.training.run import train_run


def _data(path, n=256):
    # every image is pure noise, every label is class 0, and every label distribution is
    # (0.2, 0.8): the cross-entropy minimiser predicts 0.8 for class 1 with soft labels, ~0 without
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
    y = np.zeros(n, np.int64)
    y[:2] = 1  # two classes present in every split
    p = np.tile(np.array([[0.2, 0.8]], np.float32), (n, 1))
    np.savez(path, x_train=x, y_train=y, p_train=p, x_test=x[:32], y_test=y[:32])
    return f"npz:{path}"


@pytest.mark.parametrize("posterior,soft", [("ensemble", True), ("ensemble", False), ("laplace", True)])
def test_learns_the_distribution(tmp_path, posterior, soft):
    spec = _data(tmp_path / "d.npz")
    cfg = train_run(data=spec, out=str(tmp_path / "run"), posterior=posterior, members=2,
                    samples=4 if posterior == "laplace" else None, epochs=30, lr=3e-3, progress=False, soft_labels=soft)
    post = load_run(tmp_path / "run")
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        p1 = post.draw(torch.Generator().manual_seed(0))(x).softmax(-1)[..., 1].mean()
    if soft:
        assert abs(float(p1) - 0.8) < 0.1
        assert cfg["settings"]["soft_labels"] is True
    else:
        assert float(p1) < 0.2
        assert "soft_labels" not in cfg["settings"]  # older runs' settings stay comparable
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["settings"].get("soft_labels", False) is soft


def test_laplace_expected_log_likelihood(tmp_path):
    from unsure.posteriors.laplace import LastLayerLaplace

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = torch.rand(20, 1, 4, 4)
    p = torch.rand(20, 3).softmax(-1)
    la = LastLayerLaplace(net, samples=2, head="3").fit_laplace(x, p)
    with torch.no_grad():
        ref = (p.double() * torch.log_softmax(net(x).double(), -1)).sum()
    assert torch.allclose(la.log_lik, ref, rtol=1e-10)


def test_refusals(tmp_path):
    spec = _data(tmp_path / "d.npz")
    with pytest.raises(UnsureError, match="cannot train on label distributions"):
        train_run(data=spec, out=str(tmp_path / "ev"), posterior="evidential", epochs=1, progress=False,
                  soft_labels=True)
    with pytest.raises(UnsureError, match="label distributions come with npz"):
        train_run(data="digits", out=str(tmp_path / "dg"), epochs=1, progress=False, soft_labels=True)
    assert not (tmp_path / "ev").exists() or not (tmp_path / "ev" / "config.json").exists()
