"""Data loaders: every standard format from files written here, splits, and bad files."""
import gzip
import pickle

import numpy as np
import pytest
import torch

from unsure.data import load, num_classes
from unsure.errors import DataError, UnsureError


def write_idx(path, arr, gz=True):
    arr = np.asarray(arr)
    code = {np.dtype(np.uint8): 0x08}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 48), ("t10k", 12)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 6, 6), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    return tmp_path


def test_idx_splits_shapes_and_range(idx_dir):
    tr, va, te = (load(f"idx:{idx_dir}", s) for s in ("train", "val", "test"))
    assert tr.x.shape[1:] == (1, 6, 6) and te.x.shape == (12, 1, 6, 6)
    assert len(tr.y) + len(va.y) == 48 and len(va.y) == 4
    assert tr.x.dtype == torch.float32 and 0 <= tr.x.min() and tr.x.max() <= 1
    raw = np.frombuffer(gzip.open(idx_dir / "t10k-images-idx3-ubyte.gz").read()[16:], np.uint8)
    torch.testing.assert_close(te.x.flatten(), torch.from_numpy(raw.astype(np.float32) / 255))
    # train and val never overlap and are seeded
    assert load(f"idx:{idx_dir}", "val", seed=1).y.tolist() != [] and \
        torch.equal(load(f"idx:{idx_dir}", "val").x, va.x)


def test_truncated_and_missing_idx(idx_dir):
    p = idx_dir / "t10k-images-idx3-ubyte.gz"
    data = gzip.open(p).read()
    gzip.open(p, "wb").write(data[:-10])
    with pytest.raises(DataError, match="truncated"):
        load(f"idx:{idx_dir}", "test")
    with pytest.raises(DataError, match="does not exist"):
        load(f"idx:{idx_dir / 'nowhere'}", "test")
    (idx_dir / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing data file .*train-labels"):
        load(f"idx:{idx_dir}", "train")


def test_npz_layouts(tmp_path):
    x = (np.random.default_rng(0).random((10, 5, 5, 3)) * 255).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, x_test=x, y=np.arange(10) % 3, y_test=np.arange(10) % 3)
    d = load(f"npz:{tmp_path / 'd.npz'}", "test")
    assert d.x.shape == (10, 3, 5, 5)
    torch.testing.assert_close(d.x[2, 1], torch.from_numpy(x[2, :, :, 1].astype(np.float32) / 255))
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(DataError, match="must hold arrays"):
        load(f"npz:{tmp_path / 'bad.npz'}", "test")


def test_cifar10_batches(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
        pickle.dump(batch, open(root / name, "wb"))
    te = load(f"cifar10:{tmp_path}", "test")
    assert te.x.shape == (4, 3, 32, 32)
    raw = pickle.load(open(root / "test_batch", "rb"))[b"data"]
    torch.testing.assert_close(te.x[1, 2, 0, :], torch.from_numpy(raw[1, 2048:2080].astype(np.float32) / 255))
    assert len(load(f"cifar10:{tmp_path}", "train").y) + len(load(f"cifar10:{tmp_path}", "val").y) == 20


def test_cifar_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    root = tmp_path / "cifar-100-python"
    root.mkdir()
    pickle.dump({b"data": Evil()}, open(root / "test", "wb"))
    with pytest.raises(DataError, match="refusing"):
        load(f"cifar100:{tmp_path}", "test")


def test_svhn_mat(tmp_path):
    from scipy.io import savemat

    X = np.random.default_rng(0).integers(0, 256, (32, 32, 3, 6), dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": X, "y": np.array([[10], [1], [2], [10], [5], [9]])})
    d = load(f"svhn:{tmp_path}", "test")
    assert d.x.shape == (6, 3, 32, 32)
    assert d.y.tolist() == [0, 1, 2, 0, 5, 9]
    torch.testing.assert_close(d.x[3, 1], torch.from_numpy(X[:, :, 1, 3].astype(np.float32) / 255))


def test_digits_and_errors():
    tr, te = load("digits", "train"), load("digits", "test")
    assert tr.x.shape[1:] == (1, 8, 8) and len(te.y) == 1797 // 5
    assert num_classes("digits") == 10
    with pytest.raises(UnsureError, match="unknown split"):
        load("digits", "validation")
    with pytest.raises(UnsureError, match="known: "):
        load("mnistt", "train")


def test_seeded_subset_is_the_one_the_mitigation_bench_draws(idx_dir):
    from unsure.data import subset_order

    spec = f"idx:{idx_dir}"
    full = load(spec, "train")
    sub = load(spec, "train", limit=10, subset_seed=3)
    idx = subset_order(len(full.y), 3)[:10]
    assert torch.equal(sub.x, full.x[idx]) and torch.equal(sub.y, full.y[idx])
    assert not torch.equal(sub.x, load(spec, "train", limit=10).x)  # not the first 10
    # smaller subsets are prefixes of larger ones
    assert torch.equal(load(spec, "train", limit=4, subset_seed=3).x, sub.x[:4])
    with pytest.raises(UnsureError, match="needs a limit"):
        load(spec, "train", subset_seed=3)
    with pytest.raises(UnsureError, match="cannot draw 100"):
        load(spec, "train", limit=100, subset_seed=3)
