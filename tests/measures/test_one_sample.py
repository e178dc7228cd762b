"""A one-sample posterior (a single network) has epistemic uncertainty 0: the default target
becomes total with a note, epistemic / aleatoric are refused in one line, in the API and the
CLI; ``unsure explain`` reports the model's accuracy on ``--data`` and warns near chance."""
from __future__ import annotations

import json
import textwrap
import warnings

import pytest
import torch
from torch import nn

import unsure
from unsure.cli.main import main
from unsure.measures.one_sample import OneSampleNote
from unsure.report.accuracy import Accuracy


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


@pytest.fixture
def x():
    return torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_single_network_default_is_total_with_a_note(x):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unsure.attribute(_net(0), x)
    assert res.meta["target"] == "total" and "S = 1" in res.meta["note"]
    assert [w.category for w in caught] == [OneSampleNote]
    total = unsure.uncertainty(_net(0), x)["total"]
    assert (total > 0).all()
    torch.testing.assert_close(res.maps.sum((1, 2)), total)  # complete, and not a blank map


def test_ensemble_default_stays_epistemic_without_a_note(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error", OneSampleNote)
        res = unsure.attribute([_net(0), _net(1)], x)
    assert res.meta["target"] == "epistemic" and "note" not in res.meta
    torch.testing.assert_close(res.maps.sum((1, 2)), unsure.uncertainty([_net(0), _net(1)], x)["epistemic"])


@pytest.mark.parametrize("target", ["epistemic", "aleatoric", unsure.epistemic])
@pytest.mark.parametrize("method", [None, "grad"])
def test_single_network_refuses_epistemic_and_aleatoric(x, target, method):
    with pytest.raises(unsure.UnsureError, match="one sample per input .S = 1.") as e:
        unsure.attribute(_net(0), x, method=method, target=target)
    assert "\n" not in str(e.value)


def test_a_function_posterior_is_checked_once_its_samples_are_known(x):
    net = _net(0)
    post = unsure.as_posterior(lambda im: net(im)[None])  # x -> [1,B,K]
    with pytest.raises(unsure.UnsureError, match="S = 1"):
        unsure.attribute(post, x, method="grad", target="epistemic")
    with pytest.warns(OneSampleNote):
        assert unsure.attribute(post, x, method="grad").meta["target"] == "total"


def test_accuracy_near_chance_threshold():
    assert Accuracy(30, 100, 10, "x").near_chance  # 0.30 < 0.1 + 0.25 * 0.9 = 0.325
    assert not Accuracy(33, 100, 10, "x").near_chance
    assert Accuracy(60, 100, 2, "x").near_chance  # 0.60 < 0.5 + 0.25 * 0.5 = 0.625
    assert Accuracy(90, 100, 10, "x").warning() is None
    assert "near chance (0.100 for 10 classes)" in Accuracy(12, 100, 10, "x").warning()


MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    def one():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
''')


def test_explain_a_single_untrained_network(tmp_path, monkeypatch, capsys):
    (tmp_path / "m.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    args = ["explain", "--model", "m.py:one", "--data", "digits", "--n", "2", "--pool", "60",
            "--methods", "grad", "--no-progress"]
    assert main(args + ["--target", "epistemic", "--out", "bad"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "S = 1" in err and not (tmp_path / "bad").exists()
    assert main(args + ["--out", "r"]) == 0
    err = capsys.readouterr().err
    assert "explaining the total uncertainty" in err and "near chance" in err
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert set(res["images"][0]["map_sums"]) == {"grad/total"}
    acc = res["accuracy"]
    assert acc["n"] == 60 and acc["near_chance"] and acc["value"] == acc["correct"] / 60
    page = (tmp_path / "r" / "index.html").read_text()
    assert "explaining the total uncertainty" in page and "near chance" in page
    assert f"{acc['value']:.3f} on the first 60 digits test images ({acc['correct']} of 60; chance 0.100)" in page


def test_explain_dataset_a_single_network(tmp_path, monkeypatch, capsys):
    (tmp_path / "m.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    args = ["explain-dataset", "--model", "m.py:one", "--data", "digits", "--n", "4", "--methods", "grad",
            "--no-progress"]
    assert main(args + ["--target", "aleatoric", "--out", "bad"]) == 2
    assert "S = 1" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(args + ["--out", "ok"]) == 0
    assert "explaining the total uncertainty" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "ok" / "manifest.json").read_text())
    assert manifest["job"]["targets"] == ["total"]
