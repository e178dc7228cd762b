"""The HTML report of ``unsure demo`` and ``unsure explain``: overlays of the maps on the images,
the uncertainty numbers, the blurring-test curves, the settings and the command to reproduce it.

>>> report, results = build_report(posterior, x, names, methods=choose_methods("ua-backprop,grad"),
...                                targets=["epistemic"])
>>> write_report(report, "out")  # out/index.html, out/overlays/*.png
"""
from .html import render, write_report
from .inputs import load_images
from .model import Item, Report
from .trust import Panel
from .pipeline import build_report, choose_methods

__all__ = ["Panel", "Item", "Report", "build_report", "choose_methods", "load_images", "render",
           "write_report"]
