"""One vocabulary of flags across commands (issue 16, item 4): every help shows its defaults,
``--version``, ``methods --options``, the deprecated spellings still work, unknown names exit 2
with one line, ``--split`` has the same choices everywhere, and ``--out`` follows one overwrite
rule."""
from __future__ import annotations

import argparse
import json
import re

import pytest

from unsure._version import __version__
from unsure.cli.main import build_parser, main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-member ensemble of 8x8 Paper-CNNs on digits, saved untrained (loads and explains)."""
    import torch

    import unsure
    from unsure.models import PaperCNN
    from unsure.run import save_run

    torch.manual_seed(0)
    post = unsure.DeepEnsemble([PaperCNN(1, 10, 8) for _ in range(2)])
    return save_run(tmp_path_factory.mktemp("flags") / "run", post, {
        "data": "digits", "arch": "paper-cnn",
        "arch_options": {"in_channels": 1, "num_classes": 10, "image_size": 8}})


def all_parsers(parser: argparse.ArgumentParser, prog: str = "unsure"):
    """``(prog, parser)`` for the parser and every sub-command below it."""
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_parsers(sub, f"{prog} {name}")


def shown_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    fmt = parser._get_formatter()
    return fmt._expand_help(action) if action.help else ""


def test_the_walk_sees_every_command_and_bench():
    progs = {p for p, _ in all_parsers(build_parser())}
    assert {"unsure train", "unsure explain", "unsure demo", "unsure explain-dataset", "unsure train-vae",
            "unsure bench blurring", "unsure bench all", "unsure bench mitigation", "unsure methods"} <= progs


def test_every_default_is_shown_in_the_help():
    missing = []
    for prog, p in all_parsers(build_parser()):
        for a in p._actions:
            if (not a.option_strings or a.help == argparse.SUPPRESS
                    or any(a.default is v for v in (None, False, argparse.SUPPRESS))):
                continue
            text = shown_help(p, a)
            if not re.search(r"default\W{0,3}" + re.escape(str(a.default)), text):
                missing.append(f"{prog} {a.option_strings[0]} (default {a.default!r}): {text!r}")
    assert not missing, "help texts without their default:\n" + "\n".join(missing)


def test_the_default_check_can_fail():
    p = argparse.ArgumentParser()
    a = p.add_argument("--x", default=3, help="no default here")
    assert not re.search(r"default\W{0,3}3", shown_help(p, a))


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"unsure {__version__}"


def test_methods_options_lists_types_and_defaults(capsys):
    assert main(["methods", "--options"]) == 0
    out = capsys.readouterr().out
    block = out.split("\nua-backprop ", 1)[1].split("\n")
    opts = {ln.split(":")[0].strip(): ln for ln in block[1:] if ln.startswith("    ")}
    assert "variant: str = 'class'" in opts["variant"] and "steps: int = 32" in opts["steps"]
    grad = out.split("\ngrad ", 1)[1].split("\n")[1]
    assert grad.strip() == "reduce: one of max, mean = 'max'"


def one_line_exit_2(capsys, argv, match):
    with pytest.raises(SystemExit) as e:
        rc = main(argv)
        raise SystemExit(rc)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2, err
    assert len(err.splitlines()) == 1 and re.search(match, err), err
    return err


@pytest.mark.parametrize("argv, match", [
    (["demo", "--methods", "gradd", "--data", "digits"], "unknown .*method 'gradd'"),
    (["bench", "blurring", "--run", "RUN", "--methods", "gradd"], "unknown .*method 'gradd'"),
    (["bench", "anomaly", "--run", "RUN", "--methods", "grad,gradd", "--n", "2"], "unknown .*method 'gradd'"),
    (["explain", "--run", "RUN", "--methods", "gradd"], "unknown .*method 'gradd'"),
    (["explain-dataset", "--run", "RUN", "--methods", "gradd"], "unknown .*method 'gradd'"),
    (["explain", "--run", "RUN", "--target", "epistemix"], "epistemix"),
    (["bench", "blurring", "--run", "RUN", "--target", "epistemix"], "invalid choice: 'epistemix'"),
    (["train", "--data", "digits", "--posterior", "nope"], "unknown posterior 'nope'"),
    (["bench", "insertion", "--run", "RUN", "--target", "epistemix"], "unknown measure 'epistemix'"),
    (["bench", "sanity", "--run", "RUN", "--target", "class:x"], "bad class index"),
    (["explain-dataset", "--run", "RUN", "--target", "epistemix"], "unknown measure 'epistemix'"),
    (["bench", "nope"], "invalid choice: 'nope'"),
    (["bench", "blurring", "--run", "RUN", "--split", "train"], "--split train: this command scores held-out"),
    (["bench", "insertion", "--run", "RUN", "--split", "train"], "--split train"),
])
def test_unknown_names_exit_2_with_one_line(tiny_run, tmp_path, capsys, argv, match):
    argv = [str(tiny_run) if a == "RUN" else a for a in argv]
    argv += ["--out", str(tmp_path / "out")] if argv[0] != "bench" or argv[1] != "nope" else []
    one_line_exit_2(capsys, argv, match)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_split_has_the_same_choices_everywhere():
    for prog, p in all_parsers(build_parser()):
        for a in p._actions:
            if "--split" in a.option_strings:
                assert tuple(a.choices) == ("test", "val", "train"), prog


def test_deprecated_spellings_still_work(capsys):
    p = build_parser()
    a = p.parse_args(["bench", "blurring", "--run", "r", "--top", "7"])
    assert a.n == 7 and "--top is deprecated; use --n" in capsys.readouterr().err
    assert p.parse_args(["bench", "blurring", "--run", "r"]).n == 100
    a = p.parse_args(["demo", "--n-images", "3"])
    assert a.n == 3 and "--n-images is deprecated" in capsys.readouterr().err
    a = p.parse_args(["explain", "--run", "r", "--out", "o", "--method", "grad,ig"])
    assert a.methods == "grad,ig" and "--method is deprecated; use --methods" in capsys.readouterr().err

    assert p.parse_args(["explain", "--run", "r", "--out", "o"]).methods == "default"  # unsure.attribute's
    assert p.parse_args(["explain-dataset", "--run", "r", "--out", "o"]).methods == "default"
    assert "--method " not in p._subparsers._group_actions[0].choices["explain"].format_help()  # hidden


def test_explain_out_needs_force_and_refuses_a_users_folder(tiny_run, tmp_path, capsys):
    out = tmp_path / "rep"
    argv = ["explain", "--run", str(tiny_run), "--n", "2", "--pool", "20", "--methods", "grad",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()  # the first run's lines (a near-chance warning for this 1-epoch run)
    res = json.loads((out / "results.json").read_text())
    one_line_exit_2(capsys, argv, "already exists \\(pass --force")
    assert json.loads((out / "results.json").read_text()) == res
    assert main(argv + ["--force"]) == 0
    capsys.readouterr()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    one_line_exit_2(capsys, argv[:-3] + ["--out", str(mine), "--no-progress", "--force"], "does not hold unsure's")
    assert (mine / "notes.txt").read_text() == "keep"


def test_bench_out_needs_force_to_replace_its_result(tiny_run, tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["bench", "speed", "--run", str(tiny_run), "--methods", "grad", "--n", "2", "--repeats", "1",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0 and (out / "speed.json").is_file()
    one_line_exit_2(capsys, argv, "already holds speed.json \\(pass --force")
    assert main(argv + ["--force"]) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    one_line_exit_2(capsys, argv[:-3] + ["--out", str(mine), "--force"], "does not hold unsure's bench output")
