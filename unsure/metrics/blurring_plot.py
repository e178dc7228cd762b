"""The blurring test's figure: median URR curves per method, one panel per pixel fraction. Drawn by
``unsure bench blurring`` and by the report pipeline (``unsure explain --blurring``, ``unsure demo``)."""
from __future__ import annotations


def plot_curves(curves: dict, fractions: list[float], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(fractions), figsize=(5 * len(fractions), 3.8), squeeze=False)
    for ax, f in zip(axes[0], fractions):
        for label, by_f in curves.items():
            c = by_f[str(f)]
            ax.plot([i / (len(c) - 1) for i in range(len(c))], c, label=label)
        ax.set_title(f"blurring test, top {f:.0%} pixels")
        ax.set_xlabel("share of pixels blurred (n / n_max)")
        ax.set_ylabel("median uncertainty reduction rate (URR)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
