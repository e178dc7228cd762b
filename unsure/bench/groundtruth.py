"""``unsure bench groundtruth``: maps scored against uncertainty causes planted at known places,
aleatoric and epistemic apart (issue 24; design and results in docs/results/groundtruth.md).

1. From the base data ``--data`` (any spec), generate training data with a planted aleatoric
   cause (:mod:`unsure.groundtruth`) and train ``--posterior`` on it in ``--out`` (reused when
   there), or take ``--run``/``--model`` trained on such data;
2. generate ``--n`` images of ``--split`` with an aleatoric cause, an epistemic cause (kinds by
   turns), both at different places, and clean controls, with masks (``causes-SPLIT.npz``);
3. check each cause (:mod:`unsure.groundtruth.validity`) and keep the valid ones;
4. attribute total, aleatoric and epistemic uncertainty with every method (``--engine ray`` as
   in the blurring bench) and score the maps against the masks: rank, mass, ROC-AUC, pointing
   (:mod:`unsure.metrics.groundtruth`), disentanglement on the both-cause images, the substitute
   panel (``bench.panel``) on ``--panel-n`` of the same images, paired tests.

Writes ``groundtruth.json`` = ``{"results": {TARGET: {METHOD: {"rank", "mass", "auroc",
"pointing", ..._mean, "images"}}}, "by_cause": {TARGET: {CAUSE: {METHOD: {...}}}},
"disentanglement": {METHOD: {...}}, "entanglement": {"aleatoric_on_epistemic", "epistemic_on_aleatoric",
...}`` (the model's own split, :mod:`unsure.groundtruth.entanglement`), ``"validity": {CAUSE: {"share",
"valid", "images"}},
"panel": {TARGET: {METHOD: {"0.02": {...}}}}, "agreement": {TARGET: {...}}, "uncertainty":
{VERSION: {MEASURE: mean}}, "config": ...}``, ``groundtruth.md``, ``groundtruth.png`` and, with both maps
scored on both-cause images, ``groundtruth-split.png`` (each map's split between the causes against
the model's).
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

from ..attribution.spec import parse_methods
from ..engine import engine_from_args
from ..errors import UnsureError, UnsureWarning
from ..flags import (COMMAND_METHODS, batch_size_argument, deprecated_alias, invocation, methods_argument,
                     split_argument)
from ..groundtruth.cache import TRAIN_LABELS, base_of_run, cached_posterior, partner_for
from ..groundtruth.generate import Design
from ..groundtruth.images import cause_images, default_other  # noqa: F401 (default_other: re-exported)
from ..groundtruth.ambiguity import PARTNERS
from ..groundtruth.epistemic import KINDS
from ..groundtruth.store import save_causes
from ..groundtruth.tasks import TARGETS, tasks
from ..groundtruth.validity import COMPARE, MIN_RISE, NEAR
from ..groundtruth import entanglement, score
from .base import BENCHES, Bench, BenchResult, common_arguments, output_dir, write_result
from .blurring_engine import add_blurring_engine_arguments, run_panel, source_of
from .common import parse_floats
from .groundtruth_report import figure, markdown, split_figure
from .panel import panel_scores

METHODS = COMMAND_METHODS["groundtruth"]
def _targets(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


SIGMAS = "0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0"  # the panel runs' coarse blur grid


def posterior_and_base(args: argparse.Namespace, out: Path):
    """``(posterior, base data spec, run label)`` from ``--run``/``--model`` or trained in ``--out``."""
    from ..run import resolve_device
    from ..user_model import posterior_from_args

    device = resolve_device(args.device)
    if args.run or args.model:
        post = posterior_from_args(args, device)
        generated = base_of_run(getattr(post, "run_config", {}) or {})
        base = args.data or generated
        args.partner = partner_for(getattr(post, "run_config", {}) or {}, args.partner)
        if not base:
            raise UnsureError("name the base data set with --data (the run was not trained on data "
                              "that 'unsure bench groundtruth' generated)")
        if not generated:
            warnings.warn("the model was not trained on data this bench generated: it never learned the blends "
                          "as ambiguity, so few aleatoric causes will pass (train one with --data alone)",
                          UnsureWarning, stacklevel=2)
        return post, base, args.run or args.model
    if not args.data:
        raise UnsureError("give --data SPEC (the base data set) to generate and train on, or --run/--model")
    milestones = tuple(int(m) for m in args.milestones.split(",") if m.strip()) if args.milestones else ()
    args.partner = args.partner or Design.partner
    post, run_dir = cached_posterior(out, args.data, design_of(args), args.posterior, args.members,
                                     args.epochs, args.seed, device, not args.no_progress, milestones,
                                     soft_labels=args.labels == "soft")
    args.run = str(run_dir)  # the Ray actors load it from there
    return post, args.data, str(run_dir)


def design_of(args: argparse.Namespace) -> Design:
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    return Design(kinds=kinds, epistemic_share=args.epistemic_share, test_weight=args.test_weight,
                  partner=args.partner or Design.partner).check()


def usable(post, specs, x1, target: str, draw) -> list:
    """The methods that accept ``target`` on this posterior (tried on one image); the others are
    skipped with a warning (e.g. ``cov-gi`` explains epistemic uncertainty only)."""
    from ..attribution import make_method

    keep = []
    for spec in specs:
        try:
            make_method(spec.name, **spec.options).attribute(post, x1, target, draw=draw,
                                                             generator=torch.Generator().manual_seed(0))
            keep.append(spec)
        except UnsureError as e:
            warnings.warn(f"method {spec.label!r} skipped for {target}: {e}", UnsureWarning, stacklevel=2)
    if not keep:
        raise UnsureError(f"no method accepts the target {target!r}")
    return keep


LOW_VALIDITY = 0.5  # below this share of valid causes the bench says the scores rest on few images


def validity_notes(validity: dict, ts: dict, n: int) -> list[str]:
    """One line per thing a reader of the scores must know: few valid causes, or a target with none
    (its maps are not scored, so its section is missing from the report)."""
    notes = []
    a = validity["all"]
    if a["valid"] == 0:
        notes.append(f"none of the {a['images']} cause images (aleatoric, epistemic and both) pass the validity "
                     "check for this posterior (an undertrained model, or --min-rise / --near too strict?): "
                     "nothing is scored")
        return notes
    if a["share"] < LOW_VALIDITY:
        notes.append(f"only {a['valid']} of {a['images']} cause images ({a['share']:.0%}; aleatoric, epistemic "
                     "and both) pass the validity check for this posterior: its uncertainty does not react to the "
                     "planted causes as designed (an undertrained model?), so the scores rest on the valid few")
    for t, task in ts.items():
        if len(task) == 0:
            cause = "planted" if t == "total" else t
            notes.append(f"{t} maps not scored: no {cause} cause of the {n} base images is valid for this posterior")
    return notes


def groundtruth_benchmark(post, base: str, methods, args: argparse.Namespace, out: Path) -> BenchResult:
    """Steps 2-4 of the module docstring on a loaded posterior."""
    specs = parse_methods(methods)
    design = design_of(args)
    if args.n < 1:
        raise UnsureError(f"--n must be positive, got {args.n}")
    draw = post.draw(torch.Generator().manual_seed(args.seed))
    ci = cause_images(post, draw, base, args.split, args.n, args.seed, design, args.other, args.min_rise,
                      args.near, args.compare)
    cs, v, other = ci.cs, ci.validity, ci.other
    save_causes(cs, out / f"causes-{args.split}.npz", {"base": base, "split": args.split,
                                                       "indices": ci.pick.tolist(), "other": other})
    validity = v.shares(cs.kind, cs.kinds)
    levels = {ver: {k: float(x.mean()) for k, x in u.items()} for ver, u in v.u.items()}
    ts = {t: task for t, task in tasks(cs, v).items() if t in args.targets}
    notes = validity_notes(validity, ts, len(cs))
    for line in notes:
        warnings.warn(line, UnsureWarning, stacklevel=2)
    engine = engine_from_args(args)
    source = source_of(args, base) if engine.name != "local" else None
    fractions = parse_floats(args.fractions, "fractions")
    sigmas = parse_floats(args.sigmas, "sigmas") if args.sigmas else None
    results, by_cause, per_image, maps, panel, seconds, agreement = {}, {}, {}, {}, {}, {}, {}
    for t, task in ts.items():
        if len(task) == 0:
            continue
        specs_t = usable(post, specs, task.x[:1].to(post.device), t, draw)
        run = run_panel(post, task.x.to(post.device), specs_t, [], "blur", args.seed, args.batch_size,
                        not args.no_progress, None, t, draw, engine, source, args.chunk_size, keep_maps=True)
        maps[t], seconds[t] = run["maps"], run["seconds"]
        results[t], by_cause[t], per_image[t] = score.localisation(maps[t], task, args.seed)
        if args.panel_n > 0:
            sub = torch.randperm(len(task), generator=torch.Generator().manual_seed(args.seed + 2))[:args.panel_n]
            pr = run_panel(post, task.x[sub].to(post.device), specs_t, fractions, args.replacements, args.seed,
                           args.batch_size, not args.no_progress, sigmas, t, draw, engine, source, args.chunk_size)
            panel[t] = {m: {f: {k: x for k, x in c.items() if not k.endswith("_per_image")} for f, c in r.items()}
                        for m, r in panel_scores(pr["by_replacement"], fractions).items()}
            panel[t]["_images"] = sub.tolist()
            agreement[t] = score.rank_agreement({m: r["rank"] for m, r in results[t].items()},
                                                {m: -panel[t][m][str(fractions[0])]["mean_rank"] for m in results[t]})
    model = entanglement.model_entanglement(v.u)  # the model's own split, per image
    dis = (score.disentangle(maps, ts, (cs.mask_aleatoric, cs.mask_epistemic), model)
           if {"aleatoric", "epistemic"} <= set(maps) else {})
    entangled = entanglement.summary(model, v.both.nonzero().squeeze(1)) if dis else {}
    if not dis and {"aleatoric", "epistemic"} <= set(args.targets):
        notes.append("disentanglement not scored: no both-cause image has both causes valid and scored")
        warnings.warn(notes[-1], UnsureWarning, stacklevel=2)
    config = {"base": base, "split": args.split, "n": len(cs), "other": other, "design": vars(design),
              "notes": notes,
              "min_rise": args.min_rise, "near": args.near, "compare": args.compare, "methods": [s.label for s in specs],
              "seed": args.seed, "seconds_per_image": seconds, "panel_n": args.panel_n,
              "fractions": fractions, "replacements": args.replacements, "sigmas": args.sigmas,
              "engine": engine.describe(), "device": str(post.device),
              "images": {t: {"count": len(task), "causes": {c: task.cause.count(c) for c in set(task.cause)}}
                         for t, task in ts.items()}}
    md = markdown(base, results, by_cause, dis, validity, levels, panel, agreement, per_image, fractions, config,
                  entangled)
    plots = {"groundtruth.png": lambda path: figure(path, cs, ts, maps, [s.label for s in specs])}
    if dis and entangled:
        plots["groundtruth-split.png"] = lambda path: split_figure(path, dis, entangled)
    return BenchResult(results, md, config, plots,
                       extra={"by_cause": by_cause, "disentanglement": dis, "entanglement": entangled,
                              "validity": validity,
                              "uncertainty": levels, "panel": panel, "agreement": agreement})


@BENCHES.register("groundtruth", "maps vs planted aleatoric / epistemic causes at known places (issue 24)")
class GroundTruthBench(Bench):
    name = "groundtruth"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p, run_required=False)
        for a in p._actions:
            if a.dest == "data":
                a.help = ("base data spec the causes are planted in (digits, fashion-mnist, colour:BASE, idx:DIR, "
                          "npz:FILE, ...); with --run, default: the base of the run's generated data")
        methods_argument(p, "groundtruth")
        p.add_argument("--posterior", default="ensemble", help="without --run: the posterior trained on the "
                                                               "generated data (ensemble, mc-dropout, laplace, ...)")
        p.add_argument("--members", type=int, default=5, help="without --run: ensemble members")
        p.add_argument("--epochs", type=int, default=4, help="without --run: training epochs")
        p.add_argument("--milestones", default="3", help="without --run: epochs at which the learning rate drops 10x")
        p.add_argument("--labels", choices=TRAIN_LABELS, default=TRAIN_LABELS[0],
                       help="without --run: train on the blends' label distributions (soft, default; chosen on "
                            "validation data, docs/results/groundtruth.md section 5) or on one label drawn per image")
        p.add_argument("--n", type=int, default=300, help="base images; each gives an aleatoric, an epistemic "
                                                          "and a both-cause image (and its clean control)")
        split_argument(p, train=False)
        p.add_argument("--target", dest="targets", default=",".join(TARGETS), type=_targets,
                       help="uncertainties explained, comma-separated")
        deprecated_alias(p, "--targets", "--target", "targets", type=_targets)
        p.add_argument("--kinds", default=",".join(KINDS), help="epistemic cause kinds, by turns over the images")
        p.add_argument("--partner", choices=PARTNERS, default=None,
                       help="the blends' second class: the own class's fixed pair or any other class (default: "
                            f"as the run was trained; without --run {Design.partner})")
        p.add_argument("--epistemic-share", type=float, default=Design.epistemic_share,
                       help="side of the epistemic patch / image side (test images only)")
        p.add_argument("--test-weight", type=float, default=Design.test_weight,
                       help="blend weight of the test images' aleatoric cause")
        p.add_argument("--other", default=None, help="data spec of the other-data patches (default digits; "
                                                     "fashion-mnist for a digits base)")
        p.add_argument("--min-rise", type=float, default=MIN_RISE, help="validity: nats a cause must add to its own kind")
        p.add_argument("--compare", default="ratio", choices=COMPARE,
                       help="validity: a cause must raise its own kind more than the other in nats, or in "
                            "proportion to each kind's level (ratio)")
        p.add_argument("--near", type=float, default=NEAR, help="validity: restoring must remove this share of the total rise")
        p.add_argument("--panel-n", type=int, default=30, help="images per target also run through the substitute panel (0: none)")
        p.add_argument("--fractions", default="0.02,0.05", help="panel: shares of the pixels removed")
        p.add_argument("--replacements", default="blur,zero,mean,noise,road", help="panel substitutes")
        p.add_argument("--sigmas", default=SIGMAS, help="panel blur grid (comma-separated)")
        batch_size_argument(p)
        add_blurring_engine_arguments(p)

    def main(self, args: argparse.Namespace) -> int:
        for t in args.targets:
            if t not in TARGETS:
                raise UnsureError(f"--targets: unknown target {t!r}; use {', '.join(TARGETS)}")
        out = output_dir(args, "groundtruth")
        post, base, label = posterior_and_base(args, out)
        result = groundtruth_benchmark(post, base, args.methods, args, out)
        result.config["run"] = label
        write_result(out, "groundtruth", result, args.json, invocation(args))
        print(result.markdown)
        print(f"wrote {out}/groundtruth.json, groundtruth.md, groundtruth.png, causes-{args.split}.npz")
        return 0
