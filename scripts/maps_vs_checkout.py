"""The default's maps (and six other UA-Backprop settings) in this checkout against another
checkout of unsure, to the bit (issue 28: the fixed-cost work must not change a number;
docs/results/speed-scale.md, "Fixed costs at small images").

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/maps_vs_checkout.py /path/to/other/checkout

e.g. the base commit unpacked with ``git archive 10747f5 | tar -x -C /tmp/base``. Each checkout
computes the maps in its own process (``--dump``); the script then prints, per setting, point and
dtype, ``BITWISE`` or the largest difference over the largest map value, and exits 1 if any differ.
"""
from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile

POINTS = ["paper-cnn:1x8:k10:s5:b8:n8", "paper-cnn:3x32:k10:s3:b4:n4"]
SPECS = ["default", "ua-backprop:grouping=joint:reference=mix:combine=mean-of-relu",
         "ua-backprop:grouping=joint:reference=mix+noise@0.3:combine=relu-of-mean",
         "ua-backprop:reference=blur@1+black+noise@0.2:combine=mean-of-scaled-relu",
         "ua-backprop:reference=noise@0.3", "ua-backprop-class",
         "ua-backprop:grouping=joint:reference=mix:path=ig:steps=3"]


def dump(path: str) -> None:
    """Maps and raw maps of every (point, dtype, setting), pickled to ``path``."""
    import torch

    from unsure.attribution import make_method
    from unsure.bench.speed_grid import parse_point, random_posterior

    out = {}
    for pt in POINTS:
        p = parse_point(pt)
        for dt in (torch.float32, torch.float64):
            x = torch.rand(p.n, p.channels, p.size, p.size, generator=torch.Generator().manual_seed(0))
            post = random_posterior(p, x, 3.0, 0).to(dt)
            for spec in SPECS:
                r = make_method(spec).attribute(post, x.to(dt), "epistemic",
                                                generator=torch.Generator().manual_seed(0))
                out[(pt, str(dt), spec)] = (r.maps.numpy(), None if r.raw is None else r.raw.numpy())
    with open(path, "wb") as f:
        pickle.dump(out, f)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("other", nargs="?", help="the other checkout's root")
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.dump:
        dump(a.dump)
        return 0
    if not a.other:
        ap.error("give the other checkout's root")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, root in enumerate((here, os.path.abspath(a.other))):
            path = os.path.join(tmp, f"{i}.pkl")
            env = {**os.environ, "PYTHONPATH": root}
            subprocess.run([sys.executable, os.path.abspath(__file__), "--dump", path], env=env, check=True,
                           cwd=root)
            with open(path, "rb") as f:
                res.append(pickle.load(f))
    import numpy as np

    bad = 0
    for k, (m1, r1) in res[0].items():
        m2, r2 = res[1][k]
        same = np.array_equal(m1, m2) and (r1 is None and r2 is None or np.array_equal(r1, r2))
        bad += not same
        print("BITWISE" if same else f"differs {np.abs(m1 - m2).max() / np.abs(m1).max():.2e}", *k)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
