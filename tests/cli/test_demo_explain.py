"""``unsure explain`` and ``unsure demo`` end to end on a tiny digits run: report, overlays,
numbers, warnings, one-line errors with exit code 2, and the demo's run cache."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from unsure.cli.demo import cached_run, default_data, run_key
from unsure.cli.main import main
from unsure.errors import UnsureError
from unsure.report.browser import find_chromium, image_status
from unsure.report.check import image_count, problems
from unsure.report.model import ReportWarning
from unsure.training.run import train_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train_run(data="digits", members=2, epochs=1, out=str(out), progress=False)
    return out


def _png(path, side=8, value=200):
    Image.fromarray(np.full((side, side), value, np.uint8), "L").save(path)
    return str(path)


def _report_ok(out, n_images, n_maps, extra_images=0):
    page = out / "index.html"
    text = page.read_text()
    assert problems(text, base=out) == []
    # inputs + maps (each as map view and overlay) + colour bars (1 or 2) + curves
    assert n_images * (1 + 2 * n_maps) < image_count(text) <= n_images * (1 + 2 * n_maps) + 2 + extra_images
    assert len(list((out / "overlays").glob("*__*.png"))) == n_images * n_maps
    return text, json.loads((out / "results.json").read_text())


def test_explain_most_uncertain_data_images(run, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["explain", "--run", str(run), "--data", "digits", "--methods", "ua-backprop",
               "--target", "all", "--n", "3", "--out", str(out), "--no-progress"])
    assert rc == 0
    text, res = _report_ok(out, 3, 3)
    assert [im["name"].startswith("test #") for im in res["images"]] == [True] * 3
    # ua-backprop is complete: each map sums to the image's uncertainty
    for im in res["images"]:
        for t in ("total", "aleatoric", "epistemic"):
            assert abs(im["map_sums"][f"ua-backprop/{t}"] - im["uncertainty"][t]) < 1e-4
    u = [im["uncertainty"]["total"] for im in res["images"]]
    assert u == sorted(u, reverse=True)  # the most uncertain by the first target (total) first
    assert "unsure explain --run" in text and "--target all" in text
    assert "wrote" in capsys.readouterr().out


def test_explain_chosen_indices_several_methods_and_blurring(run, tmp_path):
    out = tmp_path / "rep"
    assert main(["explain", "--run", str(run), "--index", "0", "5", "--methods", "ua-backprop,ig:steps=8",
                 "--target", "epistemic,total", "--blurring", "--out", str(out), "--no-progress"]) == 0
    text, res = _report_ok(out, 2, 4, extra_images=1)
    assert set(res["blurring"]) == {"ua-backprop", "ig:steps=8"} and "mean over the substitutes" in text
    assert set(res["panel"]["by_substitute"]) == {"blur", "zero", "mean", "noise", "road"}
    assert all(im["trust"].startswith(("Trust ", "No map to trust")) for im in res["images"])
    assert [im["name"] for im in res["images"]] == ["test #0", "test #5"]
    assert all(isinstance(im["label"], int) for im in res["images"])


def test_explain_own_png_files_and_resize_warning(run, tmp_path, capsys):
    ok, big = _png(tmp_path / "ok.png"), _png(tmp_path / "big.png", side=32)
    out = tmp_path / "rep"
    assert main(["explain", "--run", str(run), "--images", ok, big, "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("unsure: warning:") == 1 and "big.png is 32x32 pixels; resized" in err
    text, res = _report_ok(out, 2, 1)
    assert [im["name"] for im in res["images"]] == ["ok.png", "big.png"]
    assert res["images"][0]["label"] is None and "true class" not in text
    assert "resized to the model" in text  # the warning is on the page, under Notes
    assert res["notes"] == ["big.png is 32x32 pixels; resized to the model's 8x8"]
    # no --methods: the default of unsure.attribute, by its name
    assert (out / "overlays" / "01-big__default__epistemic.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--images", "MISSING"], "image file"),
    (["--methods", "nope"], "unknown method 'nope'"),
    (["--target", "bogus"], "unknown measure 'bogus'"),
    (["--index", "99999"], "--index 99999 out of range"),
    (["--methods", "ua-backprop:T9=1"], "has no option(s) ['T9']"),
    (["--methods", "default:T9=1"], "has no option(s) ['T9']"),
    (["--blurring", "--target", "class:1"], "--blurring tests uncertainty maps"),
])
def test_explain_errors_are_one_line_exit_2(run, tmp_path, capsys, argv, message):
    argv = [a if a != "MISSING" else str(tmp_path / "missing.png") for a in argv]
    assert main(["explain", "--run", str(run), "--out", str(tmp_path / "o"), "--no-progress", *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unsure: error:") and message in lines[0], lines
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_explain_error_from_the_installed_entry_point(run, tmp_path):
    """The real process: exit code 2 and one line, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "unsure.cli.main", "explain", "--run", str(run),
                           "--methods", "nope", "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "unknown method 'nope'" in proc.stderr


def test_explain_bad_run_dir_exits_2(tmp_path, capsys):
    assert main(["explain", "--run", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_demo_on_digits_then_reuses_the_cached_run(tmp_path, capsys):
    argv = ["demo", "--data", "digits", "--members", "2", "--epochs", "1", "--n", "4",
            "--fractions", "0.05,0.1", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--no-progress"]
    assert main(argv) == 0
    text, res = _report_ok(tmp_path / "rep", 4, 3 * 3, extra_images=1)
    assert (tmp_path / "runs" / "demo-digits" / "config.json").is_file()
    assert not res["reused_run"]
    # UA-Backprop and two baselines (grad and inputgrad, or stand-ins named under Notes)
    assert set(res["blurring"]) == set(res["seconds_per_image"]) and len(res["blurring"]) == 3
    # 5% of 8x8 is 3 pixels, raised to 4 (6.25%); 10% is 6 pixels
    assert "default" in res["blurring"] and set(res["blurring"]["default"]) == {"0.0625", "0.1"}
    assert res["panel"]["pixels"] == {"0.0625": 4, "0.1": 6}
    assert "top 4 pixels (6.2%)" in text and "10.0% (6 pixels)" in text
    assert {"grad", "inputgrad"} <= set(res["blurring"])
    for needle in ("Which map to trust", "MURR", "aleatoric", "epistemic", "unsure demo --data digits",
                   "test accuracy", "median uncertainty reduction rate"):
        assert needle in text, needle
    assert (tmp_path / "rep" / "blurring.png").is_file()
    if find_chromium():  # the real demo page in a real browser (tests/report checks it in depth)
        assert image_status(tmp_path / "rep" / "index.html") == {
            "n": image_count(text), "broken": [], "overflow": 0}
    capsys.readouterr()
    assert main(argv) == 2  # the report exists: replaced only with --force
    assert "pass --force" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0  # second run: no training
    assert "reusing the cached run" in capsys.readouterr().out
    assert json.loads((tmp_path / "rep" / "results.json").read_text())["reused_run"]


def test_demo_cache_retrains_only_when_settings_change(tmp_path):
    calls = []
    rd = tmp_path / "demo-digits"
    train_run(data="digits", members=1, epochs=1, out=str(rd), progress=False)
    key = run_key(json.loads((rd / "config.json").read_text()))
    assert key == {"data": "digits", "data_sha256": None, "arch": "paper-cnn", "seed": 0, "limit": None,
                   "epochs": 1, "members": 1}
    said = []
    assert cached_run(rd, key, False, lambda force: calls.append(force), said.append) == (rd, True)
    assert calls == []
    cached_run(rd, key | {"epochs": 2}, False, lambda force: calls.append(force), said.append)
    cached_run(rd, key, True, lambda force: calls.append(force), said.append)
    cached_run(rd, key | {"data_sha256": "sha256:other"}, False, lambda force: calls.append(force), said.append)
    assert calls == [True, True, True] and "settings differ" in said[1] and "--retrain" in said[2]
    assert "settings differ" in said[3]  # the data file changed since the cached run was trained
    (tmp_path / "mine").mkdir()
    with pytest.raises(UnsureError, match="not a run directory"):  # never replaces a user's folder
        cached_run(tmp_path / "mine", key, False, lambda force: calls.append(force), said.append)


def test_demo_falls_back_to_digits_without_fashion_mnist(monkeypatch):
    load_mod = sys.modules["unsure.data.load"]
    monkeypatch.delenv("UNSURE_DATA", raising=False)
    monkeypatch.setattr(load_mod, "FASHION_DIRS", ())
    with pytest.warns(ReportWarning, match="Fashion-MNIST not found.*digits"):
        assert default_data() == "digits"


def test_demo_rejects_bad_options(tmp_path, capsys):
    assert main(["demo", "--data", "digits", "--members", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--members must be >= 1" in capsys.readouterr().err
