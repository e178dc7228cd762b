"""The mitigation experiment (paper Sec. 5.2.2): for every training size, seed and setting
(target x method x attention x space x lambda) a fresh ``mitigation-cnn`` is trained on a seeded
subset of the training split and evaluated (ACC, NLL) on the evaluation split, with the
evaluation images' own maps as attention.

"No attention" (lambda = 0) is trained once per (size, seed). Within a seed every setting shares
the initialisation and minibatch order, so differences are paired. The controls ``random`` (a
random map) and ``constant`` (every pixel equal) carry no information about the image; they do
not depend on the target, so they are trained once per setting, under the first target.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..attribution import make_method
from ..attribution.spec import MethodSpec, parse_method, parse_methods
from ..data import load, subset_order
from ..errors import UnsureError
from ..evaluate import metrics_from_logits
from .attention import attention_weights
from .maps import MapCache, MapKey, cached_maps, run_id
from .retrain import RetrainConfig, attended_logits, fit_temperature, retrain

# Maps that carry no information about the image, trained as controls. ``random`` is the
# registered attribution method; ``constant`` is a map with every pixel equal (A = 0 for ``map``,
# A = 1 for ``inverse``: the features scaled by 1 + lambda everywhere), built here, not registered.
CONTROLS = ("random", "constant")
CONTROL_MAPS = {"constant": "a uniform map (every pixel equal): the attention layer's pure rescaling"}


def method_key(spec: MethodSpec, channels: int | None = None) -> str:
    """The method with all its resolved options, so a changed library default misses the cache.

    Options a method resolves per image kind (UA-Backprop's ``"auto"`` settings) are resolved
    for images with ``channels`` channels."""
    if spec.name in CONTROL_MAPS:
        if spec.options:
            raise UnsureError(f"the {spec.name} control map takes no options, got {spec.options}")
        return spec.name
    method = make_method(spec.name, **spec.options)
    opts = method.options()
    if channels is not None and callable(getattr(method, "settings", None)):
        opts |= method.settings(channels)
    return ":".join([spec.name] + [f"{k}={v}" for k, v in sorted(opts.items())])


def parse_mitigation_methods(text: str) -> list[MethodSpec]:
    """Method specs as :func:`parse_methods`, plus the control maps of :data:`CONTROL_MAPS`."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    known = [i for i in items if parse_method(i).name not in CONTROL_MAPS]
    specs = {s.label: s for s in parse_methods(",".join(known))} if known else {}
    out = [specs.get(i) or parse_method(i) for i in items]
    for s in out:
        method_key(s)  # control maps: reject options early
    if not out:
        raise UnsureError("no methods given")
    return out


@dataclass
class Experiment:
    """The grid and the training recipe (``unsure bench mitigation``'s flags of the same names).

    map_seed : seeds the posterior draw of every map (``--seed``); seeds : the training seeds;
    eval_size : first N evaluation images (``None``: all); calibration_size : validation images
    the temperature is fitted on (0: off); cache : folder of cached maps.
    """

    methods: list[MethodSpec]
    lambdas: list[float]
    train_sizes: list[int]
    attention: list[str]
    spaces: list[str]
    targets: list[str]
    seeds: list[int]
    epochs: int = 120
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    gamma: float = 0.1
    eval_split: str = "test"
    eval_size: int | None = None
    subset_seed: int = 0
    calibration_size: int = 0
    map_batch_size: int = 50
    map_seed: int = 0
    cache: str = "bench-out/mitigation-cache"


@dataclass
class ExperimentRun:
    """What :func:`run_experiment` returns: one record per training, the JSON ``config``, the
    number of classes ``K``, and the evaluation / calibration set sizes."""

    records: list[dict]
    config: dict
    num_classes: int
    eval_size: int
    calibration_size: int


def run_experiment(posterior, data: str, run: str, exp: Experiment, progress: bool = True) -> ExperimentRun:
    """Train and evaluate every setting of ``exp`` with maps of ``posterior`` (the run ``run``).

    Raises :class:`UnsureError` for a negative lambda, a training size above the split, or
    ``calibration_size`` with ``eval_split="val"`` (before any training).
    """
    if any(lam < 0 for lam in exp.lambdas):
        raise UnsureError(f"lambda values must be >= 0, got {exp.lambdas}")
    if exp.calibration_size < 0:
        raise UnsureError(f"--calibration-size must be >= 0, got {exp.calibration_size}")
    if exp.calibration_size and exp.eval_split == "val":
        raise UnsureError("--calibration-size fits the temperature on validation images; it cannot "
                          "be combined with --eval-split val")
    tr = load(data, "train")
    ev = load(data, exp.eval_split, limit=exp.eval_size)
    va = load(data, "val", limit=exp.calibration_size) if exp.calibration_size else None
    if max(exp.train_sizes) > len(tr.y):
        raise UnsureError(f"--train-size {max(exp.train_sizes)} exceeds the {len(tr.y)} training images of {data}")
    perm = subset_order(len(tr.y), exp.subset_seed)
    cache = MapCache(exp.cache)
    rid = run_id(run)
    K = int(max(tr.y.max(), ev.y.max())) + 1
    targets, methods = exp.targets, exp.methods

    def maps_for(spec, target, split, x, subset):
        if spec.name == "constant":
            return torch.zeros(len(x), *x.shape[2:])
        key = MapKey(rid, method_key(spec, x.shape[1]), target, split, subset, exp.map_seed)
        return cached_maps(cache, key, posterior, x, spec.name, spec.options,
                           batch_size=exp.map_batch_size, progress=progress)

    # a control map does not depend on the target: trained once, under the first target
    grid = [(t, m, a, s, lam) for t, m, a, s, lam in
            itertools.product(targets, methods, exp.attention, exp.spaces, exp.lambdas)
            if lam > 0 and (m.name not in CONTROLS or t == targets[0])]
    total = len(exp.train_sizes) * len(exp.seeds) * (1 + len(grid))
    bar = tqdm(total=total, desc="trainings", disable=not progress)
    records, t_start = [], time.perf_counter()
    for n in exp.train_sizes:
        idx = perm[:n]  # nested subsets: 500 is a prefix of 1000
        x, y = tr.x[idx], tr.y[idx]
        subset = f"perm{exp.subset_seed}-{n}"
        ev_subset = f"first-{len(ev.y)}"
        maps = {(t, m.label): (maps_for(m, t, "train", x, subset),
                               maps_for(m, t, exp.eval_split, ev.x, ev_subset),
                               maps_for(m, t, "val", va.x, f"first-{len(va.y)}") if va else None)
                for t in targets for m in methods
                if m.name not in CONTROLS or t == targets[0]} if grid else {}
        for seed in exp.seeds:
            jobs = [("-", None, "-", "-", 0.0)] + grid
            for target, spec, attn, space, lam in jobs:
                cfg = RetrainConfig(lam=lam, space=space if lam > 0 else "latent", epochs=exp.epochs,
                                    batch_size=exp.batch_size, lr=exp.lr, momentum=exp.momentum,
                                    gamma=exp.gamma, device=str(posterior.device))
                if spec is None:
                    A, A_ev = torch.zeros(n, *x.shape[2:]), torch.zeros(len(ev.y), *ev.x.shape[2:])
                    A_va = torch.zeros(len(va.y), *va.x.shape[2:]) if va else None
                else:
                    M, M_ev, M_va = maps[(target, spec.label)]
                    A, A_ev = attention_weights(M, x, attn), attention_weights(M_ev, ev.x, attn)
                    A_va = attention_weights(M_va, va.x, attn) if va else None
                t0 = time.perf_counter()
                net, log = retrain(x, y, A, cfg, seed=seed, num_classes=K)
                z_ev = attended_logits(net, ev.x, A_ev)  # one pass serves raw and T-scaled metrics
                res = metrics_from_logits(z_ev, ev.y)
                rec = {"train_size": n, "seed": seed, "target": target, "space": cfg.space if lam > 0 else "-",
                       "method": "none" if spec is None else spec.label, "attention": attn,
                       "lam": lam, "accuracy": res["accuracy"], "nll": res["nll"], "ece": res["ece"],
                       "final_train_loss": log.losses[-1]}
                if va is not None:
                    T = fit_temperature(net, va.x, va.y, A_va)
                    cal = metrics_from_logits(z_ev / T, ev.y)
                    rec |= {"temperature": T, "nll_ts": cal["nll"], "ece_ts": cal["ece"]}
                records.append(rec | {"seconds": time.perf_counter() - t0})
                bar.update(1)
                bar.set_postfix(acc=f"{res['accuracy']:.4f}")
    bar.close()
    config = {"run": run, "run_id": rid, "data": data, "eval_split": exp.eval_split,
              "eval_size": len(ev.y), "train_sizes": exp.train_sizes, "subset_seed": exp.subset_seed,
              "calibration_size": exp.calibration_size,
              "methods": [m.label for m in methods],
              "method_keys": {m.label: method_key(m, tr.x.shape[1]) for m in methods},
              "lambdas": exp.lambdas, "attention": exp.attention,
              "spaces": exp.spaces, "targets": targets, "seeds": exp.seeds, "epochs": exp.epochs,
              "batch_size": exp.batch_size, "lr": exp.lr, "momentum": exp.momentum,
              "gamma": exp.gamma, "milestones": list(RetrainConfig(epochs=exp.epochs).train_config().milestones),
              "arch": "mitigation-cnn", "map_draw_seed": exp.map_seed, "device": str(posterior.device),
              "seconds": time.perf_counter() - t_start}
    return ExperimentRun(records, config, K, len(ev.y), len(va.y) if va else 0)
