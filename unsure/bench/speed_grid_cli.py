"""``unsure bench speed --grid NAME|POINTS`` / ``--quick``: the grid run and its outputs
(``speed-grid.json``, ``speed-grid.md`` in ``--out``); the measuring is :mod:`.speed_grid`."""
from __future__ import annotations

import argparse

import torch
from tqdm.auto import tqdm

from ..attribution.spec import parse_methods
from ..errors import UnsureError
from ..flags import COMMAND_METHODS, invocation
from .base import markdown_table, output_dir, write_outputs
from .speed_grid import GRID_HEADER, TIERS, grid_rows, parse_grid, run_point
from . import speed_captum


def headline(results: dict, method: str = "default") -> dict | None:
    """Worst and best ratio to the floor of ``method`` over the points that ran it."""
    r = {p: v["methods"][method]["ratio_to_floor"] for p, v in results.items() if method in v["methods"]}
    if not r:
        return None
    worst, best = max(r, key=r.get), min(r, key=r.get)
    return {"method": method, "worst": r[worst], "worst_point": worst, "best": r[best], "best_point": best,
            "points_at_most_1.5": sum(v <= 1.5 for v in r.values()), "points": len(r)}


def main_grid(args: argparse.Namespace) -> int:
    from ..run import resolve_device

    grid = parse_grid("quick" if args.quick and not args.grid else args.grid)
    explicit = args.methods != COMMAND_METHODS["speed"]
    methods = parse_methods(args.methods) if explicit else None
    if args.repeats < 1:
        raise UnsureError(f"--repeats must be >= 1, got {args.repeats}")
    captum = not args.no_captum and speed_captum.available()
    device = resolve_device(args.device)
    results = {}
    bar = tqdm(grid, desc="grid points", disable=args.no_progress)
    for p in bar:
        specs = methods or parse_methods(",".join(TIERS[p.tier]))
        results[p.label] = run_point(p, specs, args.target, args.logit_std, args.repeats, args.seed, device,
                                     captum, progress=None if args.no_progress else bar.set_postfix_str,
                                     one_pass=_one_pass(args.one_pass), cap=args.max_seconds or None)
    basis = "CPU seconds of this process (time.process_time)" if device.type == "cpu" else "wall seconds"
    head = headline(results)
    md = (f"Speed grid on {device} ({torch.get_num_threads()} threads), random-weight ensembles "
          f"(logit std {args.logit_std:g}{'' if args.one_pass is None else ', one_pass=' + args.one_pass}), uniform images, target {args.target} (total where S = 1), best of {args.repeats}; "
          f"s / image: {basis}; x floor: time over one forward and one backward per sample of the "
          f"same target; point ARCH:CxSIZE:kK:sS:bB:nN:TIER (K classes, S samples, batch B, N images); "
          f"~: a measurement that would have taken over {args.max_seconds:g} s, timed on its first call "
          f"with one image (an upper bound, no memory)."
          f"{'' if captum else ' Captum not measured (--no-captum or not installed).'}\n\n"
          + markdown_table(GRID_HEADER, grid_rows(results), ".3g"))
    if head:
        md += (f"\nThe default: {head['points_at_most_1.5']} of {head['points']} points at most 1.5x its floor; "
               f"worst {head['worst']:.2f}x ({head['worst_point']}), best {head['best']:.2f}x "
               f"({head['best_point']}).\n")
    config = {"grid": [p.label for p in grid], "methods": [m.label for m in methods] if methods else "per tier",
              "tiers": TIERS, "target": args.target, "logit_std": args.logit_std, "repeats": args.repeats,
              "seed": args.seed, "device": str(device), "captum": captum, "one_pass": args.one_pass,
              "max_seconds": args.max_seconds,
              "captum_version": _captum_version() if captum else None}
    write_outputs(output_dir(args, "speed"), "speed-grid", {"points": results, "headline": head}, config, md,
                  args.json, invocation=invocation(args))
    print(md)
    return 0


def _one_pass(text: str | None):
    """``--one-pass auto|true|false`` -> DeepEnsemble's ``one_pass`` (``None``: not given)."""
    if text is None:
        return None
    v = {"auto": "auto", "true": True, "false": False}.get(text.strip().lower())
    if v is None:
        raise UnsureError(f"--one-pass must be auto, true or false, got {text!r}")
    return v


def _captum_version() -> str:
    import captum

    return captum.__version__
