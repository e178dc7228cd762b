"""The closing-note numbers of docs/results/groundtruth.md from one or more groundtruth.json:
per target and cause, the best method's rank accuracy and the default's (and the gap), the
disentanglement figures, the validity shares, and panel-vs-ground-truth agreement. Usage:

    python scripts/groundtruth_summary.py docs/results/groundtruth-fmnist/groundtruth.json [...]
"""
from __future__ import annotations

import json
import sys

from unsure.attribution.base import DEFAULT_SPEC


def summary(path: str) -> str:
    g = json.load(open(path))
    lines = [f"## {path}", "", "validity: " + ", ".join(
        f"{c} {v['share']:.3f} ({v['valid']}/{v['images']})" for c, v in g["validity"].items()), ""]
    lines += ["| target | cause | images | best method | best rank | default rank | gap |", "|---|---|---|---|---|---|---|"]
    for t, causes in g["by_cause"].items():
        for c, res in [("all", g["results"][t]), *causes.items()]:
            best = max(res, key=lambda m: res[m]["rank"])
            d = res.get(DEFAULT_SPEC, {}).get("rank", float("nan"))
            lines.append(f"| {t} | {c} | {res[best]['images']} | {best} | {res[best]['rank']:.3f} | {d:.3f} | "
                         f"{res[best]['rank'] - d:+.3f} |")
    if g.get("disentanglement"):
        dis = g["disentanglement"]
        best = min(dis, key=lambda m: dis[m]["mean"])
        lines += ["", f"disentanglement (median mean, lower better): best {best} {dis[best]['mean']:.3f}; default "
                      f"{dis.get(DEFAULT_SPEC, {}).get('mean', float('nan')):.3f}"]
        lines += [f"- {m}: aleatoric-on-epistemic {d['aleatoric_on_epistemic']:.3f}, epistemic-on-aleatoric "
                  f"{d['epistemic_on_aleatoric']:.3f}, mean {d['mean']:.3f} (means {d['mean_mean']:.3f})"
                  for m, d in sorted(dis.items(), key=lambda kv: kv[1]["mean"])]
    for t, a in g.get("agreement", {}).items():
        if "kendall_tau" in a:
            lines.append(f"- agreement {t}: tau {a['kendall_tau']:.2f}, rho {a['spearman_rho']:.2f}, best GT "
                         f"{a['best'][0]}, best panel {a['best'][1]}")
    return "\n".join(lines) + "\n"


def compact(path: str) -> str:
    """One row per method: rank accuracy / ROC-AUC per target (all valid causes; medians), the
    mean disentanglement (median), and the seconds per image of each target's maps."""
    g = json.load(open(path))
    targets = list(g["results"])
    methods = list(dict.fromkeys(m for t in targets for m in g["results"][t]))
    head = (["method"] + [f"{t} rank" for t in targets] + [f"{t} AUC" for t in targets]
            + ["disent. ↓", "s/image (total)"])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cell = lambda t, m, k: f"{g['results'][t][m][k]:.3f}" if m in g["results"][t] else "-"  # noqa: E731
    for m in methods:
        dis = g.get("disentanglement", {}).get(m, {}).get("mean")
        sec = g["config"]["seconds_per_image"].get("total", {}).get(m)
        rows.append("| " + " | ".join([m] + [cell(t, m, "rank") for t in targets] + [cell(t, m, "auroc") for t in targets]
                                      + ["-" if dis is None else f"{dis:.3f}", "-" if sec is None else f"{sec:.3f}"]) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(summary(p))
        print(compact(p))
