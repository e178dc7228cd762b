"""Figure and goal table of ``unsure bench large-k`` results: UA-Backprop's speed-up from
``prune=`` against the members' mean top probability, one line per K, variant and prune setting;
filled markers meet the issue's goal (completeness error <= 1e-5 and the smallest per-image
Spearman correlation with the unpruned map >= 0.99). Reads the benches' own ``large-k.json`` files.

    .venv/bin/python scripts/large_k_figure.py docs/results/large-k/prune-*/large-k.json \
        --out docs/results/large-k/large-k.png --md docs/results/large-k/goal.md
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

COMPLETENESS, SPEARMAN, SPEEDUP = 1e-5, 0.99, 5.0


def rows(paths: list[str]) -> list[dict]:
    """One dict per (file, K, logit std, variant)."""
    out = []
    for p in paths:
        d = json.loads(Path(p).read_text())
        prune = d["config"]["prune"]
        for K, by_std in d["results"].items():
            for std, cell in by_std.items():
                for v, r in cell.items():
                    if not isinstance(r, dict):
                        continue
                    meets = (r["pruned"]["completeness_max"] <= COMPLETENESS and r["spearman_min"] >= SPEARMAN)
                    out.append({"prune": prune, "K": int(K), "std": float(std), "variant": v,
                                "top": cell["mean_top_probability"], "speedup": r["speedup"],
                                "completeness": r["pruned"]["completeness_max"],
                                "spearman_min": r["spearman_min"], "exact": meets,
                                "goal": meets and r["speedup"] >= SPEEDUP})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--out", required=True, help="PNG")
    ap.add_argument("--md", default=None, help="also write the goal table (markdown)")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = rows(args.json)
    keys = sorted({(r["K"], r["variant"], r["prune"]) for r in rs})
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for K, v, prune in keys:
        pts = sorted((r for r in rs if (r["K"], r["variant"], r["prune"]) == (K, v, prune)), key=lambda r: r["top"])
        line, = ax.plot([r["top"] for r in pts], [r["speedup"] for r in pts], "-", label=f"K={K}, {v}, prune={prune}")
        for r in pts:
            ax.plot(r["top"], r["speedup"], "o", color=line.get_color(),
                    markerfacecolor=line.get_color() if r["exact"] else "white")
    ax.axhline(SPEEDUP, color="grey", ls=":", lw=1)
    ax.set_xlabel("members' mean top probability")
    ax.set_ylabel("speed-up of prune= (CPU time)")
    ax.set_yscale("log")
    ax.set_title("UA-Backprop pruning on random-weight K-class ensembles\n"
                 f"filled: completeness <= {COMPLETENESS:g} and min Spearman >= {SPEARMAN}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    if args.md:
        lines = ["| prune | K | variant | top p | speed-up | completeness err | Spearman min | meets goal |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in sorted(rs, key=lambda r: (r["prune"], r["K"], r["variant"], r["top"])):
            lines.append(f"| {r['prune']} | {r['K']} | {r['variant']} | {r['top']:.2f} | {r['speedup']:.1f}x | "
                         f"{r['completeness']:.1e} | {r['spearman_min']:.5f} | "
                         f"{'yes' if r['goal'] else 'no'} |")
        Path(args.md).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}" + (f" and {args.md}" if args.md else ""))


if __name__ == "__main__":
    main()
