"""Own models, second part: ``--weights`` reads ``torch.save`` state_dicts (``.pt`` / ``.pth``,
``weights_only=True``) besides safetensors, and Grad-CAM / FullGrad take ``layer=`` as a module."""
from __future__ import annotations

import textwrap

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import unsure
from unsure.cli.main import main
from unsure.user_model import model_posterior, read_state

MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    def cnn(seed=0):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                             nn.Flatten(), nn.Linear(16, 10))


    def build():
        return [cnn(0), cnn(1)]
''')


@pytest.fixture
def factory(tmp_path, monkeypatch):
    (tmp_path / "mm.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(MODELS, ns)
    return ns["cnn"]


@pytest.mark.parametrize("name, wrap", [("w.pt", None), ("w.pth", None), ("ckpt.pt", "state_dict"),
                                        ("ckpt.tar", "model_state_dict"), ("w.safetensors", None)])
def test_weights_from_torch_save_and_safetensors(factory, tmp_path, name, wrap):
    trained = nn.ModuleList([factory(7), factory(8)])  # other weights than build() makes
    state = trained.state_dict()
    if name.endswith(".safetensors"):
        save_file(state, str(tmp_path / name))
    else:
        torch.save(state if wrap is None else {wrap: state, "epoch": 3}, tmp_path / name)
    post = model_posterior("mm.py:build", tmp_path / name)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(post.sample_logits(x), torch.stack([n(x) for n in trained]))


def test_a_pickled_model_is_refused_in_one_line(factory, tmp_path):
    torch.save(factory(3), tmp_path / "whole.pt")  # the module object, not its state_dict
    with pytest.raises(unsure.UnsureError, match="save model.state_dict") as e:
        read_state(tmp_path / "whole.pt")
    assert "\n" not in str(e.value)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(unsure.UnsureError, match="cannot read .* as a state_dict"):
        read_state(tmp_path / "junk.pth")


def test_cli_weights_pt(factory, tmp_path, capsys):
    torch.save(nn.ModuleList([factory(7), factory(8)]).state_dict(), tmp_path / "w.pt")
    assert main(["explain", "--model", "mm.py:build", "--weights", "w.pt", "--data", "digits", "--n", "1",
                 "--pool", "20", "--methods", "grad", "--out", "r", "--no-progress"]) == 0
    torch.save({"0.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    assert main(["explain", "--model", "mm.py:build", "--weights", "bad.pt", "--data", "digits",
                 "--out", "r2", "--no-progress"]) == 2
    assert "does not fit the model" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["gradcam", "fullgrad"])
def test_layer_takes_a_module(factory, method):
    nets = [factory(0), factory(1)]
    x = torch.rand(2, 1, 8, 8)
    by_path = unsure.attribute(nets, x, method=method, layer="0")
    by_module = unsure.attribute(nets, x, method=method, layer=nets[0][0])  # member 0's module: its path
    torch.testing.assert_close(by_module.maps, by_path.maps)
    with pytest.raises(unsure.UnsureError, match="not a module inside the posterior"):
        unsure.attribute(nets, x, method=method, layer=nn.Conv2d(1, 1, 1))


def test_preprocess_passed_to_attribute_points_to_as_posterior(factory):
    nets = [factory(0), factory(1)]
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(unsure.UnsureError, match=r"unsure.as_posterior\(model, preprocess=...\)"):
        unsure.attribute(nets, x, preprocess=((0.5,), (0.25,)))
    post = unsure.as_posterior(nets, preprocess=((0.5,), (0.25,)))
    norm = [lambda im, n=n: n((im - 0.5) / 0.25) for n in nets]
    want = unsure.attribute(unsure.as_posterior(lambda im: torch.stack([f(im) for f in norm])), x, method="grad")
    torch.testing.assert_close(unsure.attribute(post, x, method="grad").maps, want.maps)
