"""The substitute panel of ``unsure bench blurring``: every method's maps scored by the blurring
(URR) test under each substitute of ``metrics.replacements`` in one batched pass, then summarised.

- ``by_replacement[R][METHOD]["0.02"] = {"murr", "auc", "n_max", "murr_per_image", "auc_per_image"}``
- ``panel[METHOD]["0.02"] = {"murr", "auc", "mean_rank", "mean_rank_auc", "murr_per_image",
  "auc_per_image"}``: the means over the substitutes of the medians (and, per image, of the
  per-image values); ``mean_rank`` is the mean over substitutes of the method's MURR rank among
  the methods (1 = best, ties share the mean rank), ``mean_rank_auc`` the same for AUC-URR.
"""
from __future__ import annotations

import torch

from ..attribution.spec import MethodSpec
from .base import markdown_table
from .blurring_items import check_measure_nonzero  # noqa: F401  (re-exported)


def panel_benchmark(posterior, x, methods: list[MethodSpec], fractions: list[float], replacements,
                    seed: int = 0, batch_size: int = 25, progress: bool = True, sigmas=None,
                    target: str = "epistemic", draw=None) -> dict:
    """Attribute ``target`` with every method and run the blurring test under every substitute.

    Returns ``{"by_replacement", "curves" (by_replacement's median URR curves), "seconds"
    (attribution, per image), "test_seconds" (the panel's test, per image), "replacements" (each
    substitute's settings)}``. The noise and road draws are seeded with ``seed``. In this
    process, one item per method (:func:`unsure.bench.blurring_engine.run_panel` takes an engine
    and a chunk size).
    """
    from .blurring_engine import run_panel

    return run_panel(posterior, x, methods, fractions, replacements, seed, batch_size, progress, sigmas,
                     target, draw)


def _ranks(values: list[float], higher_is_better: bool) -> list[float]:
    """Ranks 1..n (1 = best), ties sharing their mean rank."""
    key = [-v if higher_is_better else v for v in values]
    order = sorted(range(len(values)), key=lambda i: key[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and key[order[j + 1]] == key[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def panel_scores(by_rep: dict, fractions: list[float]) -> dict:
    """``panel[METHOD][str(f)]``: means over the substitutes (module docstring)."""
    names = list(by_rep)
    methods = list(by_rep[names[0]])
    panel = {m: {} for m in methods}
    for f in fractions:
        key = str(f)
        ranks = {k: [_ranks([by_rep[r][m][key][k] for m in methods], k == "murr") for r in names]
                 for k in ("murr", "auc")}
        for i, m in enumerate(methods):
            per = {k: torch.tensor([by_rep[r][m][key][f"{k}_per_image"] for r in names],
                                   dtype=torch.float64).mean(0).tolist() for k in ("murr", "auc")}
            panel[m][key] = {
                "murr": sum(by_rep[r][m][key]["murr"] for r in names) / len(names),
                "auc": sum(by_rep[r][m][key]["auc"] for r in names) / len(names),
                "mean_rank": sum(rk[i] for rk in ranks["murr"]) / len(names),
                "mean_rank_auc": sum(rk[i] for rk in ranks["auc"]) / len(names),
                "murr_per_image": per["murr"], "auc_per_image": per["auc"]}
    return panel


def winners(by_rep: dict, panel: dict, fractions: list[float]) -> list[list]:
    """Rows ``[substitute, best MURR @f (method), ...]`` for every substitute and the panel."""
    rows = []
    for name, res in [*by_rep.items(), ("panel mean", panel)]:
        row = [name]
        for f in fractions:
            best = max(res, key=lambda m: res[m][str(f)]["murr"])
            row.append(f"{best} ({res[best][str(f)]['murr']:.3f})")
        rows.append(row)
    return rows


def panel_markdown(by_rep: dict, panel: dict, fractions: list[float], paired) -> str:
    """Panel table, winners, one table and one paired (Wilcoxon) table per substitute."""
    header = ["method"] + [f"{k} @{f:g}" for f in fractions
                           for k in ("MURR ↑", "AUC-URR ↓", "mean MURR rank ↓")]
    rows = [[m] + [v for f in fractions for v in (panel[m][str(f)]["murr"], panel[m][str(f)]["auc"],
                                                  f"{panel[m][str(f)]['mean_rank']:.1f}")]
            for m in panel]
    md = (f"### Panel: mean over the substitutes {', '.join(by_rep)}\n\nMeans of the per-substitute "
          "medians; rank among these methods, averaged over the substitutes.\n\n"
          + markdown_table(header, rows))
    md += ("\nBest MURR per substitute:\n\n"
           + markdown_table(["substitute"] + [f"best MURR @{f:g}" for f in fractions],
                            winners(by_rep, panel, fractions)))
    pair_header = ["pair"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR", "AUC-URR")]
    if len(panel) > 1:
        md += ("\nPaired on the per-image panel means (mean over substitutes), first method vs each "
               "other: median difference / share of images where the first is better / Wilcoxon p.\n\n"
               + markdown_table(pair_header, paired(panel, fractions)))
    header = ["method"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR ↑", "AUC-URR ↓")]
    for name, res in by_rep.items():
        rows = [[m] + [res[m][str(f)][k] for f in fractions for k in ("murr", "auc")] for m in res]
        md += f"\n### Substitute `{name}`\n\n" + markdown_table(header, rows)
        if len(res) > 1:
            md += ("\nPaired per image, first method vs each other (median difference / share won / "
                   "Wilcoxon p):\n\n" + markdown_table(pair_header, paired(res, fractions)))
    return md
