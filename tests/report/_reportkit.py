"""Shared helpers of the report tests."""
import torch

from unsure.report.model import Blurring, Item, Report
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
    blur = Blurring({"ua-backprop": {"0.02": {"murr": 0.5, "auc": 0.6}},
                     "grad": {"0.02": {"murr": 0.3, "auc": 0.8}}}, None, n, (2.0, 4.0))
    return Report(title="A <test> report", items=items, methods=["ua-backprop", "grad"],
                  targets=["epistemic"], scales=scales, model={"data": "digits"},
                  settings={"seed": 0}, command="unsure demo --data digits", notes=list(notes),
                  blurring=blur, intro="intro & more")

