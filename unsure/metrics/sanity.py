"""Cascading model-parameter randomisation (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018, Sec. 3.1; METHODS.md "Other metrics").

The layers of every network of a posterior are re-initialised from the top (the output layer)
down, one more layer at each step; after each step the maps of the randomised posterior are
compared with the trained one's by Spearman rank correlation (scipy) and SSIM (pytorch-msssim,
3x3 Gaussian window so it works on 8x8 images). A method that explains the model should lose
similarity quickly, so **lower is better** for both.

Work happens on deep copies: the caller's posterior and networks are never modified.

Decisions: a "layer" is a module with its own parameters and a ``reset_parameters`` method
(Conv, Linear, BatchNorm, ...) in registration order, which is forward order for unsure's models;
re-initialisation uses each layer's own ``reset_parameters`` under a seeded RNG. Spearman is taken
on absolute map values by default (Adebayo et al. report both; signs of many methods flip
arbitrarily); SSIM on maps min-max normalised to ``[0, 1]``, as they do.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UnsureError
from ..posteriors import Posterior
from ..validate import check_images, checks_generator
from .base import register_metric
from .localization import minmax

Explain = Callable[[Posterior, Tensor], Tensor]  # (posterior, x [B,C,H,W]) -> maps [B,H,W]


@dataclass
class SanityResult:
    """Outcome of :func:`model_randomisation`.

    Attributes
    ----------
    layers : the cascade, top layer first; step i randomises ``layers[:i+1]``
    spearman, ssim : ``[L, B]`` similarity of each step's maps with the trained model's
    maps : ``[L+1, B, H, W]`` the trained model's maps, then each step's
    """

    higher_is_better: ClassVar[dict[str, bool]] = {"spearman": False, "ssim": False}

    layers: list[str]
    spearman: Tensor
    ssim: Tensor
    maps: Tensor = field(repr=False)


def networks(posterior: Posterior) -> list[nn.Module]:
    """The distinct networks a posterior's members run (from a draw; falls back to its children)."""
    inside = {id(m) for m in posterior.modules()}
    try:
        mods = posterior.draw(torch.Generator().manual_seed(0)).modules
    except Exception:  # a draw that needs more than a generator: use the structure instead
        mods = []
    nets, seen = [], set()
    for m in mods:
        if id(m) in inside and id(m) not in seen and m is not posterior:
            seen.add(id(m))
            nets.append(m)
    return nets or [c for c in posterior.children()]


def layer_names(net: nn.Module) -> list[str]:
    """Names of ``net``'s re-initialisable layers in registration order (bottom to top)."""
    return [n for n, m in net.named_modules()
            if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]


@checks_generator
def cascade(posterior: Posterior, generator: torch.Generator | None = None
            ) -> Iterator[tuple[str, Posterior]]:
    """Yield ``(layer, posterior copy)`` with the top 1, 2, ... layers of every network re-initialised.

    The caller's posterior is untouched; each step is a fresh deep copy with one more layer reset.
    """
    nets = networks(posterior)
    if not nets:
        raise UnsureError(f"{type(posterior).__name__} exposes no networks to randomise")
    names = layer_names(nets[0])
    if not names:
        raise UnsureError("the posterior's networks have no layers with reset_parameters()")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    for i in range(len(names)):
        post = copy.deepcopy(posterior)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for net in networks(post):
                mods = dict(net.named_modules())
                for name in names[::-1][: i + 1]:
                    if name in mods:
                        mods[name].reset_parameters()
        yield names[::-1][i], post


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation per map with ``scipy.stats.spearmanr``: ``[B,H,W] x2 -> [B]``.

    A constant map has no rank correlation; it gets 0.
    """
    from scipy.stats import spearmanr

    out = []
    for u, v in zip(a.reshape(len(a), -1).double().cpu().numpy(), b.reshape(len(b), -1).double().cpu().numpy()):
        if np.ptp(u) == 0 or np.ptp(v) == 0:
            out.append(0.0)
        else:
            out.append(float(spearmanr(u, v).statistic))
    return torch.tensor(out, dtype=torch.float64)


def map_ssim(a: Tensor, b: Tensor, win_size: int = 3) -> Tensor:
    """SSIM of min-max normalised maps (pytorch-msssim, Gaussian window ``win_size``): ``[B]``."""
    from pytorch_msssim import ssim

    side = min(a.shape[1:])
    win = min(win_size, side if side % 2 else side - 1)
    A, Bm = minmax(a.double())[:, None].float(), minmax(b.double())[:, None].float()  # [B,H,W] -> [B,1,H,W]
    return ssim(A, Bm, data_range=1.0, size_average=False, win_size=win).double().cpu()


@checks_generator
def model_randomisation(posterior: Posterior, x: Tensor, explain: Explain, *,
                        absolute: bool = True, generator: torch.Generator | None = None,
                        progress: bool = False) -> SanityResult:
    """Cascading randomisation test of one attribution method.

    Parameters
    ----------
    posterior : the trained posterior (not modified)
    x : ``[B, C, H, W]``
    explain : ``(posterior, x) -> maps [B,H,W]``, e.g.
        ``lambda p, x: unsure.attribute(p, x, method="grad").maps``
    absolute : rank-correlate ``|maps|`` (default) instead of signed maps
    generator : seeds the re-initialisation

    Returns
    -------
    :class:`SanityResult` with ``spearman [L,B]`` and ``ssim [L,B]``
    """
    from tqdm.auto import tqdm

    from ..posteriors.protocol import as_posterior

    check_images(x)
    posterior = as_posterior(posterior)
    before = {k: v.detach().clone() for k, v in posterior.state_dict().items()}
    ref = explain(posterior, x).detach()
    if ref.shape != (x.shape[0], *x.shape[2:]):
        raise UnsureError(f"explain returned maps {tuple(ref.shape)}, expected [B,H,W]={[x.shape[0], *x.shape[2:]]}")
    layers, rho, ss, all_maps = [], [], [], [ref.cpu()]
    for name, post in tqdm(cascade(posterior, generator), desc="randomise", disable=not progress,
                           leave=False):
        m = explain(post, x).detach()
        layers.append(name)
        all_maps.append(m.cpu())
        f = (lambda t: t.abs()) if absolute else (lambda t: t)
        rho.append(spearman(f(ref), f(m)))
        ss.append(map_ssim(f(ref), f(m)))
    for k, v in posterior.state_dict().items():  # the caller's weights must be untouched
        if not torch.equal(v, before[k]):
            raise RuntimeError(f"model_randomisation modified the caller's parameter {k}")
    return SanityResult(layers, torch.stack(rho), torch.stack(ss), torch.stack(all_maps))


register_metric("randomisation-spearman", False, "both",
                "Spearman rank correlation of maps before/after cascading randomisation (Adebayo 2018)",
                model_randomisation)
register_metric("randomisation-ssim", False, "both",
                "SSIM of maps before/after cascading randomisation (Adebayo 2018)", model_randomisation)
