"""Uncertainty-conveyance similarity against the closed-form covariance reference of MC dropout
and DropConnect (Schiller et al. 2026, Sec. 3, "conveyance"; Bley, Lapuschkin, Samek & Montavon 2025).

Under MC dropout an explanation ``E(x; m)`` (default: input x gradient of the predicted class) is a
random map through the masks ``m``. To first order around the mean mask ``m = 1`` (unsure's masks are
``Bernoulli(1-p)/(1-p)``, mean 1, variance ``p/(1-p)``), with independent masks,

    Var[E_i] ~= sum_j  p_j / (1 - p_j) * (dE_i / dm_j)^2

the diagonal of ``J^T Sigma J`` (Schiller et al., Eq. for the "analytical approximation"). It is exact
when ``E`` is linear in the masks, e.g. input x gradient of a ReLU network whose only dropout comes
after its last non-linearity. The similarity of a map with this reference is the Spearman correlation
(or cosine similarity) of the two, per image: higher is better, 1 for the reference itself.

**(differences)** The authors approximate ``dE/dh`` by finite differences of size 0.1 on the bias of
each hidden ``Linear`` layer, i.e. on its *pre-activation*, and weight it by the squared
pre-activation; their dropout acts after the ReLU. For a ReLU network and a gradient explainer the
derivative with respect to a pre-activation is zero wherever the ReLU pattern does not change, so
their reference is made of pattern flips. We differentiate exactly with respect to the mask at the
dropout module (autograd, double backward). Convolutional dropout units are included (they use
``Linear`` layers only).

**DropConnect** (:class:`unsure.DropConnect`): the masks ``m_j`` sit on the weights ``w_j`` of the
chosen layers, ``Bernoulli(1-p)/(1-p)``, so the same formula holds with ``j`` over the masked
weights: ``Var[E_i] ~= p/(1-p) * sum_j (dE_i/dm_j)^2`` with ``dE_i/dm_j = w_j dE_i/dw_j`` at
``m = 1`` (:func:`dropconnect_reference`). It is exact when the masked layer is the classification
head of a ReLU network (the authors' ``layers_to_perturb=1``): the input x gradient of the
predicted class is then linear in the head's masks. **(differences)** The authors
(``JacobianGeneratorDropConnect``) take ``dE/dw`` by forward finite differences of size 0.1 on
each weight, and ``Sigma = p(1-p) diag(w^2)``: the variance of an *unscaled* ``Bernoulli(1-p)``
mask, while their Jacobian is taken at the full weights ``w`` (their eval mode), which is not the
mean ``(1-p) w`` of their masked weights. unsure's masks are scaled to mean 1, so the Jacobian point
is the mean and the variance is ``p/(1-p) w^2``; the derivative is exact (autograd). Their reference
perturbs "the last n ``nn.Linear`` modules" (n = ``layers_to_perturb``, 1 in their MNIST runs: the
head), which matches their masked layers unless n exceeds them; unsure uses exactly the
posterior's masked layers, and Conv layers may be masked too (theirs: Linear only). Their
reference explains each evaluated explainer's own map (IG, GradientSHAP, LRP, input x gradient);
unsure's uses one explainer, ``explainer``, for every method.
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from ..errors import UnsureError
from ._maps import cosine, flat_maps, spearman
from .base import register_metric

EXPLAINERS = ("inputgrad", "grad")


@contextlib.contextmanager
def _mask_hooks(modules, masks):
    """Multiply each dropout module's output by its mask ``[B,*F]`` (net in eval mode); removed on exit."""
    handles = []
    try:
        for mod, m in zip(modules, masks):
            handles.append(mod.register_forward_hook(lambda _mod, _inp, out, m=m: out * m))
        yield
    finally:
        for h in handles:
            h.remove()


def _feature_shapes(net, modules, x: Tensor) -> list[torch.Size]:
    shapes = {}

    def record(mod, _inp, out):
        shapes.setdefault(mod, out.shape[1:])

    hooks = [m.register_forward_hook(record) for m in modules]
    try:
        with torch.no_grad():
            net(x[:1])
    finally:
        for h in hooks:
            h.remove()
    missing = [m for m in modules if m not in shapes]
    if missing:
        raise UnsureError("a dropout module was not called in the forward pass")
    return [shapes[m] for m in modules]


def dropout_reference(posterior, x: Tensor, explainer: str = "inputgrad", chunk: int = 64) -> Tensor:
    """Closed-form variance ``[B,H,W]`` of ``explainer``'s map of the predicted class under MC dropout.

    Parameters
    ----------
    posterior : an :class:`unsure.MCDropout` (its ``net`` and dropout rates are used)
    x : ``[B,C,H,W]``
    explainer : "inputgrad" (``x * df_c/dx``, the authors' default) or "grad"
    chunk : output features per batched backward pass

    Returns
    -------
    ``[B,H,W]`` float64 (channels summed)
    """
    from ..posteriors.mc_dropout import MCDropout, _eval_mode, dropout_modules

    if not isinstance(posterior, MCDropout):
        raise UnsureError(f"the covariance reference needs an MC-dropout posterior, got {type(posterior).__name__}")
    if explainer not in EXPLAINERS:
        raise UnsureError(f"unknown explainer {explainer!r}; known: {', '.join(EXPLAINERS)}")
    net, mods = posterior.net, dropout_modules(posterior.net)
    if any(not isinstance(m, torch.nn.Dropout) for m in mods):
        raise UnsureError("the covariance reference supports element-wise nn.Dropout only")
    x = x.to(posterior.device)
    B = x.shape[0]
    with _eval_mode(net):
        shapes = _feature_shapes(net, mods, x)
        masks = [torch.ones((B, *s), dtype=x.dtype, device=x.device, requires_grad=True) for s in shapes]
        var = [float(m.p) / (1 - float(m.p)) for m in mods]
        xi = x.detach().clone().requires_grad_(True)
        with _mask_hooks(mods, masks), torch.enable_grad():
            logits = net(xi)  # [B,K]
            c = logits.argmax(1)
            g, = torch.autograd.grad(logits.gather(1, c[:, None]).sum(), xi, create_graph=True)
            e = (g * xi if explainer == "inputgrad" else g).flatten(1)  # [B,D]
            D = e.shape[1]
            ref = torch.zeros(B, D, dtype=torch.float64, device=x.device)
            for i0 in range(0, D, chunk):
                idx = torch.arange(i0, min(D, i0 + chunk), device=x.device)
                # row i of every image at once: images do not share masks, so d sum_b e[b,i] / dm[b] = de[b,i]/dm[b]
                eye = torch.zeros(len(idx), B, D, dtype=e.dtype, device=x.device)
                eye[torch.arange(len(idx)), :, idx] = 1
                grads = torch.autograd.grad(e, masks, grad_outputs=eye, is_grads_batched=True,
                                            retain_graph=True, allow_unused=True)
                for v, gm in zip(var, grads):
                    if gm is not None:
                        ref[:, idx] += v * gm.double().pow(2).flatten(2).sum(2).T  # [n,B,F] -> [B,n]
    C, H, W = x.shape[1:]
    return ref.reshape(B, C, H, W).sum(1).cpu()  # [B,D] -> [B,H,W]


def dropconnect_reference(posterior, x: Tensor, explainer: str = "inputgrad", chunk: int = 64) -> Tensor:
    """Closed-form variance ``[B,H,W]`` of ``explainer``'s map of the predicted class under DropConnect.

    ``Var[E_i] ~= p/(1-p) * sum_j (w_j dE_i/dw_j)^2`` over the weights ``w_j`` of the posterior's
    masked layers, at the trained weights (mask 1), the class fixed to the argmax of the unmasked net.

    Parameters
    ----------
    posterior : an :class:`unsure.DropConnect` (its ``net``, ``layers`` and ``p`` are used)
    x : ``[B,C,H,W]``
    explainer : "inputgrad" (``x * df_c/dx``) or "grad"
    chunk : map features per batched vector-Jacobian product

    Returns
    -------
    ``[B,H,W]`` float64 (channels summed)
    """
    from torch.func import functional_call, grad, vjp, vmap

    from ..posteriors.dropconnect import DropConnect, weight_key
    from ..posteriors.mc_dropout import _eval_mode

    if not isinstance(posterior, DropConnect):
        raise UnsureError(f"the DropConnect covariance reference needs a DropConnect posterior, got "
                          f"{type(posterior).__name__}")
    if explainer not in EXPLAINERS:
        raise UnsureError(f"unknown explainer {explainer!r}; known: {', '.join(EXPLAINERS)}")
    net, p = posterior.net, posterior.p
    mods = dict(net.named_modules())
    weights = {weight_key(n): mods[n].weight.detach() for n in posterior.layers}
    x = x.to(posterior.device).detach()
    D = x[0].numel()
    with _eval_mode(net):
        with torch.no_grad():
            logits = net(x)  # [B,K]
            onehot = torch.nn.functional.one_hot(logits.argmax(1), logits.shape[1]).to(x.dtype)  # [B,K]

        def explanation(masks: dict, xi: Tensor, oh: Tensor) -> Tensor:  # one image [C,H,W] -> [D]
            params = {k: w * masks[k] for k, w in weights.items()}
            g = grad(lambda xx: (functional_call(net, params, (xx[None],))[0] * oh).sum())(xi)
            return (g * xi if explainer == "inputgrad" else g).flatten()

        ones = {k: torch.ones_like(w) for k, w in weights.items()}

        def basis(i0: int) -> Tensor:  # rows i0.. of the identity [n,D], without the whole D x D
            n = min(chunk, D - i0)
            e = torch.zeros(n, D, dtype=x.dtype, device=x.device)
            e[torch.arange(n), torch.arange(i0, i0 + n)] = 1
            return e

        def variance(xi: Tensor, oh: Tensor) -> Tensor:  # [D]: sum_j (dE_i/dm_j)^2 for every i
            _, pullback = vjp(lambda m: explanation(m, xi, oh), ones)
            rows = []
            for i0 in range(0, D, chunk):
                (dm,) = vmap(pullback)(basis(i0))  # {k: [n,*W]}: rows i0.. of dE/dm
                rows.append(sum(v.pow(2).flatten(1).sum(1) for v in dm.values()))  # [n]
            return torch.cat(rows)

        with torch.no_grad():  # torch.func's grad and vjp differentiate inside; no outer graph is kept
            ref = vmap(variance)(x, onehot).double() * (p / (1 - p))  # [B,D]
    C, H, W = x.shape[1:]
    return ref.reshape(len(x), C, H, W).sum(1).cpu()  # [B,D] -> [B,H,W]


def has_reference(posterior) -> bool:
    """Whether ``posterior`` has a closed-form covariance reference (MC dropout or DropConnect)."""
    from ..posteriors.dropconnect import DropConnect
    from ..posteriors.mc_dropout import MCDropout

    return isinstance(posterior, (MCDropout, DropConnect))


def covariance_reference(posterior, x: Tensor, explainer: str = "inputgrad") -> Tensor:
    """The closed-form reference of ``posterior``'s kind: :func:`dropout_reference` or
    :func:`dropconnect_reference`."""
    from ..posteriors.dropconnect import DropConnect

    if isinstance(posterior, DropConnect):
        return dropconnect_reference(posterior, x, explainer)
    if not has_reference(posterior):
        raise UnsureError(f"the covariance reference needs an MC-dropout or DropConnect posterior, got "
                          f"{type(posterior).__name__}")
    return dropout_reference(posterior, x, explainer)


def conveyance_similarity(maps: Tensor, reference: Tensor) -> dict[str, Tensor]:
    """Spearman and cosine similarity of ``maps`` with ``reference`` (both ``[B,H,W]``), per image."""
    a, r = flat_maps(maps), flat_maps(reference, "reference")
    if a.shape != r.shape:
        raise UnsureError(f"maps {tuple(maps.shape)} and reference {tuple(reference.shape)} differ in shape")
    return {"spearman": spearman(a.cpu(), r.cpu()), "cosine": cosine(a.cpu(), r.cpu())}


register_metric("conveyance-spearman", True, "uncertainty",
                "Spearman correlation with the closed-form MC-dropout / DropConnect covariance reference", conveyance_similarity)
register_metric("conveyance-cosine", True, "uncertainty",
                "cosine similarity with the closed-form MC-dropout / DropConnect covariance reference", conveyance_similarity)
