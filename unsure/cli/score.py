"""``unsure score``: score maps from a file (made by Captum, your own code or unsure) on every
property (``unsure.score``). Writes ``OUT/score.json`` (per-image values and means) and ``score.md``.

    unsure score --run runs/digits-ens5 --maps maps.npy [--indices 0,1,2 | --images x.npy] [--masks causes.npy]

With ``--masks`` (``[B,H,W]`` bool, the known cause of each image's uncertainty) the ground-truth
localisation scores join the others.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..errors import UnsureError
from ..flags import invocation, split_argument
from .commands import Command, register


def read_array(path: str, key: str | None = None) -> np.ndarray:
    """One array from ``.npy``, ``.npz`` or ``.safetensors`` (``key``, else the only array)."""
    p = Path(path)
    if not p.is_file():
        raise UnsureError(f"no such file: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".npz":
            arrays = dict(np.load(p, allow_pickle=False))
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file
            arrays = load_file(str(p))
        else:
            raise UnsureError(f"{path}: expected .npy, .npz or .safetensors")
    except (ValueError, OSError) as e:
        raise UnsureError(f"{path}: cannot read ({e})") from e
    if key is not None:
        if key not in arrays:
            raise UnsureError(f"{path} has no array {key!r}; it has {sorted(arrays)}")
        return arrays[key]
    if len(arrays) != 1:
        raise UnsureError(f"{path} holds {sorted(arrays)}: name one with --key")
    return next(iter(arrays.values()))


def _args(p: argparse.ArgumentParser) -> None:
    from ..bench.base import common_arguments
    from ..score import SCORERS

    common_arguments(p)
    p.add_argument("--maps", required=True, metavar="FILE", help="maps [B,H,W] or [B,C,H,W]: .npy, .npz or .safetensors")
    p.add_argument("--key", default=None, help="the array's name in an .npz / .safetensors file")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--images", default=None, metavar="FILE", help="the images [B,C,H,W] in [0,1] the maps explain")
    src.add_argument("--indices", default=None, help="comma-separated indices of the images in --split (default 0..B-1)")
    split_argument(p)
    p.add_argument("--target", default="epistemic", help="what the maps explain: epistemic, total, class, ...")
    p.add_argument("--metrics", default=None, help=f"comma-separated scorers (default: all that apply): {', '.join(SCORERS)}")
    p.add_argument("--masks", default=None, metavar="FILE",
                   help="known causes [B,H,W] bool (.npy, .npz or .safetensors; True: a pixel of the cause of "
                        "that image's uncertainty): adds gt-rank, gt-mass, gt-auroc, gt-pointing")
    p.add_argument("--masks-key", default=None, help="the masks' array name in an .npz / .safetensors file")
    p.add_argument("--method", default=None,
                   help="the unsure method that made the maps, re-run by repeatability, input stability and rank improvement")


def _run(args: argparse.Namespace) -> int:
    from ..bench._suite import load_split
    from ..bench.base import markdown_table, output_dir, write_outputs
    from ..metrics.base import header
    from ..score import score
    from ..user_model import run_posterior

    post, data = run_posterior(args)
    maps = torch.from_numpy(np.ascontiguousarray(read_array(args.maps, args.key))).float()
    B = maps.shape[0] if maps.ndim >= 3 else 0
    if args.images:
        x = torch.from_numpy(np.ascontiguousarray(read_array(args.images))).float()
        idx = None
    else:
        d = load_split(data, args.split)
        try:
            idx = list(range(B)) if args.indices is None else [int(i) for i in args.indices.split(",")]
        except ValueError as e:
            raise UnsureError(f"--indices must be comma-separated integers, got {args.indices!r}") from e
        if any(not 0 <= i < len(d.x) for i in idx):
            raise UnsureError(f"--indices must lie in [0, {len(d.x)}) for {data} {args.split}")
        x = d.x[idx]
    masks = None
    if args.masks:
        m = read_array(args.masks, args.masks_key)
        if m.dtype != np.bool_:
            raise UnsureError(f"{args.masks}: masks must be bool [B,H,W] (True: a pixel of the cause), got dtype {m.dtype}")
        masks = torch.from_numpy(np.ascontiguousarray(m))
    s = score(post, x, maps, args.target, args.metrics, method=args.method, seed=args.seed, masks=masks)
    out = output_dir(args, "score")
    rows = [[header(k), v] for k, v in s.summary.items()]
    md = (f"Scores of `{args.maps}` ({len(x)} maps of {args.target}) on {data}: means over the images.\n\n"
          + markdown_table(["metric", "mean"], rows))
    results = {"summary": s.summary, "per_image": {k: v.tolist() for k, v in s.per_image.items()}}
    write_outputs(out, "score", results, {"maps": args.maps, "images": args.images, "indices": idx,
                                          "data": data, "masks": args.masks, **s.meta}, md, args.json, invocation=invocation(args))
    print(md)
    return 0


register(Command("score", "score maps from a file (.npy/.npz/.safetensors) on every property", _args, _run))
