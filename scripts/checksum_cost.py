"""What the weights checksum costs: saving and loading a run of a random-weight ResNet-18
ensemble (CIFAR-10 sized: 3x32x32, 10 classes) with and without it (unsure/checksum.py).

    OMP_NUM_THREADS=1 python scripts/checksum_cost.py [--members 5] [--repeats 7]

Times the digest alone, ``save_weights`` against plain ``safetensors.torch.save_file``,
``load_weights`` (which recomputes and compares the digest) against plain ``load_file``, and
for scale a whole ``save_run`` / ``load_run`` of the run folder (``load_run`` builds the models
and loads the verified weights into them); each is the fastest of ``--repeats`` runs (on a
shared machine the others add waiting for a core); loads read from the page cache (the file was
just written). Prints a Markdown table for docs/reliability.md.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import unsure
from unsure.checksum import load_weights, save_weights, state_digest
from unsure.models import ResNet18
from unsure.run import load_run, save_run


RUN = {"arch": "resnet18", "arch_options": {"in_channels": 3, "num_classes": 10, "image_size": 32}}


def fastest_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    nets = []
    for seed in range(a.members):
        torch.manual_seed(seed)
        nets.append(ResNet18(3, 10, 32))
    post = unsure.DeepEnsemble(nets)
    # what unsure.run.save_run writes: independent contiguous copies of the state dict
    state = {k: v.detach().cpu().contiguous().clone() for k, v in post.state_dict().items()}
    mb = sum(t.numel() * t.element_size() for t in state.values()) / 2**20
    with tempfile.TemporaryDirectory() as d:
        plain, checked = Path(d) / "plain.safetensors", Path(d) / "checked.safetensors"
        rows = {
            "digest alone (SHA-256 of the tensors)": fastest_seconds(lambda: state_digest(state), a.repeats),
            "save: safetensors save_file": fastest_seconds(lambda: save_file(state, str(plain)), a.repeats),
            "save: save_weights (digest + save)": fastest_seconds(lambda: save_weights(state, checked), a.repeats),
            "load: safetensors load_file": fastest_seconds(lambda: load_file(str(plain)), a.repeats),
            "load: load_weights (load + verify)": fastest_seconds(lambda: load_weights(checked), a.repeats),
            "whole run: save_run": fastest_seconds(lambda: save_run(Path(d) / "run", post, RUN, overwrite=True),
                                                  a.repeats),
            "whole run: load_run": fastest_seconds(lambda: load_run(Path(d) / "run"), a.repeats),
        }
    s = list(rows.values())
    print(f"{a.members}-member ResNet-18 ensemble, {mb:.0f} MiB of float32 weights, "
          f"{torch.get_num_threads()} torch thread(s), fastest of {a.repeats}\n")
    print("| step | seconds |\n|---|---|")
    for name, sec in rows.items():
        print(f"| {name} | {sec:.3f} |")
    print(f"\nchecksum overhead: save +{s[2] - s[1]:.3f} s ({(s[2] / s[1] - 1) * 100:.0f}%), "
          f"load +{s[4] - s[3]:.3f} s ({(s[4] / s[3] - 1) * 100:.0f}%); digest {mb / s[0]:.0f} MiB/s; "
          f"the digest is {s[0] / s[6] * 100:.0f}% of a whole load_run")


if __name__ == "__main__":
    main()
