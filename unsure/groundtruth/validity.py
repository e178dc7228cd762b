"""The validity check of the ground truth, per image (issue 24, point 2).

A cause ``c`` of an image ``x`` (mask ``G``) is **valid** for a posterior when

1. putting the clean content back where the cause is, ``x_r = where(G, clean, x)``, brings the
   total uncertainty back near the image without that cause ``x_0`` (the clean image; for an
   image with both causes, the image with only the other one):
   ``|U(x_r) - U(x_0)| <= NEAR * (U(x) - U(x_0))`` with ``U`` total uncertainty — the mask holds
   what raised the uncertainty, not sub-threshold residues outside it;
2. the cause raises its own kind of uncertainty by at least ``MIN_RISE`` nats over ``x_r``:
   aleatoric for the aleatoric cause, epistemic for the epistemic one;
3. and more than it raises the other kind, in proportion to each kind's level without the cause
   (``compare="ratio"``, the default: ``own(x) / own(x_r) > other(x) / other(x_r)``, i.e. the
   cause shifts the split of total uncertainty towards its own kind), or in nats
   (``compare="nats"``: ``rise_own > rise_other``; epistemic uncertainty is an order of magnitude
   smaller than aleatoric on most images, so a patch can triple it and still add fewer nats).

Only valid causes are scored. All forwards use one frozen posterior draw.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import aleatoric, epistemic, total
from .generate import CauseSet

MIN_RISE = 0.005  # nats: a smaller rise is no cause worth explaining (chosen on validation data)
NEAR = 0.5  # restoring must remove at least half of the rise in total uncertainty


@torch.no_grad()
def uncertainties(draw, x: Tensor, batch_size: int = 500) -> dict[str, Tensor]:
    """``{"total", "aleatoric", "epistemic"}`` of ``x [N,C,H,W]`` under ``draw``: each ``[N]`` (CPU)."""
    dev = next((p.device for m in draw.modules for p in m.parameters()), torch.device("cpu"))
    out = {"total": [], "aleatoric": [], "epistemic": []}
    for s in range(0, len(x), batch_size):
        logits = draw(x[s:s + batch_size].to(dev))  # [S,b,K]
        for k, fn in (("total", total), ("aleatoric", aleatoric), ("epistemic", epistemic)):
            out[k].append(fn(logits).cpu())
    return {k: torch.cat(v) for k, v in out.items()}


@dataclass
class Validity:
    """Per-image outcome. Each ``[n]`` bool: ``aleatoric`` (the aleatoric-only image),
    ``epistemic`` (the epistemic-only image), ``both_aleatoric``/``both_epistemic`` (each cause of
    the both-cause image); ``u``: the uncertainties of every version (clean, aleatoric, epistemic,
    both and the restored ones), ``{version: {measure: [n]}}``."""

    aleatoric: Tensor
    epistemic: Tensor
    both_aleatoric: Tensor
    both_epistemic: Tensor
    u: dict[str, dict[str, Tensor]]

    @property
    def both(self) -> Tensor:
        return self.both_aleatoric & self.both_epistemic

    def shares(self, kind: Tensor, kinds: tuple[str, ...]) -> dict[str, dict]:
        """``{cause: {"share", "valid", "images"}}`` for aleatoric, epistemic, both (both causes of
        a both-cause image valid at once) and all (the three), plus each cause of the both-cause
        images on its own (``both_aleatoric``, ``both_epistemic``: what the aleatoric and epistemic
        maps are scored on there), and ``epistemic:KIND`` / ``both:KIND`` per epistemic kind."""
        def entry(v: Tensor) -> dict:
            return {"share": float(v.double().mean()) if len(v) else float("nan"),
                    "valid": int(v.sum()), "images": len(v)}
        out = {"aleatoric": entry(self.aleatoric), "epistemic": entry(self.epistemic),
               "both": entry(self.both),
               "all": entry(torch.cat([self.aleatoric, self.epistemic, self.both])),
               "both_aleatoric": entry(self.both_aleatoric), "both_epistemic": entry(self.both_epistemic)}
        for i, name in enumerate(kinds):
            out[f"epistemic:{name}"] = entry(self.epistemic[kind == i])
            out[f"both:{name}"] = entry(self.both[kind == i])
        return out


COMPARE = ("nats", "ratio")


def criteria(u: dict, version: str, restored: str, reference: str, own: str, other: str,
             min_rise: float, near: float, compare: str = "nats") -> dict[str, Tensor]:
    """The three parts of the rule (module docstring), each ``[n]`` bool: ``restored`` (putting
    the clean pixels back brings the total near ``reference``), ``rise`` (the own kind rises by
    ``min_rise``), ``more`` (it rises more than the other kind, by ``compare``)."""
    rise_total = u[version]["total"] - u[reference]["total"]
    back = (u[restored]["total"] - u[reference]["total"]).abs() <= near * rise_total
    rise_own = u[version][own] - u[restored][own]
    if compare == "nats":
        more = rise_own > u[version][other] - u[restored][other]
    else:  # own(x) / own(x_r) > other(x) / other(x_r), cross-multiplied (levels are >= 0)
        more = u[version][own] * u[restored][other] > u[version][other] * u[restored][own]
    return {"restored": back, "rise": rise_own >= min_rise, "more": more}


def _valid(u: dict, version: str, restored: str, reference: str, own: str, other: str,
           min_rise: float, near: float, compare: str = "nats") -> Tensor:
    c = criteria(u, version, restored, reference, own, other, min_rise, near, compare)
    return c["restored"] & c["rise"] & c["more"]


def check_validity(draw, cs: CauseSet, min_rise: float = MIN_RISE, near: float = NEAR,
                   batch_size: int = 500, compare: str = "ratio") -> Validity:
    """Run the check of the module docstring on every image of ``cs``."""
    if compare not in COMPARE:
        raise UnsureError(f"compare must be one of {', '.join(COMPARE)}, got {compare!r}")
    ma, me = cs.mask_aleatoric[:, None], cs.mask_epistemic[:, None]  # [n,1,H,W]
    versions = {"clean": cs.clean, "aleatoric": cs.aleatoric, "epistemic": cs.epistemic, "both": cs.both,
                "aleatoric_restored": torch.where(ma, cs.clean, cs.aleatoric),
                "epistemic_restored": torch.where(me, cs.clean, cs.epistemic),
                "both_without_aleatoric": torch.where(ma, cs.clean, cs.both),
                "both_without_epistemic": torch.where(me, cs.clean, cs.both)}
    return decide({k: uncertainties(draw, v, batch_size) for k, v in versions.items()}, min_rise, near, compare)


def decide(u: dict[str, dict[str, Tensor]], min_rise: float = MIN_RISE, near: float = NEAR,
           compare: str = "ratio") -> Validity:
    """The validity rules on the uncertainties ``u`` of :func:`check_validity`'s versions (so
    several thresholds can be tried on one set of forward passes)."""
    if compare not in COMPARE:
        raise UnsureError(f"compare must be one of {', '.join(COMPARE)}, got {compare!r}")
    A, E, c = "aleatoric", "epistemic", compare
    return Validity(
        aleatoric=_valid(u, A, "aleatoric_restored", "clean", A, E, min_rise, near, c),
        epistemic=_valid(u, E, "epistemic_restored", "clean", E, A, min_rise, near, c),
        both_aleatoric=_valid(u, "both", "both_without_aleatoric", E, A, E, min_rise, near, c),
        both_epistemic=_valid(u, "both", "both_without_epistemic", A, E, A, min_rise, near, c),
        u=u)
