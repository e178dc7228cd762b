"""Label distributions from npz files line up with the images ``load`` returns."""
import numpy as np
import pytest
import torch

from unsure.data import load
from unsure.data.soft import label_distribution
from unsure.errors import DataError


def _write(path, n=60, k=4, **extra):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
    x[:, 0, 0] = np.arange(n)  # pixel (0, 0) names the image
    y = np.arange(n) % k
    p = np.zeros((n, k), np.float32)  # row i: 1 - i/1000 on its class, i/1000 on the next one
    p[np.arange(n), y] = 1 - np.arange(n) / 1000
    p[np.arange(n), (y + 1) % k] = np.arange(n) / 1000
    np.savez(path, x=x, y=y, p=p, **extra)
    return p


@pytest.mark.parametrize("split,kw", [("train", {}), ("val", {}), ("test", {}),
                                      ("train", {"limit": 7}), ("train", {"limit": 9, "subset_seed": 3})])
def test_aligned_with_load_held_out(tmp_path, split, kw):
    _write(tmp_path / "d.npz")
    d = load(f"npz:{tmp_path / 'd.npz'}", split, **kw)
    p = label_distribution(f"npz:{tmp_path / 'd.npz'}", split, **kw)
    ids = (d.x[:, 0, 0, 0] * 255).round().long()  # which file rows load returned
    assert p.shape == (len(d.y), 4)
    assert torch.allclose(p[torch.arange(len(ids)), (d.y + 1) % 4], ids.float() / 1000)


def test_train_test_arrays(tmp_path):
    n, k = 30, 3
    x = np.zeros((n, 4, 4), np.uint8)
    x[:, 0, 0] = np.arange(n)
    p = np.full((n, k), 1 / 3, np.float32)
    p[:, 0] = np.arange(n) / 100
    p[:, 1] = 1 - p[:, 0]
    p[:, 2] = 0
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(n) % k, p_train=p,
             x_test=x[:5], y_test=np.arange(5) % k, p_test=p[:5])
    spec = f"npz:{tmp_path / 'd.npz'}"
    d, q = load(spec, "train", seed=2), label_distribution(spec, "train", seed=2)
    assert torch.allclose(q[:, 0], (d.x[:, 0, 0, 0] * 255).round() / 100)
    assert torch.equal(label_distribution(spec, "test"), torch.from_numpy(p[:5]))


def test_refusals(tmp_path):
    np.savez(tmp_path / "none.npz", x=np.zeros((4, 3, 3), np.uint8), y=np.arange(4) % 2)
    with pytest.raises(DataError, match="no label distributions"):
        label_distribution(f"npz:{tmp_path / 'none.npz'}")
    with pytest.raises(DataError, match="npz:FILE"):
        label_distribution("digits")
    bad = np.full((4, 2), 0.6, np.float32)
    np.savez(tmp_path / "sum.npz", x=np.zeros((4, 3, 3), np.uint8), y=np.arange(4) % 2, p=bad)
    with pytest.raises(DataError, match="sums to 1.2"):
        label_distribution(f"npz:{tmp_path / 'sum.npz'}")
    neg = np.array([[1.5, -0.5]] * 4, np.float32)
    np.savez(tmp_path / "neg.npz", x=np.zeros((4, 3, 3), np.uint8), y=np.arange(4) % 2, p=neg)
    with pytest.raises(DataError, match="negative"):
        label_distribution(f"npz:{tmp_path / 'neg.npz'}")
    np.savez(tmp_path / "int.npz", x=np.zeros((4, 3, 3), np.uint8), y=np.arange(4) % 2, p=np.arange(4))
    with pytest.raises(DataError, match="float array"):
        label_distribution(f"npz:{tmp_path / 'int.npz'}")
