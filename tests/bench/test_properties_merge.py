"""``scripts/properties_merge.py``: two halves of a method list merge into what one run of the
whole list gives; files of other images, settings or posteriors are refused in one line."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from unsure.cli.main import main
from unsure.training.run import train_run

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import properties_merge  # noqa: E402

BENCH = ["--n", "4", "--method-n", "1", "--repeats", "1", "--positions", "1", "--sigmas", "0.5,2", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    run = root / "run"
    train_run(data="digits", members=2, epochs=1, out=str(run), progress=False)
    out = {}
    for name, methods in {"all": "inputgrad,random,grad", "a": "inputgrad,random", "b": "grad"}.items():
        assert main(["bench", "properties", "--run", str(run), "--methods", methods, "--out",
                     str(root / name), *BENCH]) == 0
        out[name] = root / name / "properties.json"
    return root, out


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_two_halves_merge_into_the_whole_run(runs):
    root, f = runs
    out = root / "merged"
    assert properties_merge.main([str(f["a"]), str(f["b"]), "--out", str(out)]) == 0
    merged = json.loads((out / "properties.json").read_text())
    whole = json.loads(f["all"].read_text())
    assert set(merged["results"]) == set(whole["results"]) == {"inputgrad", "random", "grad"}
    for m in whole["results"]:  # every value per image, bit for bit (per-method seeds)
        assert _same(merged["results"][m]["per_image"], whole["results"][m]["per_image"]), m
    # agreement and ranking recomputed over all three methods equal the whole run's
    assert _same(merged["agreement"], whole["agreement"])
    assert merged["ranking"] == {k: v for k, v in whole["ranking"].items()}
    assert merged["config"]["images"] == whole["config"]["images"]
    assert (out / "properties.png").stat().st_size > 0 and "| grad |" in (out / "properties.md").read_text()


def _edited(root, f, name, edit):
    js = json.loads(f.read_text())
    edit(js)
    p = root / f"{name}.json"
    p.write_text(json.dumps(js))
    return p


@pytest.mark.parametrize("name,edit,words", [
    ("images", lambda js: js["config"]["images"].reverse(), "config.images"),
    ("seed", lambda js: js["config"].update(seed=1), "config.seed"),
    ("score", lambda js: js["config"]["score_options"].update(repeats=3), "config.score_options"),
    ("identity", lambda js: js["identity"].update(weights="sha256:" + "0" * 64), "another posterior"),
    ("metrics", lambda js: js["metrics"].pop(), "other values"),
    ("bench", lambda js: js["config"].update(bench="insertion"), "not a result"),
])
def test_a_mismatch_is_refused_in_one_line(runs, capsys, name, edit, words):
    root, f = runs
    bad = _edited(root, f["b"], name, edit)
    assert properties_merge.main([str(f["a"]), str(bad), "--out", str(root / f"x-{name}")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("properties_merge: error:") and words in err and "\n" not in err
    assert not (root / f"x-{name}" / "properties.json").exists()


def test_a_method_in_two_files_and_an_existing_output_are_refused(runs, capsys):
    root, f = runs
    assert properties_merge.main([str(f["a"]), str(f["all"]), "--out", str(root / "dup")]) == 2
    assert "is in both" in capsys.readouterr().err
    out = root / "exists"
    out.mkdir()
    (out / "properties.json").write_text("{}")
    assert properties_merge.main([str(f["a"]), str(f["b"]), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "properties.json").read_text() == "{}"


def test_an_option_an_older_file_lacks_equals_its_none_but_not_a_value(runs, capsys):
    """A score option added after a file was written (absent there) matches ``None`` (its old
    behaviour) in the newer file; the same option with a value is still a mismatch."""
    root, f = runs
    newer = _edited(root, f["b"], "newer", lambda js: js["config"]["score_options"].update(sigmas=None))
    older = _edited(root, f["a"], "older", lambda js: js["config"]["score_options"].pop("sigmas"))
    assert properties_merge.main([str(older), str(newer), "--out", str(root / "older-merged")]) == 0
    valued = _edited(root, f["b"], "valued", lambda js: js["config"]["score_options"].update(sigmas=[1.0]))
    assert properties_merge.main([str(older), str(valued), "--out", str(root / "valued-merged")]) == 2
    assert "config.score_options" in capsys.readouterr().err
