"""The report at three image sizes, as headless-Chromium screenshots in docs/img (issue 26):

- 8x8: ``unsure explain`` of a 5-member digits ensemble (trained here when ``--digits-run`` is
  missing, with the command of /work/runs/digits-ens5), four methods, every target, the blurring
  test with the substitute panel -> ``docs/img/report-8x8.png``;
- 28x28: ``unsure demo`` (Fashion-MNIST) -> ``docs/img/report.png`` (the README's picture);
- 3x224x224: ``unsure explain --images`` of three colour images (digits enlarged to 224x224 and
  tinted, written here) with ``examples/colour_models.py:ensemble224`` (random weights) ->
  ``docs/img/report-224.png`` (no blurring test: at 2% of 224x224, a thousand steps).

    PYTHONPATH=$PWD python scripts/report_screenshots.py [--only 8,28,224] [--digits-run DIR]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def unsure(*args: str) -> None:
    cmd = [sys.executable, "-m", "unsure.cli.main", *args]
    print("$", " ".join(["unsure", *args]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def colour_images(folder: Path) -> list[str]:
    """Three digits enlarged to 224x224 and tinted (red, green, blue backgrounds)."""
    import torch
    from PIL import Image

    from unsure.data import load

    d = load("digits", "test")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, i in enumerate((0, 1, 2)):
        g = torch.nn.functional.interpolate(d.x[i:i + 1], size=(224, 224), mode="bilinear")[0, 0].numpy()
        tint = np.zeros((224, 224, 3))
        tint[..., k] = 0.35
        rgb = np.clip(tint * (1 - g[..., None]) + g[..., None], 0, 1)
        path = folder / f"digit-{i}.png"
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)
        out.append(str(path))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="8,28,224")
    p.add_argument("--digits-run", default="runs/digits-ens5")
    p.add_argument("--work", default="build/screenshots", help="report folders and the 224x224 images")
    args = p.parse_args()
    only = set(args.only.split(","))
    work = ROOT / args.work
    if "8" in only:
        if not (ROOT / args.digits_run / "config.json").is_file():
            unsure("train", "--data", "digits", "--posterior", "ensemble", "--members", "5", "--epochs", "30",
                   "--out", args.digits_run, "--no-progress")
        unsure("explain", "--run", args.digits_run, "--data", "digits", "--methods", "default,grad,inputgrad,random",
               "--target", "all", "--n", "4", "--blurring", "--out", str(work / "8x8"), "--force", "--no-progress",
               "--screenshot", "docs/img/report-8x8.png")
    if "28" in only:
        unsure("demo", "--force", "--no-progress", "--screenshot", "docs/img/report.png")
    if "224" in only:
        files = colour_images(work / "images-224")
        unsure("explain", "--model", "examples/colour_models.py:ensemble224", "--images", *files,
               "--image-shape", "3,224,224", "--methods", "default,grad,inputgrad", "--target", "all",
               "--out", str(work / "224"), "--force", "--no-progress", "--screenshot", "docs/img/report-224.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
