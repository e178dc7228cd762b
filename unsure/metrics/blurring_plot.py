"""The blurring test's figure: median URR curves per method, one panel per pixel fraction. Drawn by
``unsure bench blurring`` and by the report pipeline (``unsure explain --blurring``, ``unsure demo``)."""
from __future__ import annotations


def plot_curves(curves: dict, fractions: list[float], path, rows: dict | None = None) -> None:
    """Median URR curves, one panel per fraction; ``rows = {substitute: curves}`` draws one row of
    panels per substitute instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rows or {"blur": curves}
    fig, axes = plt.subplots(len(rows), len(fractions), figsize=(5 * len(fractions), 3.8 * len(rows)),
                             squeeze=False)
    for axrow, (name, cur) in zip(axes, rows.items()):
        for ax, f in zip(axrow, fractions):
            for label, by_f in cur.items():
                c = by_f[str(f)]
                ax.plot([i / (len(c) - 1) for i in range(len(c))], c, label=label)
            ax.set_title(f"substitute {name}, top {f:.0%} pixels")
            ax.set_xlabel("share of pixels removed (n / n_max)")
            ax.set_ylabel("median uncertainty reduction rate (URR)")
            ax.grid(alpha=0.3)
        axrow[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120 if len(rows) == 1 else 70)
    plt.close(fig)
