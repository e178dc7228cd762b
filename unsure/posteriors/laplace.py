"""Last-layer Laplace (MacKay 1992; Daxberger et al. 2021, "Laplace Redux"; METHODS.md, Posteriors).

A Gaussian posterior over the head ``theta = [W | b]`` (``W [K,F]``, ``b [K]``, flattened
class-major to ``D = K*P`` entries, ``P = F + 1`` with the bias, ``F`` without) of a trained
network, centred at the trained head, with precision

    Lambda = GGN + delta * I,    GGN = sum_n J_n^T H_n J_n = sum_n H_n (x) phi_n phi_n^T,

``phi_n = [features(x_n), 1]`` ``[P]``, ``J_n = I_K (x) phi_n^T`` the Jacobian of the logits in
theta, ``H_n = diag(p_n) - p_n p_n^T`` the Hessian of the softmax cross-entropy in the logits
(so for the last layer the GGN *is* the Hessian of the negative log likelihood).

``hessian="full"`` keeps the ``D x D`` GGN. It is the default whenever ``D <= 4096`` (1290 x 1290
for the paper CNN on 10 classes: 13 MB in float64, about 0.6 s to decompose and ~10 s of
single-thread accumulation over 60,000 images, so there is nothing to gain by approximating);
larger heads (ResNet-18: ``D = 5130``) default to KFAC.
``hessian="kfac"`` uses the Kronecker factorisation of Ritter et al. (2018), in the homogeneous
coordinates of Martens & Grosse (2015) (bias folded into ``A`` by the appended 1):

    GGN ~= (G (x) A) / N,    G = sum_n H_n  [K,K],    A = sum_n phi_n phi_n^T  [P,P],

i.e. ``N E[H] (x) E[phi phi^T]``. laplace-torch uses the same ``1/N`` normaliser but keeps the bias
as a separate ``G``-only block; we keep one block so weights and bias stay correlated.

Both forms are stored by their eigendecomposition (``GGN = U diag(lam) U^T``; for KFAC
``U = U_G (x) U_A``, ``lam = lam_G (x) lam_A / N``), so the prior precision ``delta`` can change
without refactorising, and ``Lambda^{-1/2} = U diag((lam + delta)^{-1/2}) U^T`` is exact.

The prior precision is tuned by the Laplace approximation of the log marginal likelihood
(MacKay 1992; Immer et al. 2021, Eq. 3) with prior ``N(0, delta^{-1} I)``:

    log p(D | delta) ~= log p(D | theta*) + log p(theta* | delta) + D/2 log 2 pi - 1/2 log det Lambda
                      = log p(D | theta*) - delta/2 ||theta*||^2 + D/2 log delta
                        - 1/2 sum_i log(lam_i + delta)

(grid over ``log10 delta`` in [-6, 6] step 0.1, then golden-section refinement on the best bracket).
As in laplace-torch's post-hoc use, theta* is the trained head, not re-optimised under the prior.

Prediction samples ``theta_s = theta* + Lambda^{-1/2} z_s``, ``z_s ~ N(0, I)`` from the generator
(the mean is read from the network's head at draw time).
"""
from __future__ import annotations

import math
import warnings
from enum import Enum

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..errors import UnsureError
from .base import POSTERIORS, Draw, ModelFactory, Posterior, find_feature_layer

FULL_MAX_PARAMS = 4096  # D above this: a dense D x D GGN (128 MB at 4096) is refused; use kfac


class Hessian(str, Enum):
    FULL = "full"
    KFAC = "kfac"


class SampledHeadNet(nn.Module):
    """One Laplace member: the shared trunk ``net.features`` followed by its own sampled head.

    ``head`` is an ordinary ``nn.Linear`` (no gradient) holding ``theta_s``, so layer hooks
    (FullGrad, Grad-CAM) see the trunk's layers and this member's head, once per call.
    """

    def __init__(self, net: nn.Module, weight: Tensor, bias: Tensor | None, features=None):
        super().__init__()
        self.net = net
        self._features = features if features is not None else net.features
        K, F = weight.shape
        # skip_init: no random initialisation (it would consume the global RNG), filled below
        self.head = torch.nn.utils.skip_init(nn.Linear, F, K, bias=bias is not None,
                                             device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            self.head.weight.copy_(weight)
            if bias is not None:
                self.head.bias.copy_(bias)
        self.head.requires_grad_(False)

    @property
    def feature_layer(self) -> nn.Module | None:
        return find_feature_layer(self.net)

    def forward(self, x: Tensor) -> Tensor:
        """``[B,C,H,W] -> [B,K]``."""
        return self.head(self._features(x))


class LastLayerDraw(Draw):
    """A draw whose members share one trunk: ``draw(x)`` runs the trunk once and the S heads as
    one batched product. Calling a member alone (as per-member gradient methods do) runs the
    trunk for that member, so hooks then fire once per member call as :class:`Draw` promises."""

    def __init__(self, net: nn.Module, members: list[SampledHeadNet], weight: Tensor, bias: Tensor | None,
                 features=None):
        feat = find_feature_layer(net)
        # net first: the distinct trunk modules; then each member (its head) for hooks
        super().__init__(members=list(members), modules=[net, *members], feature_layers=[feat] * len(members))
        self.net, self.weight, self.bias = net, weight, bias  # [S,K,F], [S,K]
        self._features = features if features is not None else net.features

    def __call__(self, x: Tensor) -> Tensor:
        """``x [B,C,H,W] -> logits [S,B,K]``."""
        h = self._features(x)  # [B,F]
        z = torch.einsum("bf,skf->sbk", h, self.weight.to(h.dtype))
        return z if self.bias is None else z + self.bias.to(h.dtype)[:, None, :]  # [S,K] -> [S,1,K]


@POSTERIORS.register("laplace", "last-layer Laplace (full GGN or KFAC), prior precision by marginal likelihood")
class LastLayerLaplace(Posterior):
    """Last-layer Laplace approximation around a trained network.

    Parameters
    ----------
    net : a trained network ``x [B,C,H,W] -> [B,K]`` ending in an ``nn.Linear`` head
    samples : S, members per draw
    hessian : ``"full"`` (dense GGN) or ``"kfac"`` (Kronecker-factored); ``None``: full when
        ``D = K * P <= 4096``, else KFAC
    feature_fn : ``x [B,C,H,W] -> phi [B,F]``, the head's input (default below)
    head : the head, an ``nn.Linear`` inside ``net`` or its module path (``"fc"``,
        ``"classifier.1"``); default below

    Defaults, by convention: ``net.features`` / ``net.head`` (unsure's architectures); timm's
    ``forward_features`` + ``forward_head(pre_logits=True)`` with ``get_classifier()``; else the
    first of ``net.fc`` (torchvision ResNets), ``net.classifier``, ``net.head`` that is an
    ``nn.Linear``, whose input is captured by a forward hook while ``net`` runs (so ``net(x)``
    must end in that head). The head's output must be the network's logits.

    Use :meth:`fit_laplace` on the training data, then draws sample the head. The curvature,
    prior precision and data size are buffers, so ``state_dict`` saves them.
    """

    name = "laplace"

    def __init__(self, net: nn.Module, samples: int = 20, hessian: str | Hessian | None = None, *,
                 feature_fn=None, head: str | nn.Module | None = None):
        super().__init__()
        self.head_path, self.feature_fn = resolve_head(net, feature_fn, head)
        if samples < 1:
            raise UnsureError(f"laplace needs samples >= 1, got {samples}")
        self.net = net
        self.samples = int(samples)
        self.train_info = {}
        K, P = self.shape
        if hessian is None:
            hessian = Hessian.FULL if K * P <= FULL_MAX_PARAMS else Hessian.KFAC
        try:
            self.hessian = Hessian(hessian)
        except ValueError:
            raise UnsureError(f"laplace hessian must be 'full' or 'kfac', got {hessian!r}") from None
        if self.hessian is Hessian.FULL:
            check_full_size(K, P)
            self.register_buffer("eigvals", torch.zeros(K * P, dtype=torch.float64))
            self.register_buffer("eigvecs", torch.eye(K * P, dtype=torch.float64))
        else:
            self.register_buffer("eigvals_g", torch.zeros(K, dtype=torch.float64))
            self.register_buffer("eigvecs_g", torch.eye(K, dtype=torch.float64))
            self.register_buffer("eigvals_a", torch.zeros(P, dtype=torch.float64))
            self.register_buffer("eigvecs_a", torch.eye(P, dtype=torch.float64))
        self.register_buffer("prior_precision", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("n_data", torch.tensor(0.0, dtype=torch.float64))  # N, the KFAC normaliser
        self.register_buffer("log_lik", torch.tensor(0.0, dtype=torch.float64))  # log p(D | theta*)

    @property
    def head(self) -> nn.Linear:
        """The network's head (the ``nn.Linear`` whose weights are sampled)."""
        return self.net.get_submodule(self.head_path)

    def features(self, x: Tensor) -> Tensor:
        """``x [B,C,H,W] -> phi [B,F]``, the head's input."""
        return self.feature_fn(x)

    # ------------------------------------------------------------------ structure
    @property
    def shape(self) -> tuple[int, int]:
        """``(K, P)``: classes and inputs per class of theta (``P = F + 1`` with a bias)."""
        head = self.head
        return head.out_features, head.in_features + (head.bias is not None)

    @property
    def num_samples(self) -> int:
        return self.samples

    def theta_map(self) -> Tensor:
        """The trained head as ``[K, P]`` float64 (bias in the last column)."""
        head = self.head
        cols = [head.weight] + ([head.bias[:, None]] if head.bias is not None else [])
        return torch.cat(cols, 1).detach().double()

    def ggn_eigvals(self) -> Tensor:
        """Eigenvalues ``[D]`` of the (approximate) GGN, in the order of :meth:`_noise`'s basis."""
        if self.hessian is Hessian.FULL:
            return self._f64("eigvals")
        return self._kfac_eigvals().flatten()

    def _f64(self, name: str) -> Tensor:
        """A buffer in float64 (``.float()`` on the posterior would otherwise demote the curvature)."""
        return getattr(self, name).double()

    def _kfac_eigvals(self) -> Tensor:
        """``lam_G (x) lam_A / N`` as ``[K,P]``."""
        return self._f64("eigvals_g")[:, None] * self._f64("eigvals_a")[None, :] / self._f64("n_data").clamp_min(1)

    def ggn(self) -> Tensor:
        """The dense ``[D, D]`` GGN (KFAC: ``kron(G, A) / N``); for tests and inspection."""
        def dense(vals: str, vecs: str) -> Tensor:
            U = self._f64(vecs)
            return U @ torch.diag(self._f64(vals)) @ U.T

        if self.hessian is Hessian.FULL:
            return dense("eigvals", "eigvecs")
        G, A = dense("eigvals_g", "eigvecs_g"), dense("eigvals_a", "eigvecs_a")
        return torch.kron(G, A) / self._f64("n_data").clamp_min(1)

    # ------------------------------------------------------------------ fitting
    @torch.no_grad()
    def fit_laplace(self, x: Tensor, y: Tensor, batch_size: int = 256, progress: bool = False) -> "LastLayerLaplace":
        """Accumulate the GGN of the softmax likelihood over ``(x [N,C,H,W], y [N])`` (or label
        distributions ``y [N,K]``) at the
        trained head and decompose it. Does not change the prior precision."""
        if len(x) != len(y) or len(x) == 0:
            raise UnsureError(f"fit_laplace needs as many labels as images, got {len(x)} and {len(y)}")
        K, P = self.shape
        dev = self.device
        self.net.eval()
        full = self.hessian is Hessian.FULL
        acc = torch.zeros((K * P, K * P) if full else (K, K), dtype=torch.float64, device=dev)
        A = None if full else torch.zeros(P, P, dtype=torch.float64, device=dev)
        log_lik = torch.zeros((), dtype=torch.float64, device=dev)
        for s in tqdm(range(0, len(x), batch_size), desc="laplace", disable=not progress, leave=False):
            xb, yb = x[s:s + batch_size].to(dev), y[s:s + batch_size].to(dev)
            h = self.features(xb)  # [n,F]
            z = self.head(h).double()  # [n,K]
            logp = torch.log_softmax(z, -1)
            if yb.dim() == 2:  # label distributions [n,K] (unsure.data.soft): the expected log-likelihood
                log_lik += (yb.double() * logp).sum()
            else:
                log_lik += logp.gather(1, yb[:, None].long()).sum()
            p = logp.exp()  # [n,K]
            phi = self._homogeneous(h.double())  # [n,P]
            if full:
                acc += _ggn_full_batch(p, phi)
            else:
                acc += torch.diag(p.sum(0)) - p.T @ p  # sum_n diag(p_n) - p_n p_n^T
                A += phi.T @ phi
        self.n_data.fill_(len(x))
        self.log_lik.copy_(log_lik)
        if full:
            lam, U = torch.linalg.eigh(acc)
            self.eigvals.copy_(lam.clamp_min(0))  # PSD up to round-off
            self.eigvecs.copy_(U)
        else:
            for (vals, vecs), M in (((self.eigvals_g, self.eigvecs_g), acc), ((self.eigvals_a, self.eigvecs_a), A)):
                lam, U = torch.linalg.eigh(M)
                vals.copy_(lam.clamp_min(0))
                vecs.copy_(U)
        return self

    def _homogeneous(self, h: Tensor) -> Tensor:
        """``[n,F] -> [n,P]``: append the constant 1 that multiplies the bias."""
        if self.head.bias is None:
            return h
        return torch.cat([h, h.new_ones(len(h), 1)], 1)

    def log_marginal_likelihood(self, prior_precision: float | Tensor | None = None) -> Tensor:
        """Laplace log evidence (module docstring) at ``prior_precision`` (default: the stored one);
        a tensor of precisions gives a tensor of values of the same shape."""
        delta = self._f64("prior_precision") if prior_precision is None else \
            torch.as_tensor(prior_precision, dtype=torch.float64, device=self.log_lik.device)
        lam = self.ggn_eigvals()  # [D]
        sq = self.theta_map().square().sum()
        D = lam.numel()
        d = delta[..., None]  # [...] -> [...,1]
        logdet = torch.log(lam + d).sum(-1)
        return self._f64("log_lik") - 0.5 * delta * sq + 0.5 * D * torch.log(delta) - 0.5 * logdet

    def optimize_prior_precision(self, log10_range: tuple[float, float] = (-6.0, 6.0), step: float = 0.1,
                                 refine_iters: int = 40) -> float:
        """Maximise :meth:`log_marginal_likelihood` over delta: a grid in ``log10 delta`` and
        golden-section search in the bracket around the best grid point. Sets and returns delta."""
        if self.n_data.item() == 0:
            raise UnsureError("fit the Laplace approximation (fit_laplace) before tuning the prior precision")
        lo, hi = log10_range
        grid = torch.arange(lo, hi + step / 2, step, dtype=torch.float64, device=self.log_lik.device)
        vals = self.log_marginal_likelihood(10.0 ** grid)
        i = int(torch.argmax(vals))
        if i in (0, len(grid) - 1):
            warnings.warn(f"the Laplace marginal likelihood peaks at the edge of log10 prior precision "
                          f"{log10_range}; widen log10_range", stacklevel=2)
        a, b = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, len(grid) - 1)])

        def f(t: float) -> float:
            return float(self.log_marginal_likelihood(10.0 ** torch.tensor(t, dtype=torch.float64)))

        g = (math.sqrt(5) - 1) / 2
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = f(c), f(d)
        for _ in range(refine_iters):
            if fc >= fd:
                b, d, fd = d, c, fc
                c = b - g * (b - a)
                fc = f(c)
            else:
                a, c, fc = c, d, fd
                d = a + g * (b - a)
                fd = f(d)
        best = max((float(vals[i]), float(grid[i])), (fc, c), (fd, d))[1]
        self.prior_precision.fill_(10.0 ** best)
        return float(self.prior_precision)

    # ------------------------------------------------------------------ sampling
    def _noise(self, z: Tensor) -> Tensor:
        """``Lambda^{-1/2} z`` for standard normal ``z [S,K,P]`` -> ``[S,K,P]``."""
        K, P = self.shape
        delta = self._f64("prior_precision")
        if self.hessian is Hessian.FULL:
            scale = (self._f64("eigvals") + delta).rsqrt()  # [D]; delta = inf gives 0 (no covariance)
            return ((z.reshape(len(z), K * P) * scale) @ self._f64("eigvecs").T).reshape(-1, K, P)
        scale = (self._kfac_eigvals() + delta).rsqrt()  # [K,P]
        # (U_G (x) U_A) vec(M) = vec(U_G M U_A^T) for row-major vec
        return self._f64("eigvecs_g") @ (z * scale) @ self._f64("eigvecs_a").T

    def sample_heads(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """``n`` head samples: weights ``[n,K,F]`` and biases ``[n,K]`` (``None`` without a bias),
        in the head's dtype and device."""
        K, P = self.shape
        gdev = generator.device if generator is not None else self.log_lik.device
        z = torch.randn(n, K, P, generator=generator, dtype=torch.float64, device=gdev).to(self.log_lik.device)
        theta = self.theta_map().to(z.device) + self._noise(z)  # [n,K,P]
        head = self.head
        theta = theta.to(head.weight.dtype)
        if head.bias is None:
            return theta, None
        return theta[..., :-1], theta[..., -1]

    def draw(self, generator: torch.Generator | None = None) -> LastLayerDraw:
        self.net.eval()
        W, b = self.sample_heads(self.samples, generator)
        members = [SampledHeadNet(self.net, W[s], None if b is None else b[s], self.features)
                   for s in range(self.samples)]
        return LastLayerDraw(self.net, members, W, b, self.features)

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict:
        return {"posterior": self.name, "samples": self.samples, "hessian": self.hessian.value,
                "head": self.head_path}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "LastLayerLaplace":
        return cls(make_model(), samples=int(config.get("samples", 20)), hessian=config.get("hessian"),
                   head=config.get("head"))


def resolve_head(net: nn.Module, feature_fn, head) -> tuple[str, "callable"]:
    """``(module path of the head, feature function)`` for :class:`LastLayerLaplace`."""
    if not isinstance(net, nn.Module):
        raise UnsureError(f"last-layer Laplace needs an nn.Module, got {type(net).__name__}")
    names = {id(m): n for n, m in net.named_modules()}
    if isinstance(head, nn.Module):
        if id(head) not in names or names[id(head)] == "":
            raise UnsureError(f"head= must be a submodule of the network ({type(net).__name__})")
        path = names[id(head)]
    elif isinstance(head, str):
        try:
            net.get_submodule(head)
        except AttributeError:
            raise UnsureError(f"{type(net).__name__} has no module {head!r} (head=)") from None
        path = head
    elif head is None:
        path = _default_head(net, feature_fn)
    else:
        raise UnsureError(f"head= must be a module path or an nn.Linear, got {type(head).__name__}")
    mod = net.get_submodule(path)
    if not isinstance(mod, nn.Linear):
        raise UnsureError(f"last-layer Laplace needs an nn.Linear head; {path!r} is a {type(mod).__name__}")
    if feature_fn is not None:
        if not callable(feature_fn):
            raise UnsureError(f"feature_fn= must be callable x -> [B,F], got {type(feature_fn).__name__}")
        return path, feature_fn
    if path == "head" and callable(getattr(net, "features", None)):
        return path, net.features
    if callable(getattr(net, "forward_head", None)) and callable(getattr(net, "forward_features", None)) \
            and callable(getattr(net, "get_classifier", None)) and net.get_classifier() is mod:
        return path, lambda x: net.forward_head(net.forward_features(x), pre_logits=True)  # timm
    return path, HeadInput(net, mod)


def _default_head(net: nn.Module, feature_fn) -> str:
    names = {id(m): n for n, m in net.named_modules()}
    get_cls = getattr(net, "get_classifier", None)
    if callable(get_cls) and isinstance(get_cls(), nn.Linear) and id(get_cls()) in names:  # timm
        return names[id(get_cls())]
    if isinstance(getattr(net, "head", None), nn.Linear) and callable(getattr(net, "features", None)):
        return "head"
    for name in ("fc", "classifier", "head"):
        if isinstance(getattr(net, name, None), nn.Linear):
            return name
    raise UnsureError(f"last-layer Laplace needs to know the head of {type(net).__name__}: pass "
                      f"head='module.path' of its last nn.Linear (and feature_fn=, x -> features "
                      f"[B,F], if the head's input is not what net(x) feeds it)")


class HeadInput:
    """``x -> phi [B,F]``: the input of ``head`` while ``net(x)`` runs (hook removed after)."""

    def __init__(self, net: nn.Module, head: nn.Module):
        self.net, self.head = net, head

    def __call__(self, x: Tensor) -> Tensor:
        rec = {}

        def hook(_m, inp, _out):
            rec["phi"] = inp[0]

        h = self.head.register_forward_hook(hook)
        try:
            self.net(x)
        finally:
            h.remove()
        if "phi" not in rec:
            raise UnsureError(f"the head of {type(self.net).__name__} was not called by its forward")
        return rec["phi"].flatten(1)


def check_full_size(K: int, P: int) -> None:
    if K * P > FULL_MAX_PARAMS:
        raise UnsureError(f"a full last-layer GGN would be {K * P} x {K * P} (> {FULL_MAX_PARAMS}); "
                          "use hessian='kfac'")


def _ggn_full_batch(p: Tensor, phi: Tensor) -> Tensor:
    """``sum_n (diag(p_n) - p_n p_n^T) (x) phi_n phi_n^T`` for ``p [n,K]``, ``phi [n,P]`` -> ``[KP,KP]``."""
    n, K = p.shape
    P = phi.shape[1]
    v = (p[:, :, None] * phi[:, None, :]).reshape(n, K * P)  # p_n (x) phi_n: [n,K,P] -> [n,KP]
    out = -(v.T @ v)
    # diag(p_n) (x) phi_n phi_n^T is block diagonal; block k = sum_n p_nk phi_n phi_n^T
    blocks = (v.T @ phi).reshape(K, P, P)  # [KP,n] @ [n,P] -> [KP,P] -> [K,P,P]
    idx = torch.arange(K, device=p.device)
    out.view(K, P, K, P)[idx, :, idx, :] += blocks
    return out
