"""What a removed pixel becomes: the substitutes of the perturbation metrics (METHODS.md, "The
substitute panel").

A perturbation metric (blurring / URR test, insertion-deletion, top-k ablation) removes pixels in
map order and asks what the model says. The value put in their place is a choice, and a method
whose reference equals that choice is favoured by it; so every such metric takes one option
``replacement`` and the bench scores every method under each substitute of :data:`REPLACEMENTS`:

- ``blur``: the Gaussian-blurred image, at every sigma of a grid (the blurring test's, the min
  over the grid is taken by the test);
- ``zero``: 0 in every channel;
- ``mean``: each image's own per-channel mean;
- ``noise``: ``clip(x + e, 0, 1)``, ``e ~ N(0, std^2)`` (std 0.3), ``n_draws`` (4) seeded draws;
- ``road``: noisy linear imputation (Rong, Leemann, Borisov, Kasneci & Kasneci, ICML 2022, "A
  Consistent and Efficient Evaluation Strategy for Attribution Methods"): the removed pixels solve
  the sparse linear system in which each equals the weighted mean of its in-image 8 neighbours
  (direct 1/6, diagonal 1/12), kept pixels fixed, plus ``N(0, 0.01^2)`` noise (``n_draws`` (2)
  seeded draws). **(decision)** A set of removed pixels that touches no kept pixel (e.g. every pixel
  removed) has no unique solution; a tiny pull ``eps = 1e-6`` towards the image's channel mean
  makes it the mean there and changes a bounded system by ~1e-6.

A substitute is one small object with a name: :meth:`Replacement.prepare` makes its per-image
state once per test (the blurred copies, the noise draws), :meth:`Replacement.fill` returns the
``G`` substituted images for a batch of removal masks. Adding a substitute is one registered class.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import UnsureError
from ..registry import Registry
from ..ops.blur import gaussian_blur_many as gaussian_blur

REPLACEMENTS: Registry = Registry("replacement")

#: The panel, in the order the bench reports it.
PANEL: tuple[str, ...] = ("blur", "zero", "mean", "noise", "road")


@dataclass
class Replacement:
    """Base of a substitute; subclasses set ``name`` and implement :meth:`substitute` (a fixed image
    per draw) or override :meth:`fill` (a substitute that depends on which pixels are removed)."""

    name: ClassVar[str] = ""

    @property
    def draws(self) -> int:
        """``G``: substituted images per removal mask (the test keeps the min over them)."""
        return 1

    def prepare(self, x: Tensor) -> Any:
        """Per-image state, computed once per test: by default ``substitute(x) [G,B,C,H,W]``."""
        return self.substitute(x)

    def substitute(self, x: Tensor) -> Tensor:
        """``x [B,C,H,W] -> [G,B,C,H,W]``: the value every pixel takes when removed."""
        raise NotImplementedError

    def fill(self, x: Tensor, state: Any, removed: Tensor) -> Tensor:
        """Images with the ``removed [N,B,H,W]`` pixels (all channels) substituted:
        ``[N,G,B,C,H,W]``."""
        N, B, H, W = removed.shape
        return torch.where(removed.reshape(N, 1, B, 1, H, W), state.unsqueeze(0), x[None, None])

    def describe(self) -> dict:
        """Name and settings (recorded in the bench's JSON)."""
        return {"name": self.name, **dataclasses.asdict(self)}


@REPLACEMENTS.register("blur", "the Gaussian-blurred image, one copy per sigma (the paper's)")
@dataclass
class Blur(Replacement):
    """``G_sigma x`` for every sigma of ``sigmas`` (reflect padding, ``ops.blur``)."""

    name: ClassVar[str] = "blur"
    sigmas: Sequence[float] = (2.0,)

    def __post_init__(self):
        self.sigmas = tuple(float(s) for s in self.sigmas)
        if not self.sigmas or any(not s > 0 for s in self.sigmas):
            raise UnsureError(f"blur replacement needs sigmas > 0, got {list(self.sigmas)}")

    @property
    def draws(self) -> int:
        return len(self.sigmas)

    def substitute(self, x: Tensor) -> Tensor:
        return gaussian_blur(x, self.sigmas)  # [G,B,C,H,W]


@REPLACEMENTS.register("zero", "0 in every channel")
@dataclass
class Zero(Replacement):
    name: ClassVar[str] = "zero"

    def substitute(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)[None]  # [1,B,C,H,W]


@REPLACEMENTS.register("mean", "each image's own per-channel mean")
@dataclass
class Mean(Replacement):
    name: ClassVar[str] = "mean"

    def substitute(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)[None].clone()  # [1,B,C,H,W]


@REPLACEMENTS.register("noise", "clip(x + N(0, 0.3^2), 0, 1), several seeded draws")
@dataclass
class Noise(Replacement):
    """``clip(x + std * e, lo, hi)``, ``e ~ N(0, 1)`` per pixel and channel, ``draws`` draws from
    ``torch.Generator().manual_seed(seed)``."""

    name: ClassVar[str] = "noise"
    std: float = 0.3
    n_draws: int = 4
    seed: int = 0
    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self):
        _check_draws(self.name, self.n_draws, self.std)

    @property
    def draws(self) -> int:
        return self.n_draws

    def substitute(self, x: Tensor) -> Tensor:
        e = torch.randn((self.n_draws, *x.shape), generator=torch.Generator().manual_seed(self.seed),
                        dtype=x.dtype).to(x.device)  # [G,B,C,H,W]
        return (x[None] + self.std * e).clamp(self.lo, self.hi)


#: ROAD's neighbours: (row offset, column offset, weight).
NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
    (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12))


def linear_impute(x: Tensor, removed: Tensor, eps: float = 1e-6) -> Tensor:
    """ROAD's linear imputation, exact: every removed pixel is the weighted mean of its in-image
    neighbours (:data:`NEIGHBOURS`), kept pixels fixed, plus ``eps`` pull to the channel mean.

    One block-diagonal sparse system for the whole batch, solved by sparse LU (scipy).

    Parameters
    ----------
    x : ``[S, C, H, W]`` images
    removed : ``[S, H, W]`` bool, the pixels to impute

    Returns
    -------
    ``[S, C, H, W]``: ``x`` with the removed pixels imputed (float64 solve, ``x``'s dtype)
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    S, C, H, W = x.shape
    m = removed.detach().cpu().numpy().astype(bool)  # [S,H,W]
    out = x.detach().cpu().double().numpy().copy()  # [S,C,H,W]
    n = int(m.sum())
    if n == 0:
        return x.clone()
    s_idx, r_idx, c_idx = np.nonzero(m)  # [n] each, unknown u = (s, r, c)
    var = -np.ones(m.shape, dtype=np.int64)
    var[s_idx, r_idx, c_idx] = np.arange(n)
    diag = np.full(n, eps)
    rhs = eps * out.mean(axis=(2, 3))[s_idx]  # [n,C]
    rows, cols, vals = [], [], []
    for dr, dc, w in NEIGHBOURS:
        rr, cc = r_idx + dr, c_idx + dc
        inside = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
        u, ss, rr, cc = np.nonzero(inside)[0], s_idx[inside], rr[inside], cc[inside]
        diag[u] += w  # the pixel's own weight: sum over its in-image neighbours
        gone = m[ss, rr, cc]
        rows.append(u[gone])
        cols.append(var[ss[gone], rr[gone], cc[gone]])
        vals.append(np.full(int(gone.sum()), -w))
        kept = ~gone
        np.add.at(rhs, u[kept], w * out[ss[kept], :, rr[kept], cc[kept]])  # [k,C]
    A = sp.csc_matrix((np.concatenate(vals + [diag]),
                       (np.concatenate(rows + [np.arange(n)]), np.concatenate(cols + [np.arange(n)]))),
                      shape=(n, n))
    sol = splu(A).solve(rhs)  # [n,C]
    out[s_idx, :, r_idx, c_idx] = sol
    return torch.from_numpy(out).to(dtype=x.dtype, device=x.device)


@REPLACEMENTS.register("road", "noisy linear imputation from the neighbours (ROAD, Rong et al. 2022)")
@dataclass
class Road(Replacement):
    """:func:`linear_impute` of the removed pixels plus ``std * e`` on them, ``e ~ N(0, 1)``,
    ``draws`` draws from ``torch.Generator().manual_seed(seed)`` (not clipped, as in ROAD)."""

    name: ClassVar[str] = "road"
    std: float = 0.01
    n_draws: int = 2
    seed: int = 0

    def __post_init__(self):
        _check_draws(self.name, self.n_draws, self.std)

    @property
    def draws(self) -> int:
        return self.n_draws

    def prepare(self, x: Tensor) -> Tensor:
        return self.std * torch.randn((self.n_draws, *x.shape),
                                      generator=torch.Generator().manual_seed(self.seed),
                                      dtype=x.dtype).to(x.device)  # [G,B,C,H,W] noise

    def fill(self, x: Tensor, state: Tensor, removed: Tensor) -> Tensor:
        N, B, H, W = removed.shape
        C = x.shape[1]
        imp = linear_impute(x.unsqueeze(0).expand(N, -1, -1, -1, -1).reshape(N * B, C, H, W),
                            removed.reshape(N * B, H, W)).reshape(N, 1, B, C, H, W)
        m = removed.reshape(N, 1, B, 1, H, W)
        return torch.where(m, imp + state.unsqueeze(0), x[None, None])  # [N,G,B,C,H,W]


def _check_draws(name: str, draws, std) -> None:
    if not (isinstance(draws, int) and draws >= 1):
        raise UnsureError(f"{name} replacement needs n_draws >= 1, got {draws!r}")
    if not float(std) >= 0:
        raise UnsureError(f"{name} replacement needs std >= 0, got {std!r}")


def make_replacement(item: str | Replacement, **defaults) -> Replacement:
    """``"noise"``, ``"noise:n_draws=4:seed=1"`` or a :class:`Replacement` -> a replacement.

    ``defaults`` (e.g. the test's ``sigmas``, the bench's ``seed``) fill the settings a class has
    and the item does not name; the others are ignored.
    """
    if isinstance(item, Replacement):
        return item
    if not isinstance(item, str):
        raise UnsureError(f"replacement must be a name or a Replacement, got {type(item).__name__}")
    from ..attribution.spec import parse_method  # NAME[:key=value...], the methods' syntax

    spec = parse_method(item.strip())
    cls = REPLACEMENTS.get(spec.name)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(spec.options) - fields
    if unknown:
        raise UnsureError(f"replacement {spec.name!r} has no option {sorted(unknown)}; "
                          f"options: {sorted(fields) or 'none'}")
    kw = {k: v for k, v in defaults.items() if k in fields and v is not None}
    kw.update(spec.options)
    return cls(**kw)


def make_replacements(items: str | Replacement | Sequence[str | Replacement], **defaults) -> list[Replacement]:
    """A comma-separated string, one item or a list -> replacements (names must be distinct)."""
    if isinstance(items, str):
        items = [t for t in items.split(",") if t.strip()]
    elif isinstance(items, Replacement):
        items = [items]
    reps = [make_replacement(i, **defaults) for i in items]
    if not reps:
        raise UnsureError(f"no replacement given; known: {', '.join(REPLACEMENTS.names())}")
    names = [r.name for r in reps]
    if len(set(names)) != len(names):
        raise UnsureError(f"each replacement may appear once, got {names}")
    return reps
