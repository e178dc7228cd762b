"""Summaries of a mitigation experiment's records: mean +- std over seeds per setting, paired
differences to "no attention" and to the control maps, training sizes where the recipe stalls,
and the merging of several experiments' records (``unsure bench mitigation --merge``).

A record is one training: ``train_size, seed, target, space, method, attention, lam, accuracy,
nll, ece`` (+ ``nll_ts`` with ``--calibration-size``), as :func:`unsure.mitigation.experiment.run_experiment`
writes it.
"""
from __future__ import annotations

from collections import defaultdict
from statistics import mean, stdev

from ..errors import UnsureError
from .experiment import CONTROLS

SETTING = ("train_size", "target", "space", "method", "attention", "lam")

# config entries that must agree for records of several runs to be comparable (paired) results
SHARED_CONFIG = ("run_id", "data", "eval_split", "eval_size", "subset_seed", "epochs", "batch_size",
                 "lr", "momentum", "gamma", "milestones", "arch", "map_draw_seed")


def _mean_std(vals: list[float]) -> tuple[float, float]:
    return mean(vals), (stdev(vals) if len(vals) > 1 else 0.0)


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


def stalled_baselines(rows: list[dict], num_classes: int) -> list[int]:
    """Training sizes whose no-attention model stays under twice chance accuracy: the recipe
    did not train there, so attention "gains" would only measure a rescued optimisation."""
    return sorted(r["train_size"] for r in rows
                  if r["method"] == "none" and r["acc_mean"] < 2.0 / num_classes)


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
