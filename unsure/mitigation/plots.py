"""Plots of a mitigation experiment's summary rows (:func:`unsure.mitigation.summary.summarise`):
accuracy vs lambda, and the paired gains vs training-set size."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .experiment import CONTROLS


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
