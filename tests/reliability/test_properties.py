"""Property tests (Hypothesis) over random logits, random small networks and random corrupt files.

Bounded so the whole file stays well under 30 s on one CPU thread: few examples, no deadline.
"""
from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torch import nn

import unsure
from unsure.attribution import METHODS
from unsure.data import load
from unsure.errors import UnsureError
from unsure.measures import aleatoric, epistemic, total

# derandomize: the same examples on every run and machine (CI never flakes); no example database
_COMMON = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
FAST = settings(max_examples=25, **_COMMON)
SLOW = settings(max_examples=4, **_COMMON)


@st.composite
def logit_samples(draw):
    S, B, K = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(2, 7))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e3]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    z = torch.randn(S, B, K, generator=g, dtype=torch.float64) * scale
    if draw(st.booleans()):
        z = z[:1].expand(S, B, K).clone()  # identical members: epistemic exactly 0
    return z.to(dtype)


# six identical float32 members: the mutual information rounds to -1.8e-8 unless clamped
@example(torch.tensor([[[0.18203648924827576, -0.8264687061309814, -0.7949366569519043, -0.9528351426124573,
                         0.37172138690948486, 0.40871575474739075, 1.4214179515838623]]]).expand(6, 1, 7).clone())
@FAST
@given(logit_samples())
def test_measures_non_negative_finite_and_decompose(z):
    t, a, e = total(z), aleatoric(z), epistemic(z)
    for v in (t, a, e):
        assert torch.isfinite(v).all() and (v >= 0).all(), v
    K = z.shape[-1]
    assert (t <= np.log(K) + 1e-5).all()
    tol = 1e-4 if z.dtype == torch.float32 else 1e-9
    torch.testing.assert_close(t, a + e, atol=tol, rtol=0)


def _ensemble(seed: int, S: int, C: int, K: int, H: int):
    torch.manual_seed(seed)
    return [nn.Sequential(nn.Conv2d(C, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * H * H, K)).double() for _ in range(S)]


COMPLETE = sorted(e.name for e in METHODS if getattr(e.obj, "complete", False))


@pytest.mark.parametrize("name", COMPLETE)
@SLOW
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(2, 3), K=st.integers(2, 4), H=st.integers(4, 6),
       target=st.sampled_from(["total", "aleatoric", "epistemic"]))
def test_complete_methods_are_complete(name, seed, S, K, H, target):
    """sum(map) = f(x) - f(reference) within the method's own tolerance, with f(x) recomputed
    here from the measure (not read from the method's metadata); and no NaN anywhere."""
    from unsure.measures import resolve_target

    nets = _ensemble(seed, S, 1, K, H)
    x = torch.rand(2, 1, H, H, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    res = unsure.attribute(nets, x, name, target, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(res.maps).all()
    with torch.no_grad():
        f_x = resolve_target(target)(torch.stack([n(x) for n in nets]))  # [S,B,K] -> [B]
    f_ref = res.meta.get("f_reference", torch.zeros_like(f_x))
    gap = f_x - f_ref
    tol = float(getattr(METHODS.get(name)(), "tol", 1e-6) or 1e-6)
    err = (res.maps.sum((1, 2)) - gap).abs()
    assert (err <= 2 * tol * gap.abs().clamp(min=1) + 1e-6).all(), (err, gap)


def _one_line_or_data(spec: str) -> None:
    try:
        d = load(spec, "test")
    except UnsureError as e:
        assert "\n" not in str(e) and str(e)
        return
    assert torch.isfinite(d.x).all() and 0 <= float(d.x.min()) and float(d.x.max()) <= 1
    assert d.y.dtype == torch.int64 and (d.y >= 0).all()


def _valid_npz() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez_compressed(buf, x=rng.integers(0, 256, (12, 5, 5), dtype=np.uint8), y=np.arange(12) % 3)
    return buf.getvalue()


@FAST
@given(st.binary(max_size=600))
def test_random_bytes_as_npz(tmp_path, data):
    (tmp_path / "r.npz").write_bytes(data)
    _one_line_or_data(f"npz:{tmp_path / 'r.npz'}")


@FAST
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=20),
       st.booleans())
def test_damaged_npz(tmp_path, edits, truncate):
    data = bytearray(_valid_npz())
    for pos, val in edits:
        data[pos % len(data)] = val
    if truncate:
        data = data[: edits[0][0] % len(data)]
    (tmp_path / "d.npz").write_bytes(bytes(data))
    _one_line_or_data(f"npz:{tmp_path / 'd.npz'}")


@FAST
@given(st.dictionaries(st.sampled_from(["x", "y", "x_test", "y_test"]),
                       st.tuples(st.sampled_from(["uint8", "int64", "float32", "float64", "bool", "uint16"]),
                                 st.lists(st.integers(0, 4), min_size=1, max_size=4)),
                       min_size=1))
def test_npz_of_random_arrays(tmp_path, spec):
    """Arrays of any dtype and shape under the expected names: data or one line, never a crash."""
    rng = np.random.default_rng(0)
    arrays = {k: (rng.random(shape) * 300 - 20).astype(dt) for k, (dt, shape) in spec.items()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, a in arrays.items():
            b = io.BytesIO()
            np.save(b, a)
            zf.writestr(f"{k}.npy", b.getvalue())
    (tmp_path / "a.npz").write_bytes(buf.getvalue())
    _one_line_or_data(f"npz:{tmp_path / 'a.npz'}")


_IDX_CODES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]


@st.composite
def idx_bytes(draw, ndim_choices):
    """An IDX header of a real type code with random dimensions, then random data."""
    code, ndim = draw(st.sampled_from(_IDX_CODES)), draw(st.sampled_from(ndim_choices))
    dims = [draw(st.integers(0, 5)) for _ in range(ndim)]
    head = bytes([0, 0, code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + draw(st.binary(max_size=200))


@FAST
@given(st.one_of(st.binary(max_size=300), idx_bytes([1, 2, 3, 4])), st.one_of(st.binary(max_size=60), idx_bytes([1, 2])),
       st.booleans())
def test_random_idx_files(tmp_path, images, labels, gz):
    d = tmp_path / "idx"
    d.mkdir(exist_ok=True)
    for p in d.iterdir():
        p.unlink()
    for stem, data in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        if gz:
            (d / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (d / stem).write_bytes(data)
    _one_line_or_data(f"idx:{d}")
