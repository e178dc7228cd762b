"""``--model SPEC [--weights FILE]`` and ``unsure.save_run``: a new user's own networks through
``unsure explain`` and ``unsure bench blurring``, and every way the spec can be wrong."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import unsure
from unsure.cli.main import main
from unsure.report.check import problems

MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    def cnn(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                             nn.Flatten(), nn.Linear(16, 10))


    def build():
        return [cnn(0), cnn(1), cnn(2)]


    def one():
        return cnn(5)


    def broken():
        raise RuntimeError("no GPU here")


    def wrong():
        return "resnet18"


    NOT_A_FUNCTION = 3
''')


@pytest.fixture
def models(tmp_path, monkeypatch):
    path = tmp_path / "my_models.py"
    path.write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    return path


def test_explain_and_blurring_with_my_model(models, tmp_path, capsys):
    assert main(["explain", "--model", "my_models.py:build", "--data", "digits", "--out", "r",
                 "--n", "2", "--pool", "40", "--methods", "grad", "--no-progress"]) == 0
    page = (tmp_path / "r" / "index.html").read_text()
    assert problems(page, base=tmp_path / "r") == []
    # the model card says what is not known about a user's model instead of a bare "?"
    assert "not known (your model: unsure did not train it)" in page and ">not measured<" in page
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert "--model my_models.py:build" in res["command"]
    capsys.readouterr()
    assert main(["bench", "blurring", "--model", "my_models.py:build", "--data", "digits", "--n", "3",
                 "--methods", "grad,random", "--fractions", "0.05", "--out", "b", "--no-progress"]) == 0
    table = (tmp_path / "b" / "blurring.md").read_text()
    assert "| grad |" in table and "| random |" in table
    cfg = json.loads((tmp_path / "b" / "blurring.json").read_text())["config"]
    assert cfg["model"] == "my_models.py:build" and cfg["top"] == 3


def test_weights_are_loaded_into_what_the_factory_returns(models, tmp_path):
    sys.path.insert(0, str(tmp_path))
    try:
        import my_models
    finally:
        sys.path.remove(str(tmp_path))
    trained = [my_models.cnn(10 + i) for i in range(3)]  # other weights than build() makes
    save_file(nn.ModuleList(trained).state_dict(), str(tmp_path / "w.safetensors"))
    from unsure.user_model import model_posterior

    post = model_posterior("my_models.py:build", tmp_path / "w.safetensors")
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(post.sample_logits(x), torch.stack([n(x) for n in trained]))
    save_file(trained[0].state_dict(), str(tmp_path / "one.safetensors"))
    one = model_posterior("my_models.py:one", tmp_path / "one.safetensors")
    torch.testing.assert_close(one.sample_logits(x)[0], trained[0](x))


def test_save_run_then_run_loads_any_architecture(models, tmp_path):
    sys.path.insert(0, str(tmp_path))
    try:
        import my_models
    finally:
        sys.path.remove(str(tmp_path))
    nets = [my_models.cnn(20 + i) for i in range(3)]
    unsure.save_run(nets, tmp_path / "run", factory="my_models.py:build", data="digits")
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["factory"] == f"{models.resolve()}:build" and cfg["data"] == "digits"
    post = unsure.load_run(tmp_path / "run")
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(post.sample_logits(x), torch.stack([n(x) for n in nets]))
    assert main(["explain", "--run", str(tmp_path / "run"), "--out", "r2", "--n", "1", "--pool", "20",
                 "--methods", "grad", "--no-progress"]) == 0
    with pytest.raises(unsure.UnsureError, match="do not match"):
        unsure.save_run(nets[:2], tmp_path / "run2", factory="my_models.py:build")


def test_package_module_spec(models, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["bench", "blurring", "--model", "my_models:one", "--data", "digits", "--n", "2",
                 "--methods", "grad", "--fractions", "0.05", "--target", "total", "--out", "b1",
                 "--no-progress"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--model", "nowhere.py:build", "--data", "digits"], "no file nowhere.py"),
    (["--model", "my_models.py", "--data", "digits"], "needs FILE.py:FACTORY"),
    (["--model", "my_models.py:bulid", "--data", "digits"], "has no 'bulid'; it defines: broken, build, cnn, one, wrong"),
    (["--model", "my_models.py:NOT_A_FUNCTION", "--data", "digits"], "is a int, not a function"),
    (["--model", "my_models.py:broken", "--data", "digits"], r"broken\(\) raised RuntimeError: no GPU here"),
    (["--model", "my_models.py:wrong", "--data", "digits"], r"returned something unusable.*cannot use a str"),
    (["--model", "no_such_pkg_xyz:build", "--data", "digits"], "cannot import module 'no_such_pkg_xyz'"),
    (["--model", "my_models.py:build"], "--model needs --data"),
    (["--model", "my_models.py:build", "--data", "digits", "--weights", "missing.safetensors"], "no file missing"),
])
def test_spec_errors_are_one_line(models, argv, message, capsys):
    for cmd in (["explain", "--out", "r", "--n", "1", "--pool", "10", "--methods", "grad"],
                ["bench", "blurring", "--n", "1", "--methods", "grad"]):
        assert main(cmd + argv + ["--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("unsure: error:")
        assert __import__("re").search(message, err), err


def test_weights_must_fit_and_go_with_model(models, tmp_path, capsys):
    save_file({"bogus": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    assert main(["explain", "--model", "my_models.py:build", "--data", "digits", "--weights", "bad.safetensors",
                 "--out", "r", "--no-progress"]) == 2
    assert "does not fit the model: missing keys ['0.0.weight'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --run and --model are exclusive
        main(["explain", "--run", "x", "--model", "my_models.py:build", "--out", "r"])
