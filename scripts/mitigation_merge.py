"""Pool several ``unsure bench mitigation`` results into one table (paired by seed).

    .venv/bin/python scripts/mitigation_merge.py docs/results/mitigation-sizes docs/results/mitigation-sizes-control \\
        --out docs/results/mitigation-sizes-merged

A method run and its random-map control run later share the no-attention trainings (deterministic
per seed), so pooling their records gives the "vs random" columns without training anything again.
Writes ``mitigation.json``, ``mitigation.md``, ``mitigation.png`` (and ``mitigation-sizes.png``
with two training sizes or more) to ``--out``; refuses results
whose recipe, evaluation set or run differ (see ``unsure.bench.mitigation.merge_results``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from unsure.bench.base import write_outputs
from unsure.bench.mitigation import markdown, merge_results, plot, plot_sizes, summarise
from unsure.errors import UnsureError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="mitigation.json files or folders holding one")
    ap.add_argument("--out", required=True, help="output folder")
    args = ap.parse_args(argv)
    try:
        paths = [Path(p) / "mitigation.json" if Path(p).is_dir() else Path(p) for p in args.results]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UnsureError(f"no mitigation results at {', '.join(missing)}")
        payloads = [json.loads(p.read_text()) for p in paths]
        records, config = merge_results(payloads)
    except UnsureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = summarise(records)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # where the records came from, through earlier merges too (an in-place rerun keeps the records)
    sources = [src for p, pl in zip(paths, payloads) for src in pl["config"].get("merged_from", [str(p)])]
    config["merged_from"] = list(dict.fromkeys(sources))
    md = (f"Records of {', '.join(str(p) for p in paths)}, summarised by scripts/mitigation_merge.py. Uncertainty "
          f"mitigation on {config['data']}: {config['eval_size']} {config['eval_split']} images, "
          f"{config['epochs']} epochs, batch {config['batch_size']}, SGD lr {config['lr']}, momentum "
          f"{config['momentum']}, gamma {config['gamma']}; mean ± std over "
          f"seeds, Δ = paired difference (same seed).\n\n" + markdown(rows))
    write_outputs(out, "mitigation", {"records": records, "summary": rows}, config, md)
    plot(rows, out / "mitigation.png")
    plot_sizes(rows, out / "mitigation-sizes.png")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
