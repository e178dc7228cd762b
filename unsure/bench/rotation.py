"""``unsure bench rotation``: rotated digits (Agarwal et al.; METHODS.md "Grad-CAM vs object").

(1) Accuracy, mean max probability and uncertainty (epistemic for several members, vacuity for an
evidential posterior, total always) of the first ``--n`` test images rotated 0..180 degrees.
(2) For each method (default Grad-CAM, class target): Dice and IoU between its thresholded map and
the object mask, upright vs rotated by ``--rotated`` degrees, with a paired Wilcoxon signed-rank
test (same images, bounded non-normal scores). Writes ``rotation.json``, ``rotation.md`` and
``rotation.png``.
"""
from __future__ import annotations

import argparse

import torch
from tqdm.auto import tqdm

from ..metrics.base import header
from ..metrics.rotation import cam_object_overlap, compare, rotate, rotation_curve
from ..user_model import run_posterior
from ._suite import (SuiteOptions, attribute_all, available_methods, config_of, finish,
                     line_plot, load_split, options_from_args, suite_arguments)
from .base import BENCHES, Bench, BenchResult, markdown_table


def rotation_benchmark(posterior, data: str, methods, opts: SuiteOptions, angles=tuple(range(0, 181, 10)),
                       rotated: float = 90.0, map_threshold: float = 0.5,
                       object_threshold: float = 0.5, digit: int | None = None) -> BenchResult:
    """Prediction/uncertainty vs angle and upright-vs-rotated Dice/IoU of every method's maps."""
    specs = available_methods(methods)
    d = load_split(data, opts.split)
    keep = torch.arange(len(d.y)) if digit is None else (d.y == digit).nonzero().squeeze(1)
    idx = keep[: opts.n]
    x, y = d.x[idx].to(posterior.device), d.y[idx]
    draw = posterior.draw(opts.generator())
    measures = ["total"] + (["epistemic"] if len(draw) > 1 else []) \
        + (["vacuity"] if getattr(posterior, "name", "") == "evidential" else [])
    cur = rotation_curve(draw, x, angles, measures)
    curve = {"angles": cur.angles.tolist(), "accuracy": (cur.pred == y[None]).double().mean(1).tolist(),
             "max_prob": cur.max_prob.double().mean(1).tolist(),
             **{m: v.double().mean(1).tolist() for m, v in cur.measures.items()}}
    xr = rotate(x, rotated)
    up, seconds = attribute_all(posterior, x, specs, opts.target, draw, opts)
    rot, _ = attribute_all(posterior, xr, specs, opts.target, draw, opts)
    results = {"curve": curve, "methods": {}}
    for label in tqdm(list(up), desc="rotation", disable=not opts.progress, leave=False):
        du, iu = cam_object_overlap(up[label], x.cpu(), map_threshold, object_threshold)
        dr, ir = cam_object_overlap(rot[label], xr.cpu(), map_threshold, object_threshold)
        cd, ci = compare(du, dr), compare(iu, ir)
        results["methods"][label] = {
            "dice_upright": float(du.nanmean()), "dice_rotated": float(dr.nanmean()), "dice_p": cd.p_value,
            "iou_upright": float(iu.nanmean()), "iou_rotated": float(ir.nanmean()), "iou_p": ci.p_value,
            "test": cd.test, "pairs": cd.n, "seconds_per_image": seconds[label]}
    rows = [[k, v["dice_upright"], v["dice_rotated"], f"{v['dice_p']:.2e}", v["iou_upright"],
             v["iou_rotated"], f"{v['iou_p']:.2e}"] for k, v in results["methods"].items()]
    crow = [[int(a) if float(a).is_integer() else a, acc, mp] + [curve[m][i] for m in measures]
            for i, (a, acc, mp) in enumerate(zip(curve["angles"], curve["accuracy"], curve["max_prob"]))]
    md = (f"Rotated digits on {data} ({opts.split}), {len(idx)} images.\n\nPrediction and uncertainty vs "
          f"angle (means over images):\n\n" + markdown_table(["angle", "accuracy ↑", "max prob"] + measures, crow)
          + f"\nMaps of {opts.target} vs object (pixels > {object_threshold}), map threshold {map_threshold} "
          f"of the min-max map; upright vs rotated {rotated:g} degrees; paired Wilcoxon signed-rank p-values.\n\n"
          + markdown_table(["method", f"Dice up {header('cam-dice')[-1]}", "Dice rot", "p", "IoU up",
                            "IoU rot", "p"], rows))
    cfg = config_of("rotation", posterior, data, specs, opts, angles=list(angles), rotated=rotated,
                    map_threshold=map_threshold, object_threshold=object_threshold, digit=digit,
                    images=idx.tolist(), measures=measures)
    panels = lambda: [("prediction vs rotation", "degrees", "mean over images",  # noqa: E731
                       {k: (curve["angles"], curve[k]) for k in ["accuracy", "max_prob"]}),
                      ("uncertainty vs rotation", "degrees", "mean over images",
                       {m: (curve["angles"], curve[m]) for m in measures})]
    return BenchResult(results, md, cfg, {"rotation.png": lambda p: line_plot(p, panels())})


@BENCHES.register("rotation", "rotated digits: uncertainty vs angle, Grad-CAM Dice/IoU upright vs rotated")
class RotationBench(Bench):
    name = "rotation"
    suite_run = staticmethod(rotation_benchmark)
    suite_target = "class"
    suite_n = 200
    suite_methods = "gradcam,"
    suite_order = 7

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "rotation", "class", 200)
        p.add_argument("--step", type=int, default=10, help="angle step in degrees (0..180)")
        p.add_argument("--rotated", type=float, default=90.0, help="angle of the rotated set")
        p.add_argument("--digit", type=int, default=None, help="only this class (default: all)")
        p.add_argument("--map-threshold", type=float, default=0.5, help="min-max normalised map value above which a pixel is in the map mask")
        p.add_argument("--object-threshold", type=float, default=0.5, help="channel-mean pixel value above which a pixel is in the object mask")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        out = rotation_benchmark(post, data, args.methods, options_from_args(args),
                                 tuple(range(0, 181, args.step)), args.rotated, args.map_threshold,
                                 args.object_threshold, args.digit)
        return finish(args, self.name, out)
