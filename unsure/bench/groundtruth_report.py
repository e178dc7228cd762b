"""The markdown tables and the example figure of ``unsure bench groundtruth``."""
from __future__ import annotations

from pathlib import Path

import torch

from ..groundtruth import score
from .base import markdown_table

SCORE_HEADERS = ["rank ↑", "mass ↑", "ROC-AUC ↑", "pointing ↑"]


def _rows(res: dict) -> list[list]:
    return [[m, r["rank"], r["mass"], r["auroc"], r["pointing_mean"], r["rank_mean"], r["images"]]
            for m, r in res.items()]


def markdown(base, results, by_cause, dis, validity, levels, panel, agreement, per_image, fractions,
             config, entangled: dict | None = None) -> str:
    md = (f"Ground truth on `{base}` ({config['split']}, {config['n']} base images; other-data patches from "
          f"`{config['other']}`). Validity: a cause must add >= {config['min_rise']} nats to its own kind of "
          f"uncertainty, raise it more than the other kind ({'in proportion to each level' if config.get('compare') == 'ratio' else 'in nats'}), "
          f"and restoring its pixels must remove >= "
          f"{config['near']:.0%} of the rise in total uncertainty.\n\n### Validity\n\n")
    md += markdown_table(["cause", "share valid", "valid", "images"],
                         [[c, e["share"], e["valid"], e["images"]] for c, e in validity.items()])
    md += "".join(f"\n**Note:** {line}.\n" for line in config.get("notes", []))
    md += "\n### Mean uncertainty of each version (nats)\n\n" + markdown_table(
        ["version", "total", "aleatoric", "epistemic"],
        [[ver, u["total"], u["aleatoric"], u["epistemic"]] for ver, u in levels.items()])
    header = ["method", *SCORE_HEADERS[:3], "pointing (mean) ↑", "rank (mean)", "images"]
    for t, res in results.items():
        md += (f"\n### {t} maps: all valid causes\n\nMedians over images (pointing: the share of images "
               f"hit).\n\n" + markdown_table(header, _rows(res)))
        for c, rc in by_cause[t].items():
            md += f"\n{t} maps, {c} cause:\n\n" + markdown_table(header, _rows(rc))
        if len(per_image[t]) > 1:
            md += ("\nPaired rank accuracy, first method vs each other: median difference / share of images "
                   "where the first is better / Wilcoxon p.\n\n"
                   + markdown_table(["pair", "median diff", "first better", "p"], score.paired(per_image[t])))
    if dis:
        md += ("\n### Disentanglement (both causes; lower is better)\n\nMedian share of the aleatoric map's "
               "positive mass on the epistemic cause and of the epistemic map's on the aleatoric cause.\n\n"
               + markdown_table(["method", "aleatoric map on epistemic ↓", "epistemic map on aleatoric ↓",
                                 "mean ↓", "mean of means ↓", "aleatoric map, of the two causes",
                                 "epistemic map, of the two causes", "split error vs the model ↓", "images"],
                                [[m, d["aleatoric_on_epistemic"], d["epistemic_on_aleatoric"], d["mean"],
                                  d["mean_mean"], d.get("aleatoric_on_epistemic_of_causes", float("nan")),
                                  d.get("epistemic_on_aleatoric_of_causes", float("nan")),
                                  d.get("split_error", float("nan")), d["images"]]
                                 for m, d in dis.items()]))
        if entangled:
            md += ("\nThe model itself (two-cause Shapley values of the clean, single-cause and both-cause "
                   "images' uncertainties; medians): the epistemic patch raises "
                   f"{entangled['aleatoric_on_epistemic']:.3f} of the aleatoric rise, the blend "
                   f"{entangled['epistemic_on_aleatoric']:.3f} of the epistemic rise. A map faithful to the "
                   "model puts about these shares of its mass on the two causes on the other cause (the "
                   "'of the two causes' columns), so the lower-is-better score above rewards ignoring what "
                   "the model does wherever these are well above 0. The split error is the median over images "
                   "of how far a map's two shares are from the model's (mean of the two).\n")
    for t, p in panel.items():
        f = str(fractions[0])
        md += (f"\n### Substitute panel, {t} maps ({len(p['_images'])} of the same images)\n\n"
               + markdown_table(["method", f"panel MURR @{f} ↑", f"mean MURR rank @{f} ↓", "ground-truth rank ↑"],
                                [[m, p[m][f]["murr"], p[m][f]["mean_rank"], results[t][m]["rank"]]
                                 for m in p if m != "_images"]))
        a = agreement.get(t, {})
        if "kendall_tau" in a:
            md += (f"\nPanel vs ground truth on {t} maps: Kendall tau {a['kendall_tau']:.2f}, Spearman rho "
                   f"{a['spearman_rho']:.2f}; best by ground truth `{a['best'][0]}`, by the panel "
                   f"`{a['best'][1]}`.\n")
    return md


def figure(path: Path, cs, ts, maps, labels: list[str], methods: int = 5) -> None:
    """One row per example (the first valid aleatoric, epistemic and both-cause image of each
    target), columns: image with the mask outlined, then up to ``methods`` maps."""
    from ._suite import figure as new_figure, save

    rows = []
    for t, task in ts.items():
        if t not in maps:
            continue
        for c in ("aleatoric", "epistemic", "both"):
            j = next((i for i, x in enumerate(task.cause) if x == c), None)
            if j is not None:
                rows.append((t, c, task.x[j], task.masks[j], {m: maps[t][m][j] for m in labels[:methods] if m in maps[t]}))
    if not rows:
        return
    ncol = 1 + min(methods, len(labels))
    plt, fig, _ = new_figure(1, 1, 1)
    plt.close(fig)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.9 * ncol, 1.9 * len(rows)), squeeze=False)
    for r, (t, c, x, mask, ms) in enumerate(rows):
        img = x.permute(1, 2, 0).clamp(0, 1).numpy()
        axes[r][0].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        axes[r][0].contour(mask.numpy().astype(float), levels=[0.5], colors="red", linewidths=0.8)
        axes[r][0].set_title(f"{t} / {c}", fontsize=7)
        for k, (m, mp) in enumerate(ms.items(), start=1):
            axes[r][k].imshow(mp.numpy(), cmap="magma")
            axes[r][k].contour(mask.numpy().astype(float), levels=[0.5], colors="cyan", linewidths=0.6)
            axes[r][k].set_title(m[:22], fontsize=6)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    save(plt, fig, path)


def split_figure(path: Path, dis: dict, entangled: dict) -> None:
    """Each method's share of its mass on the two causes that lies on the other cause (aleatoric
    maps on the patch, epistemic maps on the blend), bars, against the model's own split (dashed
    lines, :mod:`unsure.groundtruth.entanglement`); the split error in each label."""
    from ._suite import figure as new_figure, save

    keys = (("aleatoric_on_epistemic", "aleatoric maps: share on the epistemic patch"),
            ("epistemic_on_aleatoric", "epistemic maps: share on the aleatoric blend"))
    labels = [f"{m[:28]} ({d.get('split_error', float('nan')):.3f})" for m, d in dis.items()]
    plt, fig, axes = new_figure(2, width=0.55 * len(dis) + 2.5, height=4.2)
    for ax, (k, title) in zip(axes, keys):
        ax.bar(range(len(dis)), [d.get(f"{k}_of_causes", float("nan")) for d in dis.values()], color="tab:blue")
        ax.axhline(entangled[k], color="black", ls="--", lw=1, label=f"the model: {entangled[k]:.3f}")
        ax.set_xticks(range(len(dis)))
        ax.set_xticklabels(labels, rotation=70, ha="right", fontsize=6)
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=8)
        ax.set_ylabel("share of the mass on the two causes (median)", fontsize=7)
        ax.legend(fontsize=7)
    save(plt, fig, path)
