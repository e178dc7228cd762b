"""Captum's implementation of the same method on the same target, for ``unsure bench speed --grid``.

Each counterpart runs Captum 0.9 on :class:`~unsure.attribution.captum_bridge.TargetFunction` (the
same frozen posterior draw and target as unsure's method) with the settings that make it compute
the same map, as the oracle tests check (``tests/attribution/test_captum_oracles.py``,
``test_ig.py``, ``test_expected_gradients.py``):

- ``grad``: ``Saliency(abs=True)``; ``inputgrad``: ``InputXGradient``;
- ``smoothgrad``: ``NoiseTunnel(Saliency)``, ``nt_samples`` = samples, ``stdevs`` = sigma x the
  batch's range (unsure's sigma is per image: same cost);
- ``ig``: ``IntegratedGradients``, ``riemann_left``, ``n_steps`` = steps, black baseline,
  ``internal_batch_size`` = unsure's ``internal_batch``;
- ``expected-gradients``: ``GradientShap`` with ``stdevs=0`` over the black baseline, ``n_samples``
  = samples;
- ``gradcam``: ``LayerGradCam`` of each member's feature layer, summed over members. Captum
  attributes one layer per call, so an ensemble of S members costs S forwards and backwards of
  the whole ensemble (unsure hooks every member's layer in one pass).

UA-Backprop, FullGrad and the IDGI methods have no Captum implementation (``None``).
"""
from __future__ import annotations

import functools
import warnings
from typing import Callable

import torch

from ..attribution.captum_bridge import TargetFunction
from ..attribution.spec import MethodSpec
from ..measures import resolve_target, target_name

NAMES = {"grad": "Saliency", "inputgrad": "InputXGradient", "smoothgrad": "NoiseTunnel(Saliency)",
         "ig": "IntegratedGradients", "expected-gradients": "GradientShap", "gradcam": "LayerGradCam"}


def available() -> bool:
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        return False
    return True


def _quiet(fn: Callable) -> Callable:
    """Captum warns on every call that the input did not require gradients (it sets that itself)."""
    @functools.wraps(fn)
    def run(x):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
            return fn(x)
    return run


def counterpart(spec: MethodSpec, posterior, draw, target) -> Callable | None:
    fn = _counterpart(spec, posterior, draw, target)
    return None if fn is None else _quiet(fn)


def _counterpart(spec: MethodSpec, posterior, draw, target) -> Callable | None:
    """``x -> Captum's attribution`` for ``spec`` (the name and options unsure runs), or ``None``
    where Captum has no implementation or the options leave its defaults (a reference other than
    black, another inner method of SmoothGrad, ``steps="auto"``)."""
    from captum import attr as ca

    f = TargetFunction(posterior, draw, resolve_target(target), target_name(target))
    o = spec.options
    if spec.name == "grad" and set(o) <= {"reduce"}:
        return lambda x: ca.Saliency(f).attribute(x, abs=True)
    if spec.name == "inputgrad" and not o:
        return lambda x: ca.InputXGradient(f).attribute(x)
    if spec.name == "smoothgrad" and o.get("inner", "grad") == "grad" and set(o) <= {"inner", "samples", "sigma"}:
        n, sigma = o.get("samples", 50), o.get("sigma", 0.15)
        nt = ca.NoiseTunnel(ca.Saliency(f))
        return lambda x: nt.attribute(x, nt_type="smoothgrad", nt_samples=n,
                                      stdevs=float(sigma * (x.max() - x.min())), abs=True)
    if spec.name == "ig" and o.get("reference", "black") == "black" and set(o) <= {"steps", "reference", "internal_batch"} \
            and isinstance(o.get("steps", 100), int):
        steps, chunk = o.get("steps", 100), o.get("internal_batch", 256)
        ig = ca.IntegratedGradients(f)
        return lambda x: ig.attribute(x, baselines=torch.zeros_like(x), n_steps=steps, method="riemann_left",
                                      internal_batch_size=max(chunk, len(x)))
    if spec.name == "expected-gradients" and o.get("baseline", "black") == "black" and set(o) <= {"samples", "baseline"}:
        n = o.get("samples", 50)
        gs = ca.GradientShap(f)
        return lambda x: gs.attribute(x, baselines=torch.zeros_like(x[:1]), n_samples=n, stdevs=0.0)
    if spec.name == "gradcam" and not o:
        cams = [ca.LayerGradCam(f, layer) for layer in draw.feature_layers]

        def run(x):
            out = 0
            for cam in cams:  # one whole-ensemble forward and backward per member's layer
                out = out + ca.LayerAttribution.interpolate(cam.attribute(x, relu_attributions=True),
                                                            tuple(x.shape[-2:]), "bilinear")
            return out
        return run
    return None
