"""How far CovGI's second-order uncertainty U2 (the sum of its marginal map) is from the mutual
information it expands, on a run's most epistemic images.

    python scripts/cov_gi_second_order.py --run runs/digits-ens5 --data digits --split test --top 100
"""
from __future__ import annotations

import argparse

import torch

from unsure.attribution import make_method
from unsure.bench.common import most_uncertain
from unsure.data import load
from unsure.run import load_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--top", type=int, default=100)
    args = p.parse_args()
    post = load_run(args.run)
    x = load(args.data, args.split).x
    draw = post.draw()
    x = x[most_uncertain(draw, x, args.top)]
    meta = make_method("cov-gi").attribute(post, x, "epistemic", draw=draw, batch_size=25).meta
    u2, mi = meta["second_order"], meta["exact"]
    q = torch.tensor([0.1, 0.5, 0.9], dtype=u2.dtype)
    print(f"{len(x)} images ({args.data} {args.split}); quantiles 10/50/90%")
    print("mutual information   ", [round(float(v), 4) for v in mi.quantile(q.to(mi.dtype))])
    print("U2 = sum(cov-gi map)  ", [round(float(v), 4) for v in u2.quantile(q)])
    print("U2 / MI               ", [round(float(v), 3) for v in (u2 / mi).quantile(q)])


if __name__ == "__main__":
    main()
