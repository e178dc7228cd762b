"""Fill the numbers of docs/results/properties.md from the bench JSONs (nothing typed by hand):

    python scripts/properties_page.py scripts/properties_page.md > docs/results/properties.md

A placeholder ``KEY`` is replaced; ``DIGITS_SUMMARY`` / ``MCD_SUMMARY`` / ``FM_SUMMARY`` /
``SH_SUMMARY`` / ``GT_SUMMARY`` by the tables of ``scripts/properties_summary.py``, ``FM_TABLE`` /
``SH_TABLE`` / ``GT_TABLE`` by every method's means, ``FM_METHODS`` etc. by the number of methods,
``SH_VS_FM`` by the Shapley family beside the Fashion-MNIST methods on the same images.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from properties_summary import between, means_table, on_same_images, summary

ROOT = Path(__file__).resolve().parents[1] / "docs" / "results"
RUNS = {"DIG": "properties-digits", "MCD": "properties-digits-mcd", "FM": "properties-fmnist",
        "SH": "properties-fmnist-shapley", "GT": "properties-gt-digits"}
SUMMARY = {"DIG": "DIGITS"}  # the older placeholder name


def values() -> dict[str, str]:
    out = {}
    for key, folder in RUNS.items():
        path = ROOT / folder / "properties.json"
        if not path.exists():
            continue
        js = json.loads(path.read_text())
        names, agree = js["metrics"], js["agreement"]
        i = {n: j for j, n in enumerate(names)}
        out[f"{key}_BETWEEN_I"] = f"{between(agree['across_images'], names):.3f}"
        out[f"{key}_BETWEEN_M"] = f"{between(agree['across_methods'], names):.3f}"
        for short, (a, b) in {"RI_CONV": ("rank-improvement", "conveyance-spearman"),
                              "MURR_FLIP": ("murr", "flipping-auc"),
                              "FLIP_INS": ("flipping-auc", "insertion-auc"),
                              "GTR_MURR": ("gt-rank", "murr"), "GTR_FLIP": ("gt-rank", "flipping-auc"),
                              "GTRI": ("gt-rank", "insertion-auc"),
                              "GTR_GTA": ("gt-rank", "gt-auroc")}.items():
            if a in i and b in i:
                out[f"{key}_{short}_I"] = f"{agree['across_images'][i[a]][i[b]]:.3f}"
                out[f"{key}_{short}_M"] = f"{agree['across_methods'][i[a]][i[b]]:.3f}"
        body = summary(str(path)).split("\n", 2)[2]  # without the file heading
        out[SUMMARY.get(key, key) + "_SUMMARY"] = body.replace(str(ROOT) + "/", "")
        out[f"{key}_TABLE"] = means_table(str(path))
        out[f"{key}_METHODS"] = str(len(js["results"]))
        out[f"{key}_IMAGES"] = str(len(js["config"]["images"]))
        score_s = [r["score_seconds"] for r in js["results"].values()]
        out[f"{key}_SCORE_MINUTES"] = f"{min(score_s) / 60:.1f} to {max(score_s) / 60:.1f}"
        out[f"{key}_SECONDS"] = " and ".join(f"{r['seconds_per_image']:.1f}" for r in js["results"].values())
    sh, fm = ROOT / RUNS["SH"] / "properties.json", ROOT / RUNS["FM"] / "properties.json"
    if sh.exists() and fm.exists():
        out["SH_VS_FM"] = on_same_images(str(sh), str(fm))
    return out


if __name__ == "__main__":
    text = Path(sys.argv[1]).read_text()
    for k, v in sorted(values().items(), key=lambda kv: -len(kv[0])):
        text = text.replace(k, v)
    print(text, end="")
