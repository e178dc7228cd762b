"""Bad data: labels, pixel scales, splits, corrupt files (rows of docs/reliability.md)."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import torch

from _reliakit import case

S = "Data"


@case(S, "label-1e6", "an npz with one label of 10^6 (K would be 10^6 + 1)",
      "one-line error before training: K above the cap of 1000 (`--max-classes` raises it)")
def _(env):
    y = env.labels()
    y[3] = 10**6
    env.train_refused(env.npz(x=env.images(), y=y), match="max-classes")


@case(S, "float-idx", "float32 IDX images already in [0, 1]", "read as they are (not divided by 255)")
def _(env):
    from unsure.data import load

    x = np.random.default_rng(0).random((6, 4, 4)).astype(">f4")
    d = env.tmp / "idx"
    d.mkdir()
    for prefix in ("train", "t10k"):
        with gzip.open(d / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 0x0D, 3]) + struct.pack(">3I", *x.shape) + x.tobytes())
        with gzip.open(d / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 6) + bytes([0, 1, 2, 0, 1, 2]))
    te = load(f"idx:{d}", "test")
    torch.testing.assert_close(te.x[:, 0], torch.from_numpy(x.astype(np.float32)))


@case(S, "int-0-16", "int64 images with values 0..16 (scikit-learn digits style)",
      "one-line error: integer images other than uint8/uint16 have no declared scale")
def _(env):
    env.train_refused(env.npz(x=env.images(dtype=np.int64, hi=16.99), y=env.labels()), match="no declared scale")


@case(S, "float-0-2", "float images with values in [0, 2]", "one-line error: float images must lie in [0, 1]")
def _(env):
    env.train_refused(env.npz(x=env.images(dtype=np.float32, hi=2.0), y=env.labels()), match="[0, 1]")


@case(S, "uint16", "uint16 images (16-bit data)", "read as x / 65535")
def _(env):
    from unsure.data import load

    x = env.images(dtype=np.uint16, hi=65535.99)
    spec = env.npz(x=x, y=env.labels(), x_test=x, y_test=env.labels())
    torch.testing.assert_close(load(spec, "test").x[:, 0], torch.from_numpy(x.astype(np.float32) / 65535))


@case(S, "png-16bit", "a 16-bit grey PNG given to `explain --images`", "read as x / 65535 (not saturated to 8 bits)")
def _(env):
    from PIL import Image

    from unsure.report import load_images

    a = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(a).save(env.tmp / "g16.png")
    x = load_images([env.tmp / "g16.png"], 1, 8)
    torch.testing.assert_close(x[0, 0], torch.from_numpy(a.astype(np.float32) / 65535))


@case(S, "npz-no-test", "an npz with only `x` and `y` (no test split)",
      "a seeded 20% is held out as test, disjoint from training; the run config says so")
def _(env):
    from unsure.data import load

    x = np.arange(50 * 16, dtype=np.uint8).reshape(50, 4, 4) % 251
    x[:, 0, 0], x[:, 0, 1] = np.arange(50), 0  # every image distinct
    spec = env.npz(x=x, y=np.arange(50) % 2)
    rows = lambda d: {tuple(r) for r in (d.x * 255).round().flatten(1).int().tolist()}  # noqa: E731
    tr, va, te = load(spec, "train"), load(spec, "val"), load(spec, "test")
    assert len(te.y) == 10 and not rows(te) & (rows(tr) | rows(va))
    assert len(tr.y) + len(va.y) + len(te.y) == 50


@case(S, "npz-no-test-recorded", "training on an npz with only `x` and `y`",
      "the run config records how the test split was made (`test_split`)")
def _(env):
    import json

    x = env.images(n=60, size=8)
    rc, err = env.train(env.npz(x=x, y=env.labels(60)))
    assert rc == 0, err
    cfg = json.loads((env.tmp / "run" / "config.json").read_text())
    assert "held out" in cfg["test_split"] and cfg["splits"]["test"] == 12


@case(S, "outlier-label", "one outlier label (200) in a 3-class set",
      "one-line error before training: most of the 201 classes would be empty")
def _(env):
    y = env.labels()
    y[5] = 200
    env.train_refused(env.npz(x=env.images(), y=y), match="outlier")


@case(S, "single-class", "a training set with a single class", "one-line error before training")
def _(env):
    env.train_refused(env.npz(x=env.images(), y=np.zeros(40, dtype=np.int64)), match="single class")


@case(S, "zero-images", "an npz with zero images", "one-line error")
def _(env):
    env.train_refused(env.npz(x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, np.int64)), match="no images")


@case(S, "negative-label", "a negative label", "one-line error")
def _(env):
    y = env.labels()
    y[0] = -1
    env.train_refused(env.npz(x=env.images(), y=y), match=">= 0")


@case(S, "nan-label", "a NaN label", "one-line error")
def _(env):
    y = env.labels().astype(float)
    y[0] = np.nan
    env.train_refused(env.npz(x=env.images(), y=y), match="NaN")


@case(S, "fractional-label", "a fractional label (1.5)", "one-line error")
def _(env):
    y = env.labels().astype(float)
    y[0] = 1.5
    env.train_refused(env.npz(x=env.images(), y=y), match="whole numbers")


@case(S, "length-mismatch", "x and y of different lengths", "one-line error")
def _(env):
    env.train_refused(env.npz(x=env.images(40), y=env.labels(39)), match="labels")


@case(S, "one-hot", "one-hot labels y [N, K]", "one-line error that says to pass class indices")
def _(env):
    env.train_refused(env.npz(x=env.images(), y=np.eye(3)[env.labels()]), match="one-hot")


@case(S, "corrupt-zip", "a truncated npz (corrupt zip)", "one-line error")
def _(env):
    spec = env.npz(x=env.images(), y=env.labels())
    path = spec[4:]
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    env.train_refused(spec, match="cannot read")


@case(S, "corrupt-npz", "an npz whose compressed array bytes are damaged", "one-line error")
def _(env):
    path = env.tmp / "c.npz"
    np.savez_compressed(path, x=env.images(400, 16), y=env.labels(400))
    data = bytearray(path.read_bytes())
    mid = len(data) // 3
    data[mid:mid + 200] = bytes(200)
    path.write_bytes(bytes(data))
    env.train_refused(f"npz:{path}", match="cannot read")


@case(S, "test-size", "test images of another size than the training images",
      "one-line error before training")
def _(env):
    spec = env.npz(x_train=env.images(40, 8), y_train=env.labels(), x_test=env.images(10, 10),
                   y_test=env.labels(10))
    env.train_refused(spec, match="same size")


@case(S, "soft-labels-missing", "`train --soft-labels` on data without label distributions",
      "one-line error before training, naming the arrays it needs (`p_train` / `p`)")
def _(env):
    env.train_refused(env.npz(x=env.images(), y=env.labels()), "--soft-labels", match="no label distributions")


@case(S, "soft-labels-bad-rows", "`train --soft-labels` on label distributions whose row does not sum to 1",
      "one-line error before training, naming the row and its sum")
def _(env):
    p = np.full((40, 3), 1 / 3, np.float32)
    p[7] = [0.5, 0.5, 0.5]
    env.train_refused(env.npz(x=env.images(), y=env.labels(), p=p), "--soft-labels", match="row 7 sums to 1.5")
