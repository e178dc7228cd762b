"""``unsure bench mitigation``: retraining with attribution maps as attention (paper Sec. 5.2.2).

For every training size, seed and setting (target x method x attention x space x lambda) a fresh
``mitigation-cnn`` is trained on a seeded subset of the training split and evaluated (ACC, NLL)
on the test split (or ``--eval-split val``), with the evaluation images' own maps as attention.
"No attention" (lambda = 0) is trained once per (size, seed) and is always in the table. Within a
seed every setting shares the initialisation and minibatch order, so differences are paired.

Controls: ``random`` (a random map) and ``constant`` (every pixel equal; with ``inverse`` the
features are scaled by ``1 + lambda`` everywhere) carry no information about the image, so a map
that helps only as much as they do helps through the attention layer, not through what it shows.
They are trained once per setting (they do not depend on the target), and every other row gets
its paired difference to them.

Writes ``mitigation.json`` (one record per training), ``mitigation.md`` (mean +- std over seeds)
and ``mitigation.png`` (accuracy vs lambda), plus ``mitigation-sizes.png`` (paired ΔACC and ΔNLL
vs training size) when a setting was run at two sizes or more. With ``--calibration-size N`` the
table also holds the test NLL after temperature scaling (fitted on N validation images). A
no-attention model under twice chance accuracy (the recipe does not train on the data) is flagged
in the table and on stderr.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev

import torch
from tqdm.auto import tqdm

from ..attribution import make_method
from ..attribution.spec import parse_method, parse_methods
from ..data import load, subset_order
from ..errors import UnsureError
from ..evaluate import metrics_from_logits
from ..mitigation import (MapCache, MapKey, RetrainConfig, attended_logits, attention_weights, cached_maps,
                          fit_temperature, retrain, run_id)
from ..mitigation.attention import Attention, Space, _enum
from ..user_model import run_posterior
from .base import BENCHES, Bench, common_arguments, markdown_table, output_dir, write_outputs
from ..flags import split_argument
from .common import parse_floats

SETTING = ("train_size", "target", "space", "method", "attention", "lam")


def _list(text: str, what: str, cast=str) -> list:
    vals = [t.strip() for t in str(text).split(",") if t.strip()]
    if not vals:
        raise UnsureError(f"no {what} given")
    try:
        return [cast(v) for v in vals]
    except ValueError:
        raise UnsureError(f"{what} must be a comma-separated list, got {text!r}") from None


def method_key(spec, channels: int | None = None) -> str:
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


# Maps that carry no information about the image, trained as controls. ``random`` is the
# registered attribution method; ``constant`` is a map with every pixel equal (A = 0 for ``map``,
# A = 1 for ``inverse``: the features scaled by 1 + lambda everywhere), built here, not registered.
CONTROLS = ("random", "constant")
CONTROL_MAPS = {"constant": "a uniform map (every pixel equal): the attention layer's pure rescaling"}


def _mean_std(vals: list[float]) -> tuple[float, float]:
    return mean(vals), (stdev(vals) if len(vals) > 1 else 0.0)


def parse_mitigation_methods(text: str) -> list:
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


def summarise(records: list[dict]) -> list[dict]:
    """Mean/std over seeds per setting, plus the paired differences to "no attention" and to each
    control map (``random``, ``constant``) trained in the same setting and seed (``vs[control]``):
    what the map's information adds beyond the attention layer itself. A control map does not
    depend on the explained target, so it pairs with every target's row."""
    base = {(r["train_size"], r["seed"]): r for r in records if r["method"] == "none"}
    ctrl_key = ("train_size", "space", "attention", "lam", "seed")
    ctrls: dict[str, dict[tuple, dict]] = {c: {} for c in CONTROLS}
    for r in records:
        if r["method"] in ctrls:
            ctrls[r["method"]].setdefault(tuple(r[k] for k in ctrl_key), r)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[tuple(r[k] for k in SETTING)].append(r)
    rows = []
    for key, rs in groups.items():
        row = dict(zip(SETTING, key)) | {"seeds": len(rs), "vs": {}}
        row["acc_mean"], row["acc_std"] = _mean_std([r["accuracy"] for r in rs])
        row["nll_mean"], row["nll_std"] = _mean_std([r["nll"] for r in rs])
        b = [base[(r["train_size"], r["seed"])] for r in rs]
        row["dacc_mean"], row["dacc_std"] = _mean_std([r["accuracy"] - q["accuracy"] for r, q in zip(rs, b)])
        row["dnll_mean"], row["dnll_std"] = _mean_std([r["nll"] - q["nll"] for r, q in zip(rs, b)])
        calibrated = all("nll_ts" in r for r in rs + b)
        if calibrated:  # NLL after temperature scaling (--calibration-size)
            row["nll_ts_mean"], row["nll_ts_std"] = _mean_std([r["nll_ts"] for r in rs])
            row["dnll_ts_mean"], row["dnll_ts_std"] = _mean_std([r["nll_ts"] - q["nll_ts"] for r, q in zip(rs, b)])
        for name, ctrl in ctrls.items():
            c = [ctrl.get(tuple(r[k] for k in ctrl_key)) for r in rs]
            if row["method"] in ("none", name) or any(q is None for q in c):
                continue
            d = {}
            d["acc_mean"], d["acc_std"] = _mean_std([r["accuracy"] - q["accuracy"] for r, q in zip(rs, c)])
            d["nll_mean"], d["nll_std"] = _mean_std([r["nll"] - q["nll"] for r, q in zip(rs, c)])
            if calibrated and all("nll_ts" in q for q in c):
                d["nll_ts_mean"], d["nll_ts_std"] = _mean_std([r["nll_ts"] - q["nll_ts"] for r, q in zip(rs, c)])
            row["vs"][name] = d
        rows.append(row)
    rows.sort(key=lambda r: (r["train_size"], r["method"] != "none", r["target"], r["space"],
                             r["method"], r["attention"], r["lam"]))
    return rows


def markdown(rows: list[dict]) -> str:
    header = ["train size", "target", "space", "method", "attention", "λ", "seeds",
              "ACC % ↑", "NLL ↓", "ΔACC pts vs none", "ΔNLL vs none"]
    calibrated = any("nll_ts_mean" in r for r in rows)
    if calibrated:
        header += ["NLL T-scaled ↓", "ΔNLL T-scaled vs none"]
    controls = [c for c in CONTROLS if any(c in r.get("vs", {}) for r in rows)]
    for c in controls:
        header += [f"ΔACC pts vs {c}", f"ΔNLL vs {c}"] + ([f"ΔNLL T-scaled vs {c}"] if calibrated else [])
    body = []
    for r in rows:
        line = [r["train_size"], r["target"], r["space"], r["method"], r["attention"], f"{r['lam']:g}",
                r["seeds"], f"{100 * r['acc_mean']:.2f} ± {100 * r['acc_std']:.2f}",
                f"{r['nll_mean']:.3f} ± {r['nll_std']:.3f}",
                f"{100 * r['dacc_mean']:+.2f} ± {100 * r['dacc_std']:.2f}",
                f"{r['dnll_mean']:+.3f} ± {r['dnll_std']:.3f}"]
        if calibrated:
            line += ([f"{r['nll_ts_mean']:.3f} ± {r['nll_ts_std']:.3f}",
                      f"{r['dnll_ts_mean']:+.3f} ± {r['dnll_ts_std']:.3f}"] if "nll_ts_mean" in r else ["-", "-"])
        for c in controls:
            d = r.get("vs", {}).get(c)
            line += ([f"{100 * d['acc_mean']:+.2f} ± {100 * d['acc_std']:.2f}",
                      f"{d['nll_mean']:+.3f} ± {d['nll_std']:.3f}"] if d else ["-", "-"])
            if calibrated:
                line += [f"{d['nll_ts_mean']:+.3f} ± {d['nll_ts_std']:.3f}" if d and "nll_ts_mean" in d else "-"]
        body.append(line)
    return markdown_table(header, body)


def stalled_baselines(rows: list[dict], num_classes: int) -> list[int]:
    """Training sizes whose no-attention model stays under twice chance accuracy: the recipe
    did not train there, so attention "gains" would only measure a rescued optimisation."""
    return sorted(r["train_size"] for r in rows
                  if r["method"] == "none" and r["acc_mean"] < 2.0 / num_classes)


def plot(rows: list[dict], path: Path) -> None:
    """Accuracy vs lambda, one panel per (train size, target, space), one line per method/attention."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["train_size"], r["target"], r["space"]) for r in rows if r["method"] != "none"})
    base = {r["train_size"]: r for r in rows if r["method"] == "none"}
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.8), squeeze=False)
    for ax, (size, target, space) in zip(axes[0], panels or [(None, None, None)]):
        lines = defaultdict(list)
        for r in rows:
            if (r["train_size"], r["target"], r["space"]) == (size, target, space):
                lines[f"{r['method']} / {r['attention']}"].append(r)
        b = base.get(size)
        for label, rs in sorted(lines.items()):
            rs = sorted(rs, key=lambda r: r["lam"])
            lam = ([0.0] if b else []) + [r["lam"] for r in rs]
            acc = ([b["acc_mean"]] if b else []) + [r["acc_mean"] for r in rs]
            err = ([b["acc_std"]] if b else []) + [r["acc_std"] for r in rs]
            ax.errorbar(lam, [100 * a for a in acc], [100 * e for e in err], marker="o", capsize=3, label=label)
        if b:
            ax.axhline(100 * b["acc_mean"], color="k", ls="--", lw=1, label="no attention")
        ax.set_title(f"n={size}, {target}, {space}")
        ax.set_xlabel("attention strength λ")
        ax.set_ylabel("accuracy % (mean ± std over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sizes(rows: list[dict], path: Path) -> list[str]:
    """Paired ΔACC and ΔNLL vs training-set size (paper Table 5's question), one line per
    method/attention/target/space/λ found at two sizes or more; a control map's line ignores the
    target (it does not depend on it). Returns the lines' labels; writes nothing (and returns [])
    when no setting was run at two sizes."""
    lines: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in rows:
        if r["method"] == "none" or r["lam"] == 0:
            continue
        what = r["space"] if r["method"] in CONTROLS else f"{r['target']}, {r['space']}"
        lines[f"{r['method']} / {r['attention']} ({what}, λ {r['lam']:g})"].setdefault(r["train_size"], r)
    lines = {k: v for k, v in lines.items() if len(v) >= 2}
    if not lines:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, by_size in sorted(lines.items()):
        sizes = sorted(by_size)
        rs = [by_size[n] for n in sizes]
        axes[0].errorbar(sizes, [100 * r["dacc_mean"] for r in rs], [100 * r["dacc_std"] for r in rs],
                         marker="o", capsize=3, label=label)
        axes[1].errorbar(sizes, [r["dnll_mean"] for r in rs], [r["dnll_std"] for r in rs],
                         marker="o", capsize=3, label=label)
    for ax, what in zip(axes, ("ΔACC pts vs no attention", "ΔNLL vs no attention (lower is better)")):
        ax.axhline(0, color="k", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xticks(sorted({n for v in lines.values() for n in v}))
        ax.get_xaxis().set_major_formatter(ScalarFormatter())
        ax.minorticks_off()
        ax.set_xlabel("training images")
        ax.set_ylabel(f"{what}\n(paired, mean ± std over seeds)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return sorted(lines)


# config entries that must agree for records of several runs to be comparable (paired) results
SHARED_CONFIG = ("run_id", "data", "eval_split", "eval_size", "subset_seed", "epochs", "batch_size",
                 "lr", "momentum", "gamma", "milestones", "arch", "map_draw_seed")


def merge_results(payloads: list[dict], tol: float = 1e-6) -> tuple[list[dict], dict]:
    """Pool the records of several ``mitigation.json`` payloads (e.g. a method run and its random
    control run later), so their summary pairs them seed by seed.

    Refuses payloads whose training recipe, evaluation set, run or map seed differ, and settings
    measured twice with different results (the trainings are deterministic per seed, so a
    repeat must reproduce its record)."""
    if not payloads:
        raise UnsureError("no mitigation results to merge")
    ref = payloads[0]["config"]
    keys: dict[str, str] = {}
    seen: dict[tuple, dict] = {}
    for i, pl in enumerate(payloads):
        cfg = pl["config"]
        diff = [k for k in SHARED_CONFIG if cfg.get(k) != ref.get(k)]
        if diff:
            raise UnsureError(f"result {i} differs from result 0 in {', '.join(diff)}: not comparable")
        for label, key in cfg.get("method_keys", {}).items():
            if keys.setdefault(label, key) != key:
                raise UnsureError(f"method {label!r} has different options in result {i}: {key} vs {keys[label]}")
        for r in pl["results"]["records"]:
            k = tuple(r[c] for c in SETTING) + (r["seed"],)
            if k in seen:
                if abs(seen[k]["accuracy"] - r["accuracy"]) > tol or abs(seen[k]["nll"] - r["nll"]) > tol:
                    raise UnsureError(f"setting {dict(zip(SETTING + ('seed',), k))} was measured twice with "
                                      f"different results ({seen[k]['accuracy']:.4f} vs {r['accuracy']:.4f})")
                seen[k] = r | seen[k]  # keeps the first record, adds e.g. a later run's calibrated NLL
                continue
            seen[k] = r
    calibration = {pl["config"].get("calibration_size") or 0 for pl in payloads} - {0}
    if len(calibration) > 1:
        raise UnsureError(f"the results fitted their temperatures on different numbers of validation images "
                          f"({sorted(calibration)}): their calibrated NLLs are not comparable")
    config = dict(ref) | {"method_keys": keys, "calibration_size": next(iter(calibration), 0)}
    for k in ("train_sizes", "methods", "lambdas", "attention", "spaces", "targets", "seeds"):
        vals = [v for pl in payloads for v in pl["config"].get(k, [])]
        config[k] = list(dict.fromkeys(vals))  # union, first-seen order
    config["seconds"] = sum(pl["config"].get("seconds", 0.0) for pl in payloads)
    return list(seen.values()), config


@BENCHES.register("mitigation", "retraining with attribution maps as attention: ACC / NLL (paper Sec. 5.2.2)")
class MitigationBench(Bench):
    name = "mitigation"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p)
        p.add_argument("--methods", default="ua-backprop",
                       help="comma-separated NAME[:key=value...]; the controls 'random' and 'constant' "
                            "(every pixel equal) measure the attention layer's own effect")
        p.add_argument("--lambda", dest="lam", default="0.2", help="comma list; 0 is the no-attention baseline")
        p.add_argument("--train-size", default="500", help="comma list of training subset sizes")
        p.add_argument("--attention", default="map", help="comma list of map, inverse, inverse-input")
        p.add_argument("--target", default="epistemic", help="comma list of epistemic, aleatoric, total")
        p.add_argument("--space", default="latent", help="comma list of latent, input")
        p.add_argument("--seeds", type=int, default=3, help="seeds --seed, --seed+1, ...")
        p.add_argument("--epochs", type=int, default=120, help="training epochs of every model")
        p.add_argument("--batch-size", type=int, default=128, help="training minibatch size")
        p.add_argument("--lr", type=float, default=0.05,
                       help="SGD learning rate (0.05: chosen on Fashion-MNIST's validation split; "
                            "8x8 digits train with 0.05 and --batch-size 32)")
        p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
        p.add_argument("--gamma", type=float, default=0.1, help="lr decay at 1/4, 2/4, 3/4 of the epochs")
        split_argument(p, train=False, dest="eval_split", flag="--eval-split")
        p.add_argument("--eval-size", type=int, default=None, help="first N evaluation images (default all)")
        p.add_argument("--subset-seed", type=int, default=0, help="seed of the training-subset permutation")
        p.add_argument("--calibration-size", type=int, default=0,
                       help="also report the test NLL after temperature scaling, the temperature fitted "
                            "on the first N validation images (with their own maps); 0: off")
        p.add_argument("--map-batch-size", type=int, default=50, help="images per attribution chunk of the maps")
        p.add_argument("--cache", default="bench-out/mitigation-cache", help="folder of cached maps")

    def main(self, args: argparse.Namespace) -> int:
        if getattr(args, "model", None):
            raise UnsureError("bench mitigation retrains the run's architecture: it needs --run of "
                              "'unsure train', not --model")
        post, data = run_posterior(args)
        methods = parse_mitigation_methods(args.methods)
        lams = parse_floats(args.lam, "lambda values")
        if any(lam < 0 for lam in lams):
            raise UnsureError(f"lambda values must be >= 0, got {lams}")
        sizes = _list(args.train_size, "train sizes", int)
        attns = [_enum(Attention, a, "attention").value for a in _list(args.attention, "attention")]
        spaces = [_enum(Space, s, "attention space").value for s in _list(args.space, "spaces")]
        targets = _list(args.target, "targets")
        if args.seeds < 1:
            raise UnsureError(f"--seeds must be >= 1, got {args.seeds}")
        seeds = [args.seed + i for i in range(args.seeds)]
        progress = not args.no_progress
        tr = load(data, "train")
        ev = load(data, args.eval_split, limit=args.eval_size)
        if args.calibration_size < 0:
            raise UnsureError(f"--calibration-size must be >= 0, got {args.calibration_size}")
        if args.calibration_size and args.eval_split == "val":
            raise UnsureError("--calibration-size fits the temperature on validation images; it cannot "
                              "be combined with --eval-split val")
        va = load(data, "val", limit=args.calibration_size) if args.calibration_size else None
        if max(sizes) > len(tr.y):
            raise UnsureError(f"--train-size {max(sizes)} exceeds the {len(tr.y)} training images of {data}")
        perm = subset_order(len(tr.y), args.subset_seed)
        cache = MapCache(args.cache)
        rid = run_id(args.run)
        K = int(max(tr.y.max(), ev.y.max())) + 1

        def maps_for(spec, target, split, x, subset):
            if spec.name == "constant":
                return torch.zeros(len(x), *x.shape[2:])
            key = MapKey(rid, method_key(spec, x.shape[1]), target, split, subset, args.seed)
            return cached_maps(cache, key, post, x, spec.name, spec.options,
                               batch_size=args.map_batch_size, progress=progress)

        # a control map does not depend on the target: trained once, under the first target
        grid = [(t, m, a, s, lam) for t, m, a, s, lam in
                itertools.product(targets, methods, attns, spaces, lams)
                if lam > 0 and (m.name not in CONTROLS or t == targets[0])]
        total = len(sizes) * len(seeds) * (1 + len(grid))
        bar = tqdm(total=total, desc="trainings", disable=not progress)
        records, t_start = [], time.perf_counter()
        for n in sizes:
            idx = perm[:n]  # nested subsets: 500 is a prefix of 1000
            x, y = tr.x[idx], tr.y[idx]
            subset = f"perm{args.subset_seed}-{n}"
            ev_subset = f"first-{len(ev.y)}"
            maps = {(t, m.label): (maps_for(m, t, "train", x, subset),
                                   maps_for(m, t, args.eval_split, ev.x, ev_subset),
                                   maps_for(m, t, "val", va.x, f"first-{len(va.y)}") if va else None)
                    for t in targets for m in methods
                    if m.name not in CONTROLS or t == targets[0]} if grid else {}
            for seed in seeds:
                jobs = [("-", None, "-", "-", 0.0)] + grid
                for target, spec, attn, space, lam in jobs:
                    cfg = RetrainConfig(lam=lam, space=space if lam > 0 else "latent", epochs=args.epochs,
                                        batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                                        gamma=args.gamma, device=str(post.device))
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
        rows = summarise(records)
        out = output_dir(args, "mitigation")
        config = {"run": args.run, "run_id": rid, "data": data, "eval_split": args.eval_split,
                  "eval_size": len(ev.y), "train_sizes": sizes, "subset_seed": args.subset_seed,
                  "calibration_size": args.calibration_size,
                  "methods": [m.label for m in methods], "method_keys": {m.label: method_key(m, tr.x.shape[1]) for m in methods},
                  "lambdas": lams, "attention": attns,
                  "spaces": spaces, "targets": targets, "seeds": seeds, "epochs": args.epochs,
                  "batch_size": args.batch_size, "lr": args.lr, "momentum": args.momentum,
                  "gamma": args.gamma, "milestones": list(RetrainConfig(epochs=args.epochs).train_config().milestones),
                  "arch": "mitigation-cnn", "map_draw_seed": args.seed, "device": str(post.device),
                  "seconds": time.perf_counter() - t_start}
        md = (f"Uncertainty mitigation on {data}: accuracy / NLL on {len(ev.y)} {args.eval_split} images, "
              f"mean ± std over seeds {seeds}; Δ = paired difference to no attention (same seed)"
              + (" or to a control map in the same setting (same seed)"
                 if any(r.get("vs") for r in rows) else "")
              + f". {args.epochs} epochs, batch {args.batch_size}, SGD lr {args.lr}, momentum {args.momentum}, "
              f"gamma {args.gamma}."
              + (f" T-scaled: the test NLL after temperature scaling, each model's temperature fitted on the "
                 f"first {len(va.y)} validation images with their own maps." if va else "")
              + "\n\n" + markdown(rows))
        stalled = stalled_baselines(rows, K)
        if stalled:
            warning = (f"WARNING: without attention the model stays under twice chance accuracy "
                       f"({100 * 2 / K:.0f}%) at train size {', '.join(map(str, stalled))}: this recipe does "
                       f"not train on {data}, so the attention gains are meaningless. Try a higher --lr or a "
                       f"smaller --batch-size (checked with --eval-split val).")
            md = f"**{warning}**\n\n" + md
            tqdm.write(warning, file=sys.stderr)
        write_outputs(out, "mitigation", {"records": records, "summary": rows}, config, md, args.json)
        plot(rows, out / "mitigation.png")
        sized = plot_sizes(rows, out / "mitigation-sizes.png")
        print(md)
        print(f"wrote {out}/mitigation.json, mitigation.md, mitigation.png" + (", mitigation-sizes.png" if sized else ""))
        return 0
