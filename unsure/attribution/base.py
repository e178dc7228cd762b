"""The attribution interface: ``Method.attribute`` validates, chunks and formats; subclasses
implement one private hook ``_attribute``.

Every method explains a *target*, a callable ``[S,B,K] -> [B]`` (an uncertainty measure or a class
score); none hard-codes one. Every call uses one frozen draw of the posterior, so stochastic
posteriors (MC dropout, weight noise) are the same S members for every pass of the call.
"""
from __future__ import annotations

import abc
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..batching import AUTO, resolve_batch_size
from ..errors import UnsureError
from ..measures import ClassScore, dissonance, resolve_target, target_name, vacuity
from ..measures.targets import Target
from ..posteriors import Draw, Evidential, Posterior
from ..posteriors.protocol import as_posterior
from ..registry import Registry
from ..measures.checked import checked_target
from ..measures.one_sample import OneSampleNote, check_target, default_target, samples_of
from ..modes import keep_modes
from ..posteriors.guard import probe_once
from ..validate import check_generator, check_images, check_unit_range

METHODS: Registry = Registry("method")


@dataclass
class Attribution:
    """What every method returns.

    Attributes
    ----------
    maps : ``[B, H, W]`` pixel attribution
    raw : ``[B, C, H, W]`` per-channel attribution before the channel reduction, or ``None`` for
        methods that have none (Grad-CAM, random)
    meta : method, target, options and diagnostics (e.g. ``completeness_delta [B]``)
    inputs : the images ``[B,C,H,W]`` that were explained (a reference, for :meth:`plot`)
    """

    maps: Tensor
    raw: Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    inputs: Tensor | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return self.maps.shape[0]

    def plot(self, x: Tensor | None = None, **kwargs):
        """Image, map (with its colour bar) and overlay per image, in matplotlib; returns the
        ``Figure``. ``x`` defaults to the images explained; see :func:`unsure.show`."""
        from ..plot import plot

        return plot(self, x, **kwargs)


@dataclass
class Context:
    """Everything a method may need besides the images and the target."""

    posterior: Posterior
    draw: Draw
    generator: torch.Generator | None = None


def warn_if_not_evidential(target: Target, posterior: Posterior) -> None:
    """Vacuity and dissonance read the logits as Dirichlet ``log(alpha)`` (an :class:`Evidential`
    posterior's); for any other posterior their values mean nothing, so say so (a warning, not an
    error: a user's own Dirichlet model may return ``log(alpha)`` too)."""
    if (target is vacuity or target is dissonance) and not isinstance(posterior, Evidential):
        warnings.warn(f"target {target.__name__!r} reads the logits as Dirichlet log(alpha) and is "
                      f"meaningful only for an Evidential posterior, not {type(posterior).__name__}",
                      UserWarning, stacklevel=3)


def _cat_meta(chunks: list[dict]) -> dict:
    """Join per-chunk metadata: tensors with a batch axis are concatenated, the rest kept."""
    meta = dict(chunks[0])
    for k, v in chunks[0].items():
        if isinstance(v, Tensor) and v.ndim >= 1 and len(chunks) > 1:
            meta[k] = torch.cat([c[k] for c in chunks], dim=0)
    return meta


class Method(abc.ABC):
    """Base of all attribution methods.

    Class attributes
    ----------------
    name : registry name
    complete : the method claims ``sum(map) == f(x) - f(reference)``
    stochastic : with its default options the method draws random numbers (from the call's
        ``generator``), so the same seed reproduces a result and chunking may change it
    """

    name: ClassVar[str] = ""
    complete: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False

    def attribute(self, posterior, x: Tensor,
                  target: str | int | Tensor | Target | None = None, *,
                  generator: torch.Generator | None = None, batch_size: int | None = None,
                  draw: Draw | None = None, progress: bool = False,
                  unit_range: bool = True) -> Attribution:
        """Explain ``target`` for images ``x [B,C,H,W]``; returns :class:`Attribution`.

        Parameters
        ----------
        unit_range : refuse images outside [0, 1] (every baseline and metric assumes that range);
            ``False`` for inputs on another scale, such as the analytic toy functions of tests
        posterior : anything :func:`unsure.as_posterior` accepts
        target : a measure name, a class index, a ``LongTensor [B]`` of classes (one per image, as
            Captum's ``target=``), a :class:`ClassScore` or a callable ``[S,B,K] -> [B]``;
            ``None``: epistemic, or total (with a warning and ``meta["note"]``) for a one-sample
            posterior, whose epistemic uncertainty is 0. A one-sample posterior asked for
            epistemic or aleatoric maps raises :class:`UnsureError`.
        batch_size : images per chunk (default: all at once; ``"auto"``: from a memory budget,
            :mod:`unsure.batching`). Memory grows with it.
        draw : reuse a frozen posterior draw (default: a fresh ``posterior.draw(generator)``)
        """
        posterior = as_posterior(posterior)
        check_images(x)
        check_generator(generator)
        if unit_range:
            check_unit_range(x)
        if batch_size is not None and batch_size != AUTO and (
                isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise UnsureError(f"batch_size must be a positive int or 'auto', got {batch_size!r}")
        samples = samples_of(posterior)
        if target is not None:  # named targets fail before any model work
            check_target(target, samples, isinstance(posterior, Evidential))
            resolve_target(target)
        given = x.detach()  # kept for res.plot(): the caller's tensor, not a device copy
        x = x.to(posterior.device)
        with keep_modes(posterior):  # drawing sets eval mode; the caller's modes come back
            ctx = Context(posterior, draw if draw is not None else posterior.draw(generator), generator)
            ctx.draw.prepare(x)
            samples = probe_once(ctx.draw, x)  # S of this draw (a function posterior's is known only now)
            note = None
            if target is None:
                target, note = default_target(samples)
                if note:
                    warnings.warn(note, OneSampleNote, stacklevel=2)
            check_target(target, samples, isinstance(posterior, Evidential))
            tgt = resolve_target(target)
            if isinstance(tgt, ClassScore):
                tgt = tgt.for_batch(x.shape[0])
            warn_if_not_evidential(tgt, posterior)
            tgt = checked_target(tgt)  # a user's callable must return finite [B]
            bs = resolve_batch_size(batch_size, ctx.draw, x) or x.shape[0]
            starts = range(0, x.shape[0], bs)
            parts = []
            # a progress bar only when asked and there is more than one chunk (a disabled tqdm
            # still costs a small call as much as its arithmetic)
            bar = (tqdm(starts, desc=self.name, leave=False) if progress and len(starts) > 1 else starts)
            for s in bar:
                # a per-image class target [B] is cut with its images
                t = tgt.chunk(s, s + bs) if isinstance(tgt, ClassScore) else tgt
                parts.append(_no_graph_is_input_error(self.name, self._attribute, x[s:s + bs].detach(), t, ctx))
        maps = torch.cat([p.maps.detach() for p in parts], 0)
        if not torch.isfinite(maps).all():
            raise UnsureError(f"{self.name} maps contain NaN/inf for target {target_name(target)!r}: "
                              f"the model or target gave non-finite values or gradients")
        raw = None if parts[0].raw is None else torch.cat([p.raw.detach() for p in parts], 0)
        meta = {"method": self.name, "target": target_name(target), **self.options(),
                **_cat_meta([p.meta for p in parts]), **({"note": note} if note else {})}
        return Attribution(maps, raw, meta, inputs=given)

    @abc.abstractmethod
    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        """Attribute one chunk ``x [b,C,H,W]``; return maps ``[b,H,W]`` (and raw, meta)."""

    def options(self) -> dict[str, Any]:
        """The method's settings, recorded in every result's metadata."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")
                and isinstance(v, (int, float, str, bool, type(None), tuple))}


# what autograd says when the model's output has no graph back to the input
_NO_GRAPH = ("does not require grad", "appears to not have been used in the graph")


def _no_graph_is_input_error(name: str, fn, *args):
    """``fn(*args)``; autograd's failure on a model whose forward cuts the graph (it runs under
    ``torch.no_grad``, or detaches) becomes one line: the user's model, not unsure, needs changing."""
    try:
        return fn(*args)
    except RuntimeError as e:
        if not any(m in str(e) for m in _NO_GRAPH):
            raise
        raise UnsureError(f"{name} needs gradients of the model's output w.r.t. the input, but the model's "
                          "forward cuts them (it runs under torch.no_grad or calls .detach()); remove that, "
                          "or use a method without gradients (rise, shapley, random)") from None


def make_method(name: str, **options) -> Method:
    """Build a registered method from its name or a spec ``NAME[:key=value...]`` (the CLI's
    ``--methods`` items: ``"grad:reduce=mean"``), turning a bad option into a clear error.
    ``options`` add to the spec's; one given both ways is an error."""
    from .names import parse_method, warn_bare_name

    if isinstance(name, str) and ":" in name:
        spec = parse_method(name)
        twice = sorted(set(spec.options) & set(options))
        if twice:
            raise UnsureError(f"method {name!r}: option(s) {twice} given in the spec and as keywords")
        name, options = spec.name, {**spec.options, **options}
    cls = METHODS.get(name)
    warn_bare_name(name, options)
    check_options(name, options)
    return cls(**options)


#: options of :func:`unsure.as_posterior` that users pass to ``attribute`` by mistake
POSTERIOR_OPTIONS = {"preprocess", "samples", "num_estimators"}


def check_options(name: str, options) -> None:
    """One-line error for an option the method ``name`` does not take (before any work)."""
    cls = METHODS.get(name)
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # no introspectable signature: let the constructor decide
        return
    if not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        unknown = set(options) - set(sig.parameters) - {"self"}
        if unknown & POSTERIOR_OPTIONS:  # an option of the model, not of the method
            opt = sorted(unknown & POSTERIOR_OPTIONS)[0]
            raise UnsureError(f"{opt}= is an option of the model, not of method {name!r}: wrap the model "
                              f"first, post = unsure.as_posterior(model, {opt}=...) (preprocess=(mean, std) "
                              f"for a network that expects normalised images), then unsure.attribute(post, x)")
        if unknown:
            allowed = ", ".join(p for p in sig.parameters if p != "self") or "none"
            raise UnsureError(f"method {name!r} has no option(s) {sorted(unknown)}; options: {allowed}")


#: What ``unsure.attribute(post, x)`` runs without ``method=``: the setting with the best mean MURR
#: rank over the substitute panel (blur, zero, mean, noise, road) at 2% and 5%, averaged over the
#: *validation* splits of digits and Fashion-MNIST (docs/results/blurring-panel.md, section 1;
#: ``scripts/panel_select.py``): UA-Backprop, one joint group (``U`` itself), the reference
#: distribution ``mix`` (blur@1, blur@2, blur@4, black, mean) plus Gaussian noise, each reference's
#: term scaled to its maximum. Exactly complete like every UA-Backprop setting.
DEFAULT_METHOD = "ua-backprop"
DEFAULT_OPTIONS: dict[str, Any] = {"grouping": "joint", "reference": "mix+noise@0.3",
                                   "combine": "mean-of-scaled-relu"}
#: the same as a method spec (``NAME:key=value...``): the default ``--methods`` of ``unsure explain`` and
#: ``unsure explain-dataset``
DEFAULT_SPEC = ":".join([DEFAULT_METHOD, *(f"{k}={v}" for k, v in DEFAULT_OPTIONS.items())])


def attribute(posterior, x: Tensor, method: str | None = None, target=None, *,
              generator: torch.Generator | None = None, batch_size: int | None = None,
              progress: bool = False, unit_range: bool = True, **options) -> Attribution:
    """Explain where ``target`` of ``posterior`` comes from in ``x``.

    ``target`` defaults to the epistemic uncertainty; for a one-sample posterior (a single network:
    its epistemic uncertainty is 0) to the total, with a warning and ``res.meta["note"]``.

    ``unsure.attribute(posterior, x, target="epistemic")`` returns an :class:`Attribution` with
    ``maps [B,H,W]``. ``method`` is any name of ``unsure methods`` or a spec as on the command
    line (``"grad:reduce=mean"``); default ``"default"``, the validation panel winner
    (:data:`DEFAULT_SPEC`); ``"ua-backprop-class"`` is UA-Backprop's class variant (class grouping,
    blur reference). ``options`` go to the method (e.g. ``path="fullgrad"``, ``T1=``, ``T2=`` for
    UA-Backprop) and override the default's. Options of the *model* belong to
    :func:`unsure.as_posterior`: ``preprocess=(mean, std)`` for a network that expects normalised
    images (maps, references and metrics then stay in [0, 1] pixel space), ``samples=``.
    """
    return make_method("default" if method is None else method, **options).attribute(
        posterior, x, target, generator=generator, batch_size=batch_size, progress=progress,
        unit_range=unit_range)
