"""``unsure bench all``: the whole evaluation suite on one run, one markdown report.

Runs every registered bench that sets ``suite_run`` (the blurring test, anomaly,
insertion/deletion, SIC/AIC, localisation, ablation, sanity, rotation) with its defaults and the
same methods, seed and draw settings, each into ``OUT/NAME/`` (its ``BenchResult`` written by
``write_result``), then writes ``OUT/report.md`` with every table and plot.
"""
from __future__ import annotations

import argparse
import time
import warnings

from tqdm.auto import tqdm

from ..errors import UnsureError
from ..flags import invocation, methods_argument
from ..measures import decomposable
from ..user_model import run_posterior, source_label
from . import ablation, anomaly, blurring, insertion, localization, rotation, sanity, sic_aic  # noqa: F401  (register)
from ._suite import SuiteOptions
from ..engine import engine_from_args
from ..file_group import file_group
from .base import BENCHES, Bench, common_arguments, output_dir, suite_benches, write_outputs, write_result
from .blurring_engine import add_blurring_engine_arguments, source_of
from .common import parse_floats


@BENCHES.register("all", "the whole evaluation suite on one run, one markdown report")
class AllBench(Bench):
    name = "all"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p)
        methods_argument(p, "suite", "methods for every bench (each bench skips those that do not apply)")
        p.add_argument("--only", default=None, help="comma-separated subset of: " + ",".join(n for n, _ in suite_benches()))
        p.add_argument("--n", type=int, default=None, help="images per bench (default: each bench's own)")
        p.add_argument("--fractions", default=blurring.FRACTIONS, help="blurring test's shares of the pixels removed")
        p.add_argument("--sigmas", default=None, help="blurring test's sigma grid (default: the spec's)")
        p.add_argument("--target", default="epistemic", choices=list(decomposable()),
                       help="uncertainty the uncertainty benches explain (default epistemic; total for a "
                            "single network); class-score benches (SIC/AIC, rotation) are unaffected")
        add_blurring_engine_arguments(p)  # the blurring test runs on it; the other benches locally

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        suite = dict(suite_benches())  # name -> bench class, in report order
        names = list(suite)
        if args.only:
            names = [n.strip() for n in args.only.split(",") if n.strip()]
            bad = [n for n in names if n not in suite]
            if bad:
                raise UnsureError(f"unknown bench(es) {bad}; choose from {', '.join(suite)}")
        # the options of bench all that a bench takes (Bench.suite_options), parsed once
        engine = engine_from_args(args)
        shared = {"fractions": parse_floats(args.fractions, "fractions"),
                  "sigmas": None if args.sigmas is None else parse_floats(args.sigmas, "sigmas"),
                  "engine": engine, "source": source_of(args, data), "chunk_size": args.chunk_size}
        out = output_dir(args, "all")
        progress = not args.no_progress
        sections, seconds = [], {}
        for name in tqdm(names, desc="suite", disable=not progress):
            t0 = time.perf_counter()
            bench = suite[name]
            target = "class" if bench.suite_target == "class" else args.target
            opts = SuiteOptions(n=args.n or bench.suite_n, target=target, seed=args.seed, progress=progress)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = bench.suite_run(post, data, bench.suite_methods + args.methods, opts,
                                      **{k: shared[k] for k in bench.suite_options})
            write_result(out / name, name, res, invocation=invocation(args))
            notes = "".join(f"\n> note: {w.message}\n" for w in caught)
            md = res.markdown + notes + "".join(f"\n![{f}]({name}/{f})\n" for f in res.plots)
            seconds[name] = time.perf_counter() - t0
            sections.append(f"## {name}\n\n{md}\n*{seconds[name]:.0f} s*\n")
        cmd = (f"unsure bench all {source_label(args)} --data {data} --methods {args.methods}"
               + (f" --only {args.only}" if args.only else "") + (f" --n {args.n}" if args.n else "")
               + (f" --sigmas {args.sigmas}" if args.sigmas else "") + f" --target {args.target}"
               + f" --seed {args.seed}"
               + (f" --engine ray --workers {args.workers}" if engine.name == "ray" else "")
               + (f" --chunk-size {args.chunk_size}" if args.chunk_size else ""))
        report = (f"# Evaluation suite: {args.run or args.model} on {data}\n\nMade by `{cmd}`.\n\n" + "\n".join(sections))
        with file_group() as g:  # report.md and all.json together
            g.write(out / "report.md", report)
            write_outputs(out, "all", {"seconds": seconds}, {"run": args.run, "data": data, "benches": names,
                                                             "methods": args.methods, "seed": args.seed,
                                                             "target": args.target},
                          invocation=invocation(args), group=g)
        print(f"wrote {out}/report.md")
        return 0
