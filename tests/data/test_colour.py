"""``colour:BASE``: 3 x 32 x 32 in [0, 1], deterministic, the base image's shape kept (its
intensity is the tint's opacity), labels unchanged."""
from __future__ import annotations

import pytest
import torch

from unsure.data import load
from unsure.data.colour import OBJECT, colourise
from unsure.errors import UnsureError


def test_colour_digits():
    base, c = load("digits", "test"), load("colour:digits", "test")
    assert c.x.shape == (len(base.y), 3, 32, 32) and torch.equal(c.y, base.y)
    assert c.x.min() >= 0 and c.x.max() <= 1
    assert torch.equal(c.x, load("colour:digits", "test").x)  # the same images every time
    assert not torch.equal(c.x[0], c.x[1])


def test_shape_survives_the_tint():
    x = torch.zeros(2, 1, 8, 8)
    x[0, 0, 2:6, 3] = 1.0  # a bar
    out = colourise(x, seed=7)
    bare = colourise(torch.zeros(2, 1, 8, 8), seed=7)  # the same backgrounds without the object
    diff = (out - bare).abs().sum(1)  # [2,32,32]
    assert diff[1].max() == 0 and diff[0].max() > 0.1  # only the image with content changed
    rows, cols = (diff[0] > 0.05).nonzero(as_tuple=True)
    assert int(cols.max() - cols.min()) < int(rows.max() - rows.min()) <= OBJECT  # a vertical bar stays one


def test_bad_specs():
    with pytest.raises(UnsureError, match="base data spec"):
        load("colour:", "test")
    with pytest.raises(UnsureError, match="not a data set"):
        load("colour:colour:digits", "test")
