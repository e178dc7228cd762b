"""Shared helpers of the report tests."""
import torch

from unsure.report.model import Item, Report
from unsure.report.trust import Panel
from unsure.report.overlay import is_signed, scale_for


def make_report(n: int = 3, side: int = 8, notes=("a note <with> markup & stuff",)) -> Report:
    """A report of random images and maps: one non-negative and one signed map per image."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, side, side, generator=g)
    maps = {("ua-backprop", "epistemic"): torch.rand(n, side, side, generator=g),
            ("grad", "epistemic"): torch.randn(n, side, side, generator=g)}
    scales = {k: [scale_for(m[i], is_signed(m)) for i in range(n)] for k, m in maps.items()}
    items = [Item(f"test #{i}", x[i], torch.softmax(torch.randn(10, generator=g), 0),
                  {"total": 1.2, "aleatoric": 0.9, "epistemic": 0.3},
                  {k: m[i] for k, m in maps.items()}, label=i) for i in range(n)]
    subs = ("blur", "zero")
    per_image = {"ua-backprop": {"blur": [0.5] * n, "zero": [0.7] * n}, "grad": {"blur": [0.3] * n, "zero": [0.1] * n}}
    by_sub = {s: {m: {"0.0625": {"murr": per_image[m][s][0], "auc": 0.5}} for m in per_image} for s in subs}
    results = {m: {"0.0625": {"murr": sum(per_image[m][s][0] for s in subs) / 2, "auc": 0.5}} for m in per_image}
    blur = Panel("epistemic", ["0.0625"], {"0.0625": 4}, subs, per_image, results, by_sub, None, n, (2.0, 4.0))
    return Report(title="A <test> report", items=items, methods=["ua-backprop", "grad"],
                  targets=["epistemic"], scales=scales, model={"data": "digits"},
                  settings={"seed": 0}, command="unsure demo --data digits", notes=list(notes),
                  blurring=blur, intro="intro & more")

