"""``unsure bench blurring`` with the substitute panel: JSON layout, panel means and ranks, the blur
results unchanged, errors."""
from __future__ import annotations

import json

import pytest

from unsure.bench.panel import _ranks, panel_scores
from unsure.cli.main import main
from unsure.training.run import train_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("panel") / "run"
    train_run(data="digits", members=2, epochs=1, out=str(out), progress=False)
    return out


def bench(run_dir, out, *extra):
    rc = main(["bench", "blurring", "--run", str(run_dir), "--methods", "inputgrad,random,grad",
               "--n", "6", "--fractions", "0.02,0.05", "--sigmas", "0.5,2", "--out", str(out),
               "--no-progress", *extra])
    assert rc == 0
    return json.loads((out / "blurring.json").read_text())


def test_panel_json_layout_and_means(run_dir, tmp_path):
    got = bench(run_dir, tmp_path / "panel")
    reps = ["blur", "zero", "mean", "noise", "road"]
    assert list(got["by_replacement"]) == reps
    methods = ["inputgrad", "random", "grad"]
    for f in ("0.02", "0.05"):
        for m in methods:
            blur = got["by_replacement"]["blur"][m][f]
            assert {k: v for k, v in got["results"][m][f].items() if "per_image" not in k} == blur
            cell = got["panel"][m][f]
            murrs = [got["by_replacement"][r][m][f]["murr"] for r in reps]
            aucs = [got["by_replacement"][r][m][f]["auc"] for r in reps]
            assert cell["murr"] == pytest.approx(sum(murrs) / 5) and cell["auc"] == pytest.approx(sum(aucs) / 5)
            assert 1 <= cell["mean_rank"] <= 3 and set(cell) == {"murr", "auc", "mean_rank", "mean_rank_auc"}
        assert sum(got["panel"][m][f]["mean_rank"] for m in methods) == pytest.approx(6.0)  # 1+2+3
    cfg = got["config"]
    assert [r["name"] for r in cfg["replacements"]] == reps and cfg["results_replacement"] == "blur"
    assert {r["name"]: r.get("seed") for r in cfg["replacements"]}["noise"] == 0
    assert set(cfg["test_seconds_per_image"]) == set(methods)
    md = (tmp_path / "panel" / "blurring.md").read_text()
    for r in reps:
        assert f"### Substitute `{r}`" in md
    assert "### Panel" in md and (tmp_path / "panel" / "blurring-panel.png").exists()
    # blur alone: the paper's test, same numbers as the panel's blur
    alone = bench(run_dir, tmp_path / "blur", "--replacements", "blur")
    assert list(alone["by_replacement"]) == ["blur"]
    for m in methods:
        for f in ("0.02", "0.05"):
            assert alone["results"][m][f]["murr_per_image"] == pytest.approx(
                got["results"][m][f]["murr_per_image"], abs=1e-6)


def test_bad_replacement_is_a_one_line_error(run_dir, tmp_path, capsys):
    rc = main(["bench", "blurring", "--run", str(run_dir), "--methods", "random", "--n", "3",
               "--replacements", "blur,nope", "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2 and "unknown replacement 'nope'" in capsys.readouterr().err


def test_ranks_and_panel_scores():
    assert _ranks([0.5, 0.9, 0.5], True) == [2.5, 1.0, 2.5]
    assert _ranks([0.5, 0.9, 0.1], False) == [2.0, 3.0, 1.0]
    cell = lambda m, a: {"0.1": {"murr": m, "auc": a, "murr_per_image": [m, m], "auc_per_image": [a, a]}}  # noqa: E731
    by_rep = {"r1": {"a": cell(0.8, 0.2), "b": cell(0.6, 0.3)},
              "r2": {"a": cell(0.1, 0.9), "b": cell(0.5, 0.6)}}
    p = panel_scores(by_rep, [0.1])
    assert p["a"]["0.1"]["murr"] == pytest.approx(0.45) and p["b"]["0.1"]["murr"] == pytest.approx(0.55)
    assert p["a"]["0.1"]["mean_rank"] == 1.5 and p["b"]["0.1"]["mean_rank_auc"] == 1.5
    assert p["a"]["0.1"]["murr_per_image"] == pytest.approx([0.45, 0.45])
