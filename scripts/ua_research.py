"""UA-Backprop research sweeps (docs/ua-backprop-research.md): which variant wins the blurring test.

Usage: .venv/bin/python scripts/ua_research.py --split val --n 50 --grid coarse --configs CFG ...
       .venv/bin/python scripts/ua_research.py bench blurring ...   (= `unsure bench blurring ...`,
       with research fallbacks for the baselines `grad`, `inputgrad`, `random` if the library has
       not registered them: |dU/dx|, |dU/dx * x| and a uniform random map)
Loads runs/fmnist-ens5 if present (unsure.run.load_run), else the scratch proxy runs/proxy.
Maps are built from one set of per-member per-logit gradients where possible.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)
import unsure  # noqa: E402
from unsure.attribution._trace import per_logit_gradients  # noqa: E402
from unsure.attribution.ua_backprop import logit_terms, pixel_distribution  # noqa: E402
from unsure.data.load import load  # noqa: E402
from unsure.measures import decompose, epistemic, selection  # noqa: E402
from unsure.ops.blur import gaussian_blur_many as gaussian_blur  # noqa: E402
from unsure.metrics.blurring import SIGMAS, blurred_uncertainty, n_pixels, pixel_order, summarise  # noqa: E402

COARSE = (0.2, 0.4, 0.6, 1.0, 1.6, 2.4, 3.6, 5.0, 8.0, 12.0, 20.0)


def load_posterior(run: str | None):
    if run and Path(run, "config.json").is_file():
        from unsure.run import load_run
        return load_run(run), run
    from unsure.models.paper_cnn import PaperCNN
    from unsure.posteriors import DeepEnsemble
    post = DeepEnsemble([PaperCNN(1, 10, 28) for _ in range(5)])
    post.load_state_dict(torch.load("runs/proxy/ensemble5.pt"))
    return post.eval(), "runs/proxy"


def most_uncertain(draw, x, n):
    idx = selection.most_uncertain(draw, x, n, "epistemic", batch_size=1000)
    with torch.no_grad():
        return x[idx], epistemic(draw(x[idx]))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="runs/fmnist-ens5")
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--grid", default="coarse", choices=["coarse", "full"])
    ap.add_argument("--fractions", default="0.02")
    ap.add_argument("--configs", nargs="+", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    post, run = load_posterior(a.run)
    draw = post.draw()
    x, u0 = most_uncertain(draw, load("fashion-mnist", a.split).x, a.n)
    sigmas = COARSE if a.grid == "coarse" else SIGMAS
    fracs = [float(f) for f in a.fractions.split(",")]
    nmax = max(n_pixels(f, 28, 28) for f in fracs)
    ctx = Context(draw, x)
    rows = []
    print(f"# run={run} split={a.split} n={a.n} grid={a.grid} ({len(sigmas)} sigmas) seed={a.seed}", flush=True)
    for cfg in a.configs:
        t = time.time()
        maps = build(cfg, ctx, post)
        tm = time.time() - t
        gen = torch.Generator().manual_seed(a.seed)
        order = pixel_order(maps, gen)
        u = blurred_uncertainty(draw, x, order, nmax, sigmas, batch_size=512)
        row = {"config": cfg, "map_s": round(tm, 2)}
        for f in fracs:
            r = summarise(u[:, :n_pixels(f, 28, 28)], u0, f)
            row[f"murr@{f}"] = round(r.murr, 3)
            row[f"auc@{f}"] = round(r.auc, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"argv": sys.argv, "run": run, "rows": rows}, indent=1))


class Context:
    """Per-member per-logit input gradients, computed once and reused by the configs."""

    def __init__(self, draw, x):
        self.draw, self.x = draw, x
        self._g = None

    @property
    def grads(self):
        if self._g is None:
            gs = per_logit_gradients(self.draw, self.x)
            self.z = torch.stack([g.logits for g in gs])  # [S,B,K]
            self._g = torch.stack([g.input_grad for g in gs])  # [S,K,B,C,H,W]
        return self._g


def opts(cfg):
    name, *kv = cfg.split(":")
    o = {}
    for item in kv:
        k, v = item.split("=")
        o[k] = v
    return name, o


def build(cfg, ctx, post):
    """Maps ``[B,H,W]`` for a config string NAME[:k=v...]."""
    name, o = opts(cfg)
    x = ctx.x
    T1, T2 = float(o.get("T1", 1.0)), float(o.get("T2", 0.3))
    if name == "random":
        return torch.rand(x.shape[0], 28, 28, generator=torch.Generator().manual_seed(1))
    if name == "ua":  # the library method (any path / variant)
        kw = {k: (float(v) if k in ("T1", "T2", "prune", "blur_sigma") and v != "auto"
                  else int(v) if k == "steps" else v) for k, v in o.items()}
        return unsure.attribute(post, x, method="ua-backprop", target="epistemic", **kw).maps
    g = ctx.grads  # [S,K,B,C,H,W]
    z = ctx.z
    S, K = z.shape[:2] if False else (z.shape[0], z.shape[2])
    xe = x.unsqueeze(0).unsqueeze(0)  # [B,C,H,W] -> [1,1,B,C,H,W]
    zr = z.detach().requires_grad_(True)
    with torch.enable_grad():
        U = epistemic(zr)
        (dUdz,) = torch.autograd.grad(U.sum(), zr)  # [S,B,K]
    gU = torch.einsum("sbk,skbchw->bchw", dUdz, g)  # chain rule: grad_x U_e
    ref = o.get("ref", "black")
    if ref == "black":
        delta = x
    else:  # blurred reference at sigma=ref: x - G_sigma x
        delta = x - gaussian_blur(x, [float(ref)])[0]
    if name == "grad":  # |grad U_e|
        return gU.abs().mean(1)
    if name == "inputgrad":  # |grad U_e * (x - ref)|
        return (gU * delta).abs().mean(1)
    if name == "signed":  # positive part of the first-order contribution to U_e from ref to x
        return (gU * delta).mean(1)
    if name == "class":  # class-level terms a_k = sum_m a(p_k^m) >= 0, each through its exact gradient
        zr2 = z.detach().requires_grad_(True)
        with torch.enable_grad():
            ak = decompose(zr2, "epistemic").sum(0)  # [B,K]
            eye = torch.eye(ak.shape[1], dtype=ak.dtype)[:, None, :].expand(-1, ak.shape[0], -1)  # [K,B,K]
            (D,) = torch.autograd.grad(ak, zr2, grad_outputs=eye, is_grads_batched=True)  # [K(k),S,B,K(j)]
        fld = torch.einsum("ksbj,sjbchw->kbchw", D, g) * delta.unsqueeze(0)  # [K,B,C,H,W]
        r = fld.clamp_min(0).mean(2)  # [K,B,H,W]
        rt = pixel_distribution(r, T2, floor=False)
        return torch.einsum("bk,kbhw->bhw", ak.detach(), rt)
    if name == "mem":  # member level: each member's own signed first-order field, weighted by its share
        a_p = decompose(z, "epistemic")
        A = a_p.sum(-1)  # [S,B] member shares KL_m/M >= 0
        c = torch.einsum("sbk,skbchw->sbchw", dUdz, g) * delta.unsqueeze(0)  # [S,B,C,H,W]
        r = c.clamp_min(0).mean(2)  # [S,B,H,W]
        rt = pixel_distribution(r, T2, floor=False)
        return torch.einsum("sb,sbhw->bhw", A, rt)
    # UA-Backprop family from per-logit gradients
    a_p = decompose(z, "epistemic")  # [S,B,K]
    a_z = logit_terms(z, a_p, T1)  # [S,B,K]
    if o.get("pos") == "1":  # member-positive mass: KL_m/M spread over |a(z_j^m)|
        tot = a_z.sum(-1, keepdim=True)
        a_z = tot * a_z.abs() / a_z.abs().sum(-1, keepdim=True).clamp_min(1e-30)
    rel = o.get("rel", "inputgrad")
    gg = g
    if o.get("center") == "member":  # deviation of member m's logit from the ensemble mean logit
        gg = g - g.mean(0, keepdim=True)
    if o.get("center") == "logit":  # gradient of log p_j^m instead of z_j^m
        p = torch.softmax(z, -1)  # [S,B,K]
        gg = g - torch.einsum("sbk,skbchw->sbchw", p, g).unsqueeze(1)
    if rel == "grad":
        c = gg
    else:
        c = gg * delta.unsqueeze(0).unsqueeze(0)
    if o.get("dir") == "1":  # keep the part that moves U up: sign of dU/dz_j^m
        s = dUdz.sign().permute(0, 2, 1)[..., None, None, None]  # [S,B,K] -> [S,K,B,1,1,1]
        r = (s * c).clamp_min(0).mean(3)
    else:
        r = c.abs().mean(3)  # [S,K,B,C,H,W] -> [S,K,B,H,W]
    Sn, Kn, B, H, W = r.shape
    rt = pixel_distribution(r.reshape(Sn * Kn, B, H, W), T2).reshape(Sn, Kn, B, H, W)
    return torch.einsum("sbk,skbhw->bhw", a_z, rt)


def register_fallback_baselines():
    """Register ``grad``, ``inputgrad`` and ``random`` if the library lacks them (research only)."""
    from unsure.attribution.base import METHODS, Attribution, Method

    def have(name):
        try:
            METHODS.get(name)
            return True
        except Exception:
            return False

    class _Grad(Method):
        times_input = False

        def _attribute(self, x, target, ctx):
            xr = x.detach().requires_grad_(True)
            with torch.enable_grad():
                (g,) = torch.autograd.grad(target(ctx.draw(xr)).sum(), xr)
            t = g * x if self.times_input else g
            return Attribution(t.abs().mean(1), t.detach(), {})

    if not have("grad"):
        METHODS.register("grad", "(research fallback) |d target / dx|, channel mean")(
            type("Grad", (_Grad,), {"name": "grad"}))
    if not have("inputgrad"):
        METHODS.register("inputgrad", "(research fallback) |d target / dx * x|, channel mean")(
            type("InputGrad", (_Grad,), {"name": "inputgrad", "times_input": True}))
    if not have("random"):
        class Random(Method):
            name = "random"

            def _attribute(self, x, target, ctx):
                g = ctx.generator
                m = torch.rand(x.shape[0], *x.shape[-2:], generator=g, dtype=x.dtype,
                               device=g.device if g is not None else "cpu").to(x.device)
                return Attribution(m, None, {})

        METHODS.register("random", "(research fallback) uniform random map")(Random)


if __name__ == "__main__":
    if sys.argv[1:2] == ["bench"]:
        register_fallback_baselines()
        from unsure.cli.main import main as cli_main
        sys.exit(cli_main(sys.argv[1:]))
    main()
