"""Blurring test of CLUE / delta-CLUE / UA-Backprop maps (docs/results/clue.md).

Same images, draw, pixel order and sigma grid as ``unsure bench blurring`` (so the same numbers),
but the blurred uncertainties ``u_n`` are computed once up to the largest fraction and every
smaller fraction is read off them (``summarise(u[:, :n])``): the bench recomputes the first 2%
steps for the 5% curve, which costs 40% more forward passes.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/clue_blurring.py --run runs/fmnist-ens5 \
        --methods clue:vae=runs/vae-fmnist,delta-clue:vae=runs/vae-fmnist,ua-backprop \
        --top 20 --fractions 0.02,0.05 --out bench-out/blurring-clue
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

torch.set_num_threads(1)
from unsure.attribution import make_method  # noqa: E402
from unsure.bench.base import environment, markdown_table  # noqa: E402
from unsure.attribution.spec import parse_methods  # noqa: E402
from unsure.bench.common import parse_floats  # noqa: E402
from unsure.measures.selection import most_uncertain  # noqa: E402
from unsure.data import load  # noqa: E402
from unsure.measures import epistemic  # noqa: E402
from unsure.metrics.blurring import blurred_uncertainty, n_pixels, pixel_order, summarise  # noqa: E402
from unsure.run import load_run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--methods", required=True)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--fractions", default="0.02,0.05")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--out", default="bench-out/blurring-clue")
    args = p.parse_args()
    post = load_run(args.run)
    data = post.run_config["data"]
    specs = parse_methods(args.methods)
    fractions = sorted(parse_floats(args.fractions, "fractions"))
    d = load(data, "test")
    draw = post.draw(torch.Generator().manual_seed(args.seed))
    idx = most_uncertain(draw, d.x, args.top)
    x = d.x[idx]
    H, W = x.shape[2:]
    n_max = n_pixels(fractions[-1], H, W)
    with torch.no_grad():
        u0 = epistemic(draw(x))  # [B]
    results, extra, maps = {}, {}, {}
    for spec in specs:
        method = make_method(spec.name, **spec.options)
        t0 = time.perf_counter()
        att = method.attribute(post, x, "epistemic", draw=draw, batch_size=args.batch_size,
                               generator=torch.Generator().manual_seed(args.seed))
        seconds = (time.perf_counter() - t0) / len(x)
        t1 = time.perf_counter()
        order = pixel_order(att.maps, torch.Generator().manual_seed(args.seed))
        u = blurred_uncertainty(draw, x, order, n_max)  # [B, n_max]
        results[spec.label] = {}
        for f in fractions:
            r = summarise(u[:, :n_pixels(f, H, W)], u0, f)
            results[spec.label][str(f)] = {"murr": r.murr, "auc": r.auc, "n_max": r.n_max}
        info = {"seconds_per_image": seconds, "blur_seconds": time.perf_counter() - t1}
        m = att.meta
        if "target_counterfactual" in m:
            uc = m["target_counterfactual"]
            uc = uc if uc.ndim == 1 else uc.mean(1)  # delta-CLUE: mean over starts
            info |= {"iterations_mean": float(m["iterations"].float().mean()),
                     "iterations_max": int(m["iterations"].max()),
                     "share_target_lowered": float((uc < m["target_original"]).float().mean()),
                     "median_target_ratio": float((uc / m["target_original"]).median()),
                     "latent_distance_median": float(m["latent_distance"].median())}
        extra[spec.label] = info
        maps[spec.label] = att.maps
        print(spec.label, json.dumps(results[spec.label]), json.dumps(info), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"run": args.run, "data": data, "split": "test", "top": len(idx), "fractions": fractions,
              "methods": [s.label for s in specs], "seed": args.seed, "batch_size": args.batch_size,
              "per_method": extra, "device": "cpu"}
    payload = {"results": results, "config": config, "environment": environment()}
    (out / "blurring.json").write_text(json.dumps(payload, indent=2) + "\n")
    from safetensors.torch import save_file

    save_file({k: v.cpu().contiguous() for k, v in maps.items()} | {"index": idx}, str(out / "maps.safetensors"))
    rows = [[m] + [results[m][str(f)][k] for f in fractions for k in ("murr", "auc")]
            + [extra[m]["seconds_per_image"]] for m in results]
    header = ["method"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR ↑", "AUC-URR ↓")] + ["s / image"]
    md = (f"Blurring test on {data} (test), the {len(idx)} most epistemically uncertain images; "
          f"medians over images.\n\n" + markdown_table(header, rows))
    (out / "blurring.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
