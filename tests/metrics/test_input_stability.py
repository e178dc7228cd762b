import math

import torch

from unsure.metrics import relative_input_stability


def _x():
    return 0.2 + 0.6 * torch.rand(2, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def test_a_map_equal_to_the_input_has_ris_one_and_a_fixed_map_zero():
    x = _x()  # no zero pixel, noise small enough not to clip
    flat = lambda z: torch.zeros(len(z), dtype=z.dtype)  # noqa: E731  (every copy is admissible)
    r = relative_input_stability(lambda z, g: z[:, 0], flat, x, x[:, 0], n=5, std=0.01)
    torch.testing.assert_close(r, torch.ones(2, dtype=torch.float64))
    fixed = relative_input_stability(lambda z, g: torch.ones_like(z[:, 0]), flat, x, torch.ones(2, 4, 4), n=5)
    assert fixed.tolist() == [0.0, 0.0]


def test_no_admissible_copy_gives_nan():
    x = _x()
    u = lambda z: z.flatten(1).sum(1) * 1e6  # noqa: E731  (any noise changes it beyond tol)
    r = relative_input_stability(lambda z, g: z[:, 0], u, x, x[:, 0], n=3, tol=1e-9)
    assert all(math.isnan(v) for v in r.tolist())
