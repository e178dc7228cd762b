"""``unsure bench large-k``: UA-Backprop with and without ``prune=`` for many classes (spec, Cost).

No K = 100 data set is offline, so the network is a random-weight ensemble of paper CNNs with K
outputs on synthetic images uniform in [0, 1]; speed needs no data. A random initialisation
predicts nearly uniformly (every class term alike, nothing to prune), unlike a trained network,
so each member's last layer is rescaled until its logits on the images have standard deviation
``--logit-std`` (the mean top probability is reported). For each K and variant it records seconds
and peak memory per image of both, the pruned map's completeness error ``max |sum M - U| /
max(1, U)`` and its Spearman rank correlation with the unpruned map, image by image.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from ..batching import resolve_batch_size
from ..flags import batch_size_argument
from ..attribution import make_method
from ..errors import UnsureError
from ..models.paper_cnn import PaperCNN
from ..posteriors import DeepEnsemble
from .common import parse_floats
from ..flags import invocation
from .base import BENCHES, Bench, common_arguments, markdown_table, output_dir, write_outputs
from .speed import time_call


def random_ensemble(num_classes: int, members: int, x: torch.Tensor, logit_std: float,
                    seed: int) -> DeepEnsemble:
    """``members`` paper CNNs with ``num_classes`` outputs, seeded, each last layer scaled so its
    logits on ``x [B,C,H,W]`` have standard deviation ``logit_std``."""
    nets = []
    with torch.random.fork_rng(devices=[]):
        for i in range(members):
            torch.manual_seed((seed * 1000 + i) % 2**64)  # any --seed up to 2**63 - 1
            net = PaperCNN(x.shape[1], num_classes, x.shape[-1]).to(x.device).eval()
            with torch.no_grad():
                scale = logit_std / net(x).std().clamp_min(1e-12)
                net.fc2.weight.mul_(scale)
                net.fc2.bias.mul_(scale)
            nets.append(net)
    return DeepEnsemble(nets).to(x.device).eval()


def cpu_seconds(fn, x: torch.Tensor, batch_size: int, repeats: int) -> float:
    """Best-of-``repeats`` CPU seconds of this process per image (``time.process_time``): on a
    shared machine, wall time counts other people's work, CPU time only this call's."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for s in range(0, len(x), batch_size):
            fn(x[s:s + batch_size])
        best = min(best, time.process_time() - t0)
    return best / len(x)


def _maps(method, post, x, target, batch_size, seed):
    draw = post.draw(torch.Generator().manual_seed(seed))
    out = [method.attribute(post, x[s:s + batch_size], target, draw=draw) for s in range(0, len(x), batch_size)]
    maps = torch.cat([o.maps for o in out]).double().cpu()
    U = torch.cat([o.meta["uncertainty"] for o in out]).double().cpu()
    kept = torch.cat([o.meta["kept_logits"] for o in out]).double().cpu()
    return maps, U, kept


def compare(post, x, variant: str, prune: float, target: str, batch_size: int, repeats: int,
            seed: int) -> dict:
    """Time, memory, completeness and rank agreement of ``prune`` against no pruning."""
    res = {}
    specs = {"unpruned": {"variant": variant, "prune": None}, "pruned": {"variant": variant, "prune": prune}}
    maps = {}
    for name, opts in specs.items():
        method = make_method("ua-backprop", **opts)
        draw = post.draw(torch.Generator().manual_seed(seed))
        run = lambda xb: method.attribute(post, xb, target, draw=draw)  # noqa: E731
        s, m = time_call(run, x, batch_size, post.device, repeats)
        cpu = cpu_seconds(run, x, batch_size, repeats) if post.device.type == "cpu" else float("nan")
        M, U, kept = _maps(method, post, x, target, batch_size, seed)
        maps[name] = M
        err = ((M.sum((1, 2)) - U).abs() / U.abs().clamp_min(1)).max().item()
        res[name] = {"seconds_per_image": s, "cpu_seconds_per_image": cpu,
                     "peak_bytes_per_image": m, "completeness_max": err,
                     "kept_terms_mean": kept.mean().item(), "uncertainty_mean": U.mean().item()}
    from scipy.stats import spearmanr  # here: importing scipy.stats costs every command 1.5 s

    rho = [spearmanr(a.flatten().numpy(), b.flatten().numpy()).statistic
           for a, b in zip(maps["pruned"], maps["unpruned"])]
    res["speedup_wall"] = res["unpruned"]["seconds_per_image"] / res["pruned"]["seconds_per_image"]
    # on CPU the speed-up is read from CPU time (the machine may be shared), else from wall time
    res["speedup"] = (res["unpruned"]["cpu_seconds_per_image"] / res["pruned"]["cpu_seconds_per_image"]
                      if post.device.type == "cpu" else res["speedup_wall"])
    res["spearman_mean"], res["spearman_min"] = float(np.mean(rho)), float(np.min(rho))
    return res


def _ints(text: str, what: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UnsureError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 2:
        raise UnsureError(f"{what} must be integers >= 2, got {text!r}")
    return vals


@BENCHES.register("large-k", "UA-Backprop's prune= for many classes on a random-weight K-class ensemble")
class LargeKBench(Bench):
    name = "large-k"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p, run=False, data=False)
        p.add_argument("--classes", default="100,1000", help="comma-separated K")
        p.add_argument("--variants", default="class,paper", help="ua-backprop variants")
        p.add_argument("--prune", type=float, default=0.999, help="share of the terms' mass kept")
        p.add_argument("--members", type=int, default=5, help="ensemble members")
        p.add_argument("--image-size", type=int, default=28, help="side of the synthetic images")
        p.add_argument("--channels", type=int, default=1, help="channels of the synthetic images")
        p.add_argument("--logit-std", default="6,10,20",
                       help="comma-separated std of each member's logits on the images (random init: ~0.1)")
        p.add_argument("--n", type=int, default=20, help="synthetic images timed")
        batch_size_argument(p)
        p.add_argument("--repeats", type=int, default=2, help="best of this many timed runs")
        p.add_argument("--target", default="epistemic", help="uncertainty explained")

    def main(self, args: argparse.Namespace) -> int:
        from ..run import resolve_device

        ks, variants = _ints(args.classes, "--classes"), [v.strip() for v in args.variants.split(",") if v.strip()]
        if args.n < 1 or args.members < 1:
            raise UnsureError("--n and --members must be >= 1")
        device = resolve_device(args.device)
        gen = torch.Generator().manual_seed(args.seed)
        x = torch.rand(args.n, args.channels, args.image_size, args.image_size, generator=gen).to(device)
        stds = parse_floats(args.logit_std, "--logit-std")
        results, rows = {}, []
        for K, std in tqdm([(k, s) for k in ks for s in stds], desc="K x logit std", disable=args.no_progress):
            post = random_ensemble(K, args.members, x, std, args.seed)
            with torch.no_grad():
                top = torch.stack([m(x) for m in post.members]).softmax(-1).amax(-1).mean().item()
            res = results.setdefault(str(K), {})[str(std)] = {"mean_top_probability": top}
            for v in variants:
                bs = resolve_batch_size(args.batch_size, post.draw(torch.Generator().manual_seed(args.seed)), x)
                r = compare(post, x, v, args.prune, args.target, bs, args.repeats, args.seed)
                res[v] = r
                u, q = r["unpruned"], r["pruned"]
                rows.append([K, std, f"{top:.2f}", v, u["seconds_per_image"], q["seconds_per_image"],
                             u["cpu_seconds_per_image"], q["cpu_seconds_per_image"], r["speedup"],
                             u["peak_bytes_per_image"] / 2**20, q["peak_bytes_per_image"] / 2**20,
                             f"{q['kept_terms_mean']:.1f} / {u['kept_terms_mean']:.0f}",
                             f"{q['completeness_max']:.1e}", f"{r['spearman_mean']:.5f}", f"{r['spearman_min']:.5f}"])
        md = (f"UA-Backprop on {device} ({torch.get_num_threads()} threads): random-weight ensemble of "
              f"{args.members} paper CNNs, {args.n} uniform {args.channels}x{args.image_size}x"
              f"{args.image_size} images, target {args.target}, prune={args.prune}, batch "
              f"{args.batch_size}, best of {args.repeats}; top p: the members' mean top probability.\n\n"
              + markdown_table(["K", "logit std", "top p", "variant", "wall s/img unpruned",
                                "wall s/img pruned", "CPU s/img unpruned", "CPU s/img pruned",
                                "speed-up (CPU time on CPU)",
                                "peak MiB/img unpruned", "peak MiB/img pruned",
                                "terms kept / all (per image)", "completeness err (pruned)",
                                "Spearman mean", "Spearman min"], rows, ".4g"))
        config = {k: getattr(args, k) for k in ("classes", "variants", "prune", "members", "image_size",
                                                 "channels", "logit_std", "n", "batch_size", "repeats",
                                                 "target", "seed")}
        config["device"] = str(device)
        write_outputs(output_dir(args, "large-k"), "large-k", results, config, md, args.json,
                      invocation=invocation(args))
        print(md)
        return 0
