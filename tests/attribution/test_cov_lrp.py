"""CovLRP against a slow float64 reference: LRP written out layer by layer with dense matrices
(each conv / linear layer as its ``[out, in]`` matrix, the generalized gamma rule's four terms,
relevance routed to the max of each pooling window), one explanation per member and output,
``torch.cov(..., correction=0)``; and exact identities: with gamma = 0 on bias-free ReLU nets LRP
is gradient x input (CovLRP = CovGI), and bias-free layers conserve relevance for any gamma."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from unsure.attribution import make_method
from unsure.errors import UnsureError
from unsure.posteriors import DeepEnsemble

from _pathkit import C, H, W, images

D = C * H * W
TOL = dict(rtol=1e-9, atol=1e-12)


def relu_net(seed, bias=True, k=6):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(C, 4, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4 * (H // 2) * (W // 2), 10, bias=bias), nn.ReLU(), nn.Linear(10, k, bias=bias),
    ).double().eval()


def ensemble(bias=True, s=3):
    return DeepEnsemble([relu_net(40 + i, bias) for i in range(s)])


def dense(layer, a):
    """``(M [out,in], b [out])`` of an affine layer at input ``a [1,...]`` (conv: its matrix)."""
    n = a[0].numel()
    eye = torch.eye(n, dtype=a.dtype).reshape(n, *a.shape[1:])
    if isinstance(layer, nn.Linear):
        M = layer.weight.detach().clone()
        b = torch.zeros(M.shape[0], dtype=a.dtype) if layer.bias is None else layer.bias.detach()
        return M, b
    cols = nn.functional.conv2d(eye, layer.weight, None, layer.stride, layer.padding)  # [in, Cout, h, w]
    M = cols.reshape(n, -1).T.detach()
    out = cols.shape[1:]
    b = torch.zeros(M.shape[0], dtype=a.dtype) if layer.bias is None else \
        layer.bias.detach()[:, None, None].expand(out).reshape(-1)
    return M, b


def stab(d, eps=1e-6):  # zennit's stabilize
    return d + eps * (d.sign() + (d == 0).to(d.dtype))


def lrp(net, x1, k, gamma, gamma_out):
    """Relevance ``[D]`` of output k for one image, layer by layer."""
    acts = [x1]
    for layer in net:
        acts.append(layer(acts[-1]).detach())
    z_top = acts[-1][0]
    R = torch.zeros_like(z_top)
    R[k] = z_top[k]
    affine = [i for i, l in enumerate(net) if isinstance(l, (nn.Linear, nn.Conv2d))]
    for i in reversed(range(len(net))):
        layer, a = net[i], acts[i]
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            g = gamma_out if i == affine[-1] else gamma
            M, b = dense(layer, a)
            af = a.reshape(-1)
            ap, an = af.clamp(min=0), af.clamp(max=0)
            Mp, Mn = M + g * M.clamp(min=0), M + g * M.clamp(max=0)
            bp, bn = b + g * b.clamp(min=0), b + g * b.clamp(max=0)
            z = M @ af + b
            zp, zn = Mp @ ap + Mn @ an + bp, Mn @ ap + Mp @ an + bn
            Rf = R.reshape(-1)
            u = torch.where(z > 0, Rf / stab(zp), torch.zeros_like(Rf))
            v = torch.where(z < 0, Rf / stab(zn), torch.zeros_like(Rf))
            R = (ap * (Mp.T @ u + Mn.T @ v) + an * (Mn.T @ u + Mp.T @ v)).reshape(a.shape[1:])
        elif isinstance(layer, nn.MaxPool2d):  # winner takes all: the pooling's 0/1 Jacobian
            J = torch.autograd.functional.jacobian(lambda t: layer(t), a)  # [1,c,h,w,1,c,H,W]
            R = torch.einsum("o,oi->i", R.reshape(-1), J.reshape(R.numel(), -1)).reshape(a.shape[1:])
        elif isinstance(layer, nn.Flatten):
            R = R.reshape(a.shape[1:])
        # ReLU: relevance passes unchanged
    return R.reshape(-1)


def reference(post, x, target, form, gamma, gamma_out=0.0):
    out = []
    for b in range(x.shape[0]):
        x1 = x[b:b + 1]
        with torch.no_grad():
            z = torch.stack([net(x1)[0] for net in post.members])  # [S,K]
        K = z.shape[1]
        if target == "epistemic":
            pbar = torch.softmax(z, -1).mean(0)
            Wk = (torch.diag(pbar) - torch.outer(pbar, pbar)) / 2
        else:
            Wk = torch.zeros(K, K, dtype=x.dtype)
            Wk[int(target.split(":")[1]), int(target.split(":")[1])] = 1.0
        R = torch.stack([torch.stack([lrp(net, x1, k, gamma, gamma_out) for k in range(K)])
                         for net in post.members])  # [S,K,D]
        cov = torch.cov(R.reshape(R.shape[0], -1).T, correction=0).reshape(K, D, K, D)
        Cm = torch.einsum("kl,kilj->ij", Wk, cov)
        out.append(Cm.sum(1) if form == "marg" else Cm.diagonal())
    return torch.stack(out).reshape(x.shape)


@pytest.mark.parametrize("form", ["marg", "diag"])
@pytest.mark.parametrize("target,gamma,signed", [("epistemic", 0.1, False), ("class-logit:2", 0.25, True),
                                                 ("class-logit:4", 0.0, False)])
def test_matches_the_layer_by_layer_reference(target, gamma, signed, form):
    """``signed``: inputs of both signs (``unit_range=False``) exercise the negative-input terms."""
    post = ensemble()
    x = images(2) - (0.5 if signed else 0.0)
    res = make_method("cov-lrp", form=form, gamma=gamma).attribute(post, x, target, unit_range=not signed)
    want = reference(post, x, target, form, gamma)
    torch.testing.assert_close(res.raw, want, **TOL)
    assert want.abs().max() > 1e-6


def test_gamma_out_reaches_the_output_layer():
    post, x = ensemble(), images(2)
    res = make_method("cov-lrp", gamma=0.1, gamma_out=0.5).attribute(post, x, "class-logit:1")
    torch.testing.assert_close(res.raw, reference(post, x, "class-logit:1", "marg", 0.1, 0.5), **TOL)
    other = make_method("cov-lrp", gamma=0.1).attribute(post, x, "class-logit:1")
    assert (other.raw - res.raw).abs().max() > 1e-6


@pytest.mark.parametrize("form", ["marg", "diag"])
def test_lrp0_on_bias_free_relu_nets_is_cov_gi(form):
    post, x = ensemble(bias=False), images()
    b = make_method("cov-gi", form=form).attribute(post, x, "epistemic")
    # the default stabilizer 1e-6 moves a neuron with a tiny pre-activation z by z / (z + 1e-6)
    a = make_method("cov-lrp", form=form, gamma=0.0, epsilon=1e-14).attribute(post, x, "epistemic")
    torch.testing.assert_close(a.raw, b.raw, rtol=1e-6, atol=1e-14)
    default = make_method("cov-lrp", form=form, gamma=0.0).attribute(post, x, "epistemic")
    assert 1e-12 < float((default.raw - b.raw).abs().max()) < 1e-2 * float(b.raw.abs().max())


def test_bias_free_layers_conserve_relevance_for_any_gamma():
    """sum_i R_s[k,i] = y_s[k](x), so the marg map sums to Var_s y_s[k](x)."""
    post, x = ensemble(bias=False), images()
    res = make_method("cov-lrp", gamma=0.3, epsilon=1e-14).attribute(post, x, "class-logit:3")
    with torch.no_grad():
        want = post.draw()(x)[:, :, 3].var(0, correction=0)
    torch.testing.assert_close(res.maps.flatten(1).sum(1), want, rtol=1e-8, atol=1e-14)
    assert res.meta["completeness_delta"].max() < 1e-8 * want.max()


def test_forward_values_and_hooks_are_untouched():
    post, x = ensemble(), images()
    with torch.no_grad():
        before = post.draw()(x)
    make_method("cov-lrp").attribute(post, x, "epistemic")
    for net in post.members:
        assert all(not m._forward_hooks for m in net.modules())
    with torch.no_grad():
        torch.testing.assert_close(post.draw()(x), before, rtol=0, atol=0)


def test_errors():
    with pytest.raises(UnsureError, match="gamma must be a number >= 0"):
        make_method("cov-lrp", gamma=-1)
    with pytest.raises(UnsureError, match="cov-lrp explains a variance"):
        make_method("cov-lrp").attribute(ensemble(), images(2), "total")
