"""Markdown table of trained runs (test accuracy, NLL, ECE, training time) from their config.json.

    .venv/bin/python scripts/posterior_table.py runs/fmnist-ens5 runs/fmnist-mc-dropout ... > table.md

Every number is read from the run directory that ``unsure train`` wrote; nothing is recomputed.
"""
from __future__ import annotations

import argparse

from unsure.run import read_config


def details(cfg: dict) -> str:
    info, post = cfg.get("train_info", {}), cfg["posterior"]
    name = post["posterior"]
    if name == "weight-noise":
        cal = info.get("calibration", {})
        return f"sigma {post['sigma']:g} (accuracy drop {cal.get('accuracy_drop', float('nan')):.3f} on {info.get('calibration_data')})"
    if name == "laplace":
        return f"{post['hessian']} GGN, prior precision {info['prior_precision']:.3g} (marglik), Laplace fit {info['seconds_laplace']:.0f} s"
    if name == "variational":
        return f"prior sigma {post['prior_sigma']:g}, median posterior weight sigma {info['median_weight_sigma']:.3f}"
    if name == "evidential":
        return (f"{post.get('evidence', 'relu')} evidence, {post.get('loss', 'mse')} loss, KL weight "
                f"{post.get('kl_weight', 1.0):g} annealed over {post['annealing_epochs']} epochs")
    if name == "dropconnect":
        return f"weight masks p {post['p']:g} on {', '.join(post['layers'])}"
    if "subset_of" in cfg:
        return f"member(s) {cfg['members_kept']} of {cfg['subset_of']}"
    return ""


def per_member_seconds(cfg: dict) -> str:
    info = cfg.get("train_info", {})
    if "seconds_per_member" in info:
        s = info["seconds_per_member"]
        return f"{sum(s) / len(s):.0f}"
    if "subset_of" in cfg:
        return "-"
    secs = info.get("seconds", info.get("seconds_map", cfg.get("train_seconds")))
    return f"{secs:.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    args = p.parse_args()
    print("| run | posterior | S | test accuracy | NLL | ECE | train s / network | settings |")
    print("|---|---|---|---|---|---|---|---|")
    for r in args.runs:
        cfg = read_config(r)
        post, m = cfg["posterior"], cfg["metrics"]
        S = post.get("members", post.get("samples", 1))
        print(f"| `{r}` | {post['posterior']} | {S} | {m['accuracy']:.4f} | {m['nll']:.4f} | {m['ece']:.4f} "
              f"| {per_member_seconds(cfg)} | {details(cfg)} |")


if __name__ == "__main__":
    main()
