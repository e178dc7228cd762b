"""docs/outputs.md names exactly the top-level keys every command writes (tiny real runs on
digits), every JSON output carries ``schema_version``, ``command`` and ``settings``, and files
written before those keys existed still load."""
from __future__ import annotations

import json
import re
import shlex
import warnings
from pathlib import Path

import pytest

from unsure.cli.main import main
from unsure.outputs import SCHEMA_VERSION

DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"


def documented() -> dict[str, tuple[set[str], set[str]]]:
    """``{section heading: (all keys, required keys)}`` from the tables of docs/outputs.md."""
    out, heading = {}, None
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            out[heading] = (set(), set())
        m = re.match(r"\| `([a-z_]+)` \| ([^|]*) \|", line)
        if heading and m:
            out[heading][0].add(m.group(1))
            if "optional" not in m.group(2):
                out[heading][1].add(m.group(1))
    return out


def test_doc_parser_reads_the_tables():
    doc = documented()
    keys, required = doc["Report `results.json` (`unsure explain`, `unsure demo`)"]
    assert {"schema_version", "images", "blurring"} <= keys and "blurring" not in required


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Run every command once with tiny settings; ``{section heading: [JSON files]}``."""
    d = tmp_path_factory.mktemp("outputs")
    run = d / "run"
    quiet = ["--no-progress"]
    commands = [
        ["train", "--data", "digits", "--members", "2", "--epochs", "1", "--limit", "150", "--out", run],
        ["train-vae", "--data", "digits", "--epochs", "1", "--limit", "100", "--out", d / "vae"],
        ["explain", "--run", run, "--n", "2", "--pool", "20", "--methods", "grad", "--blurring", "--out", d / "ex"],
        ["demo", "--data", "digits", "--members", "2", "--epochs", "1", "--limit", "100", "--n", "2",
         "--pool", "20", "--methods", "grad", "--runs", d / "runs", "--out", d / "demo"],
        ["explain-dataset", "--run", run, "--limit", "4", "--methods", "grad", "--out", d / "ds"],
        ["bench", "blurring", "--run", run, "--n", "2", "--methods", "grad,random", "--replacements", "blur,zero",
         "--out", d / "b"],
        ["bench", "speed", "--run", run, "--n", "2", "--methods", "grad", "--repeats", "1", "--out", d / "b"],
        ["bench", "large-k", "--classes", "10", "--n", "2", "--members", "2", "--image-size", "8", "--repeats", "1",
         "--variants", "class", "--out", d / "b"],
        ["bench", "mitigation", "--run", run, "--methods", "grad", "--train-size", "20", "--epochs", "1",
         "--seeds", "1", "--eval-size", "20", "--cache", d / "cache", "--out", d / "b"],
        ["bench", "all", "--run", run, "--n", "2", "--methods", "grad", "--only", "blurring,insertion",
         "--out", d / "all"],
        ["bench", "properties", "--run", run, "--n", "3", "--methods", "grad,random", "--method-n", "1",
         "--repeats", "1", "--positions", "1", "--out", d / "b"],
        ["score", "--run", run, "--maps", d / "maps.npy", "--metrics", "complexity", "--out", d / "sc"],
    ]
    import numpy as np
    np.save(d / "maps.npy", np.random.default_rng(0).random((2, 8, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for argv in commands:
            assert main([str(a) for a in argv] + quiet) == 0, argv
    return {
        "Run `config.json` (`unsure train`, `unsure.save_run`)": [run / "config.json"],
        "VAE `config.json` (`unsure train-vae`)": [d / "vae" / "config.json"],
        "Report `results.json` (`unsure explain`, `unsure demo`)": [d / "ex" / "results.json",
                                                                   d / "demo" / "results.json"],
        "Bench `NAME.json` (`unsure bench NAME`)": sorted((d / "b").glob("*.json")) + sorted((d / "all").rglob("*.json")),
        "`explain-dataset` `manifest.json`": [d / "ds" / "manifest.json"],
        "Score `score.json` (`unsure score`)": [d / "sc" / "score.json"],
    }


def test_every_output_is_documented_with_exactly_its_keys(outputs):
    doc = documented()
    assert set(outputs) <= set(doc), set(outputs) - set(doc)
    for heading, files in outputs.items():
        keys, required = doc[heading]
        seen = set()
        for f in files:
            got = set(json.loads(f.read_text()))
            assert got <= keys, f"{f.name}: undocumented keys {got - keys} (in '{heading}')"
            assert required <= got, f"{f.name}: documented keys missing {required - got}"
            seen |= got
        assert seen == keys, f"'{heading}' documents keys no tiny run wrote: {keys - seen}"
    assert len(outputs["Bench `NAME.json` (`unsure bench NAME`)"]) == 8  # 5 benches + all, blurring, insertion


def test_every_output_carries_the_version_the_command_and_the_settings(outputs):
    for files in outputs.values():
        for f in files:
            payload = json.loads(f.read_text())
            assert payload["schema_version"] == SCHEMA_VERSION, f
            assert shlex.split(payload["command"])[0] == "unsure", f
            assert isinstance(payload["settings"], dict) and payload["settings"], f
    bench = json.loads(next(p for p in outputs["Bench `NAME.json` (`unsure bench NAME`)"]
                            if p.name == "blurring.json").read_text())
    assert bench["settings"]["n"] == 2 and bench["settings"]["replacements"] == "blur,zero"
    assert "--replacements blur,zero" in bench["command"]
    assert set(bench["results"]["grad"]["0.02"]) >= {"murr", "auc"} and "panel" in bench
    run_cfg = json.loads(outputs["Run `config.json` (`unsure train`, `unsure.save_run`)"][0].read_text())
    assert run_cfg["settings"]["members"] == 2 and run_cfg["settings"]["limit"] == 150


def test_files_without_the_new_keys_still_load(outputs, tmp_path):
    import shutil

    from unsure.run import load_run

    old = tmp_path / "old-run"
    shutil.copytree(outputs["Run `config.json` (`unsure train`, `unsure.save_run`)"][0].parent, old)
    cfg = json.loads((old / "config.json").read_text())
    for k in ("schema_version", "command", "settings"):
        del cfg[k]
    (old / "config.json").write_text(json.dumps(cfg))
    assert load_run(old).num_samples == 2
    # an explain-dataset folder from before: the same job resumes (nothing to redo)
    ds = tmp_path / "ds"
    shutil.copytree(outputs["`explain-dataset` `manifest.json`"][0].parent, ds)
    man = json.loads((ds / "manifest.json").read_text())
    (ds / "manifest.json").write_text(json.dumps({k: man[k] for k in ("job", "columns", "read_map")}))
    s = man["settings"]
    assert main(["explain-dataset", "--run", s["run"], "--limit", "4", "--methods", "grad", "--out", str(ds),
                 "--no-progress"]) == 0
