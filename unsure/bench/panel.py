"""The substitute panel of ``unsure bench blurring``: every method's maps scored by the blurring
(URR) test under each substitute of ``metrics.replacements`` in one batched pass, then summarised.

- ``by_replacement[R][METHOD]["0.02"] = {"murr", "auc", "n_max", "murr_per_image", "auc_per_image"}``
- ``panel[METHOD]["0.02"] = {"murr", "auc", "mean_rank", "mean_rank_auc", "murr_per_image",
  "auc_per_image"}``: the means over the substitutes of the medians (and, per image, of the
  per-image values); ``mean_rank`` is the mean over substitutes of the method's MURR rank among
  the methods (1 = best, ties share the mean rank), ``mean_rank_auc`` the same for AUC-URR.
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from ..attribution import make_method
from ..attribution.spec import MethodSpec
from ..errors import UnsureError
from ..metrics.blurring import blurring_test, resolve_measure
from ..metrics.replacements import make_replacements
from .base import markdown_table


def check_measure_nonzero(draw, x, target) -> None:
    """Refuse a blurring test whose uncertainty is identically 0 on every image ``x``: nothing can
    be reduced, and MURR 0 would read as a result (e.g. epistemic of a one-member posterior)."""
    fn, name = resolve_measure(target)
    with torch.no_grad():
        u = torch.cat([fn(draw(x[s:s + 500])) for s in range(0, len(x), 500)])  # [B]
    if len(u) and bool((u == 0).all()):
        raise UnsureError(f"the {name} uncertainty is 0 on all {len(u)} selected images, so the "
                          "blurring test has nothing to reduce (a single network has no epistemic "
                          "uncertainty); choose another --target, e.g. total")


def panel_benchmark(posterior, x, methods: list[MethodSpec], fractions: list[float], replacements,
                    seed: int = 0, batch_size: int = 25, progress: bool = True, sigmas=None,
                    target: str = "epistemic", draw=None) -> dict:
    """Attribute ``target`` with every method and run the blurring test under every substitute.

    Returns ``{"by_replacement", "curves" (by_replacement's median URR curves), "seconds"
    (attribution, per image), "test_seconds" (the panel's test, per image), "replacements" (each
    substitute's settings)}``. The noise and road draws are seeded with ``seed``.
    """
    reps = make_replacements(replacements, sigmas=sigmas, seed=seed)
    draw = draw if draw is not None else posterior.draw(torch.Generator().manual_seed(seed))
    check_measure_nonzero(draw, x, target)
    by_rep = {r.name: {} for r in reps}
    curves = {r.name: {} for r in reps}
    seconds, test_seconds = {}, {}
    for spec in tqdm(methods, desc="methods", disable=not progress):
        method = make_method(spec.name, **spec.options)
        t0 = time.perf_counter()
        att = method.attribute(posterior, x, target, draw=draw, batch_size=batch_size,
                               generator=torch.Generator().manual_seed(seed))
        seconds[spec.label] = (time.perf_counter() - t0) / len(x)
        t0 = time.perf_counter()
        res = blurring_test(posterior, x, att.maps, fraction=fractions, draw=draw, sigmas=sigmas,
                            generator=torch.Generator().manual_seed(seed), measure=target,
                            replacement=reps)
        test_seconds[spec.label] = (time.perf_counter() - t0) / len(x)
        for name, rs in res.items():
            by_rep[name][spec.label], curves[name][spec.label] = {}, {}
            for f, r in zip(fractions, rs):
                by_rep[name][spec.label][str(f)] = {
                    "murr": r.murr, "auc": r.auc, "n_max": r.n_max,
                    "murr_per_image": r.murr_per_image.tolist(), "auc_per_image": r.auc_per_image.tolist()}
                curves[name][spec.label][str(f)] = (1 - r.curves).median(0).values.tolist()  # URR_n
    return {"by_replacement": by_rep, "curves": curves, "seconds": seconds,
            "test_seconds": test_seconds, "replacements": [r.describe() for r in reps]}


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
