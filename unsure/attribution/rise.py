"""RISE: Randomized Input Sampling for Explanation (Petsiuk et al., BMVC 2018), as Agarwal et al.
tried it for uncertainty (``../shared/papers/gradcam-evidential-agarwal.md``).

The map is the Monte-Carlo estimate of the expected target given that a pixel is kept,

    S(x)[h,w] = 1 / (N p) * sum_i f(x * M_i) M_i[h,w]        (Petsiuk et al., Eq. 6)

with ``f`` any target (an uncertainty measure or a class score of the frozen draw) and ``M_i`` soft
masks made as in the paper (Sec. 3.2): a binary ``s x s`` grid whose cells are kept with
probability ``p``, upsampled bilinearly to ``(s + 1) * ceil(H / s)`` pixels and cropped to ``H x W``
at a random shift in ``[0, ceil(H / s))`` (likewise for W). Masked pixels become 0 (black).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from .smoothgrad import check_count, freeze_class


def draw_grids(n: int, cell: int, p: float, size: tuple[int, int],
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The random part of ``n`` RISE masks for images of ``size = (H, W)``.

    Drawn from ``generator`` in this order: grids ``[n, s, s]`` (``rand < p``, float 0/1), row
    shifts ``[n]`` in ``[0, ceil(H/s))``, column shifts ``[n]`` in ``[0, ceil(W/s))``; all on the
    generator's device (CPU when ``generator`` is None).
    """
    H, W = size
    dev = generator.device if generator is not None else torch.device("cpu")
    grid = (torch.rand((n, cell, cell), generator=generator, device=dev) < p).float()
    sy = torch.randint(0, math.ceil(H / cell), (n,), generator=generator, device=dev)
    sx = torch.randint(0, math.ceil(W / cell), (n,), generator=generator, device=dev)
    return grid, sy, sx


def upsample_masks(grid: Tensor, sy: Tensor, sx: Tensor, size: tuple[int, int]) -> Tensor:
    """Soft masks ``[m, H, W]`` from grids ``[m, s, s]`` and shifts ``[m]`` (:func:`draw_grids`)."""
    H, W = size
    m, s, _ = grid.shape
    up = ((s + 1) * math.ceil(H / s), (s + 1) * math.ceil(W / s))
    big = F.interpolate(grid[:, None], size=up, mode="bilinear", align_corners=False)[:, 0]  # [m,1,s,s] -> [m,uh,uw]
    rows = sy[:, None] + torch.arange(H, device=grid.device)  # [m,H]
    cols = sx[:, None] + torch.arange(W, device=grid.device)  # [m,W]
    idx = torch.arange(m, device=grid.device)[:, None, None]
    return big[idx, rows[:, :, None], cols[:, None, :]]  # crop: [m,H,W]


def rise_masks(n: int, cell: int, p: float, size: tuple[int, int],
               generator: torch.Generator | None = None) -> Tensor:
    """All ``n`` masks ``[n, H, W]`` at once (for tests and plots; :class:`RISE` streams them)."""
    grid, sy, sx = draw_grids(n, cell, p, size, generator)
    return upsample_masks(grid, sy, sx, size)


@METHODS.register("rise", "RISE: target of randomly masked inputs, averaged over the masks")
class RISE(Method):
    """RISE saliency for any target (Petsiuk et al. 2018).

    Parameters
    ----------
    masks : N, random masks per call (2000)
    cell : s, cells per side of the coarse random grid (7)
    p : probability of keeping a cell (0.5)
    mask_batch : masks per forward pass; memory grows with ``mask_batch * B`` images

    Returns
    -------
    maps ``[B,H,W]`` = ``sum_i f(x * M_i) M_i / (N p)``, the same N masks for every image of the
    chunk (drawn from the call's ``generator``, see :func:`draw_grids`); no raw attribution;
    meta ``f_input [B]``, the target at the unmasked images. A predicted-class target is frozen to
    the class predicted at the unmasked image. Masked inputs are evaluated as rows ``j*B + b``
    (mask j, image b), the layout of stacked path points.
    """

    name = "rise"
    complete = False
    stochastic = True

    def __init__(self, masks: int = 2000, cell: int = 7, p: float = 0.5, mask_batch: int = 100):
        self.masks = check_count(masks, "rise masks")
        self.cell = check_count(cell, "rise cell")
        self.mask_batch = check_count(mask_batch, "rise mask_batch")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise UnsureError(f"rise p (probability of keeping a cell) must be in (0, 1], got {p!r}")
        self.p = float(p)

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        B, C, H, W = x.shape
        target = freeze_class(target, ctx.draw, x)
        grid, sy, sx = draw_grids(self.masks, self.cell, self.p, (H, W), ctx.generator)
        grid, sy, sx = grid.to(x.device, x.dtype), sy.to(x.device), sx.to(x.device)
        sal = x.new_zeros(B, H, W)
        with torch.no_grad():
            f_input = target(ctx.draw(x))
            for s in range(0, self.masks, self.mask_batch):
                M = upsample_masks(grid[s:s + self.mask_batch], sy[s:s + self.mask_batch],
                                   sx[s:s + self.mask_batch], (H, W))  # [m,H,W]
                m = M.shape[0]
                xm = (M[:, None, None] * x[None]).reshape(m * B, C, H, W)  # [m,B,C,H,W] -> [m*B,C,H,W]
                f = target(ctx.draw(xm)).reshape(m, B)  # [m*B] -> [m,B]
                sal += torch.einsum("mb,mhw->bhw", f, M)
        return Attribution(sal / (self.masks * self.p), None, {"f_input": f_input})
