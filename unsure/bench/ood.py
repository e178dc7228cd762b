"""``unsure bench ood``: does the uncertainty rise out of distribution? (Sensoy et al. 2018, Sec. 5;
issue 18 item 2.)

The first ``--n`` images of the run's split are the in-distribution set. Each out-of-distribution
set (``--ood``, comma-separated) has ``--n`` images:

- ``rotated``: the same images turned by ``--angle`` degrees (:func:`unsure.metrics.rotate`);
- ``noise``: uniform noise images in [0, 1] (seeded);
- any data spec (``fashion-mnist``, ``digits``, ``idx:DIR``, ...): the first ``--n`` test images of
  that data set, converted to the model's input as ``unsure explain --images`` converts a file
  (bilinear resize, antialiased like PIL's; channels averaged or repeated): :func:`to_model_input`.

For every uncertainty measure that applies (total always; epistemic when the posterior has
several members; vacuity and dissonance for an evidential posterior) it reports the AUROC of the
measure for OOD (positive) vs in-distribution (:func:`unsure.metrics.ood.auroc`) and the mean of
the measure on each set. Writes ``ood.json``, ``ood.md`` and ``ood.png``.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import load
from ..data.load import parse_spec
from ..errors import UnsureError
from ..flags import invocation, split_argument
from ..measures import resolve_target
from ..metrics.ood import auroc
from ..metrics.rotation import rotate
from ..user_model import run_posterior
from ._suite import bar_plot
from .base import BENCHES, Bench, BenchResult, common_arguments, markdown_table, output_dir, write_result


def to_model_input(x: Tensor, channels: int, size: tuple[int, int]) -> Tensor:
    """Images ``[N,C',H',W']`` in [0, 1] -> ``[N,channels,H,W]``: channels averaged (to 1) or
    repeated (1 to 3), then a bilinear resize with antialiasing (the filter PIL's ``BILINEAR``
    resize uses, which ``unsure explain --images`` applies to image files)."""
    if x.shape[1] != channels:
        if channels == 1:
            x = x.mean(1, keepdim=True)  # [N,C',H,W] -> [N,1,H,W]
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise UnsureError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")
    if tuple(x.shape[2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0, 1).contiguous()


def default_ood(data: str) -> list[str]:
    """``rotated``, ``noise`` and the other built-in grey data set (digits <-> Fashion-MNIST)."""
    scheme, _ = parse_spec(data)
    return ["rotated", "noise", "fashion-mnist" if scheme == "digits" else "digits"]


def ood_sets(x_in: Tensor, names: list[str], data: str, angle: float,
             generator: torch.Generator) -> dict[str, Tensor]:
    """The out-of-distribution image sets ``{name: [N,C,H,W]}`` (module docstring), on the CPU."""
    n, C, H, W = x_in.shape
    sets = {}
    for name in names:
        if name == "rotated":
            sets[f"rotated {angle:g}"] = rotate(x_in, angle)
        elif name == "noise":
            sets["uniform noise"] = torch.rand(n, C, H, W, generator=generator)
        else:
            if name == data:
                raise UnsureError(f"--ood {name} is the in-distribution data itself")
            other = load(name, "test", limit=n)
            sets[name] = to_model_input(other.x, C, (H, W))
    return sets


def applicable_measures(posterior, members: int) -> list[str]:
    return ["total"] + (["epistemic"] if members > 1 else []) \
        + (["vacuity", "dissonance"] if getattr(posterior, "name", "") == "evidential" else [])


@torch.no_grad()
def scores(draw, x: Tensor, measures: list[str], device, batch_size: int = 500) -> tuple[dict[str, Tensor], Tensor]:
    """Each measure ``[N]`` of ``x [N,C,H,W]`` and the predicted class ``[N]`` (CPU)."""
    fns = {m: resolve_target(m) for m in measures}
    vals, preds = {m: [] for m in measures}, []
    for s in range(0, len(x), batch_size):
        z = draw(x[s:s + batch_size].to(device))  # [S,B,K]
        preds.append(torch.softmax(z, -1).mean(0).argmax(-1).cpu())  # [S,B,K] -> [B]
        for m, fn in fns.items():
            vals[m].append(fn(z).double().cpu())
    return {m: torch.cat(v) for m, v in vals.items()}, torch.cat(preds)


def ood_benchmark(posterior, data: str, n: int = 1000, ood: list[str] | None = None, angle: float = 90.0,
                  split: str = "test", seed: int = 0, batch_size: int = 500) -> BenchResult:
    """AUROC of each applicable uncertainty measure for every OOD set vs the in-distribution set."""
    names = ood or default_ood(data)
    d = load(data, split, limit=n)
    gen = torch.Generator().manual_seed(seed)
    draw = posterior.draw(torch.Generator().manual_seed(seed))
    measures = applicable_measures(posterior, len(draw))
    sets = ood_sets(d.x, names, data, angle, gen)
    s_in, pred = scores(draw, d.x, measures, posterior.device, batch_size)
    results = {"in": {"data": data, "split": split, "n": len(d.y),
                      "accuracy": float((pred == d.y).double().mean()),
                      "mean": {m: float(v.mean()) for m, v in s_in.items()}}, "ood": {}}
    for name, x in sets.items():
        s_out, _ = scores(draw, x, measures, posterior.device, batch_size)
        results["ood"][name] = {"n": len(x), "mean": {m: float(v.mean()) for m, v in s_out.items()},
                                "auroc": {m: auroc(s_in[m], s_out[m]) for m in measures}}
    rows = [[name, *[r["auroc"][m] for m in measures]] for name, r in results["ood"].items()]
    mrows = [[f"in: {data} ({split})", *[results["in"]["mean"][m] for m in measures]]] \
        + [[name, *[r["mean"][m] for m in measures]] for name, r in results["ood"].items()]
    md = (f"Out-of-distribution detection on {data} ({split}, first {len(d.y)} images, accuracy "
          f"{results['in']['accuracy']:.3f}); posterior {posterior.config().get('posterior')}, "
          f"{len(draw)} member(s).\n\nAUROC of each uncertainty measure, OOD (positive) vs in-distribution "
          f"(0.5 = chance, ↑ better):\n\n" + markdown_table(["OOD set", *measures], rows)
          + "\nMean of each measure:\n\n" + markdown_table(["set", *measures], mrows))
    cfg = {"bench": "ood", "data": data, "split": split, "n": n, "ood": names, "angle": angle, "seed": seed,
           "measures": measures, "posterior": posterior.config(), "device": str(posterior.device)}
    plots = {"ood.png": lambda p: bar_plot(p, [(f"AUROC of {m} ↑", {k: v["auroc"][m] for k, v in results["ood"].items()})
                                               for m in measures])}
    return BenchResult(results, md, cfg, plots)


@BENCHES.register("ood", "out-of-distribution detection: AUROC of vacuity / epistemic / total uncertainty")
class OODBench(Bench):
    name = "ood"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p)
        p.add_argument("--n", type=int, default=1000, help="images per set (in-distribution and each OOD set)")
        p.add_argument("--ood", default=None,
                       help="comma-separated OOD sets: rotated, noise, or a data spec (default: rotated, "
                            "noise and fashion-mnist for digits / digits otherwise)")
        p.add_argument("--angle", type=float, default=90.0, help="rotation of the 'rotated' set (degrees)")
        split_argument(p, train=False)
        p.add_argument("--batch-size", type=int, default=500, help="images per forward pass")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        names = [t.strip() for t in args.ood.split(",") if t.strip()] if args.ood else None
        out = ood_benchmark(post, data, args.n, names, args.angle, args.split, args.seed, args.batch_size)
        folder = output_dir(args, self.name)
        out.config["run"] = getattr(args, "run", None)
        write_result(folder, self.name, out, getattr(args, "json", None), invocation(args))
        print(out.markdown)
        print(f"wrote {folder}/ood.json, ood.md, ood.png")
        return 0
