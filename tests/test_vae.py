"""The VAE behind the counterfactual methods: shapes, training, folder round trip, CLI, errors."""
import json

import pytest
import torch

from unsure.cli.main import main
from unsure.data import load
from unsure.errors import UnsureError
from unsure.models import PaperCNN
from unsure.models.vae import VAE, load_vae, save_vae, vae_loss
from unsure.posteriors import DeepEnsemble
from unsure.run import save_run
from unsure.training import TrainConfig
from unsure.training.vae import evaluate_vae, fit_vae


@pytest.mark.parametrize("kind, C, H", [("mlp", 1, 8), ("mlp", 3, 12), ("conv", 3, 32), ("conv", 1, 16)])
def test_shapes(kind, C, H):
    vae = VAE(C, H, latent=5, hidden=(32, 16), kind=kind)
    x = torch.rand(7, C, H, H)
    logits, mu, logvar = vae(x, generator=torch.Generator().manual_seed(0))
    assert logits.shape == (7, C, H, H) and mu.shape == logvar.shape == (7, 5)
    rec = vae.reconstruct(x)
    assert rec.shape == x.shape and rec.min() > 0 and rec.max() < 1  # sigmoid output


def test_loss_terms_match_closed_forms():
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    logits = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    mu, logvar = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    bce, kl = vae_loss(logits, x, mu, logvar)
    p = torch.sigmoid(logits)
    ref_bce = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    var = logvar.exp()
    ref_kl = 0.5 * (var + mu**2 - 1 - logvar).sum(1)  # KL(N(mu, var) || N(0, 1)) per dimension
    torch.testing.assert_close(bce, ref_bce)
    torch.testing.assert_close(kl, ref_kl)


def test_training_lowers_the_loss():
    x = load("digits", "train", limit=400).x
    torch.manual_seed(0)
    vae = VAE(1, 8, latent=4, hidden=(64, 32))
    before = evaluate_vae(vae, x)["neg_elbo_at_mean"]
    log = fit_vae(vae, x, TrainConfig(epochs=8, batch_size=50, lr=3e-3, progress=False))
    after = evaluate_vae(vae, x)["neg_elbo_at_mean"]
    assert len(log.losses) == 8 and log.losses[-1] < log.losses[0]
    assert after < 0.7 * before  # an untrained decoder outputs ~0.5 everywhere: ~44 nats on 64 pixels


def test_save_load_round_trip(tmp_path):
    for kind, C, H in [("mlp", 1, 8), ("conv", 3, 16)]:
        vae = VAE(C, H, latent=3, hidden=(16, 8), kind=kind).eval()
        path = save_vae(tmp_path / kind, vae, {"data": "x"})
        back = load_vae(path)
        x = torch.rand(5, C, H, H)
        assert back.config() == vae.config() and back.saved_config["data"] == "x"
        with torch.no_grad():
            assert torch.equal(back.reconstruct(x), vae.reconstruct(x))
            assert torch.equal(back.encode(x)[1], vae.encode(x)[1])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    with pytest.raises(UnsureError, match="already exists"):
        save_vae(tmp_path / "mlp", vae)
    save_vae(tmp_path / "mlp", vae, overwrite=True)


def test_load_errors(tmp_path):
    with pytest.raises(UnsureError, match="not a VAE folder"):
        load_vae(tmp_path / "nope")
    post = DeepEnsemble([PaperCNN(1, 10, 8)])
    save_run(tmp_path / "run", post, {"arch": "paper-cnn"})
    with pytest.raises(UnsureError, match="does not describe a VAE"):
        load_vae(tmp_path / "run")
    save_vae(tmp_path / "v", VAE(1, 8, 3, (16,)))
    (tmp_path / "v" / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(UnsureError, match="cannot read"):
        load_vae(tmp_path / "v")
    save_vae(tmp_path / "w", VAE(1, 8, 3, (16,)))
    cfg = json.loads((tmp_path / "w" / "config.json").read_text())
    cfg["vae"]["latent"] = 4
    (tmp_path / "w" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsureError, match="does not match"):
        load_vae(tmp_path / "w")


def test_bad_sizes_and_images():
    vae = VAE(1, 28, latent=3, hidden=(16,))
    with pytest.raises(UnsureError, match="built for 1x28x28 images but x is 1x8x8"):
        vae.check(torch.rand(2, 1, 8, 8))
    with pytest.raises(UnsureError, match="divisible by 8"):
        VAE(3, 28, kind="conv")
    with pytest.raises(UnsureError, match="kind"):
        VAE(kind="gan")
    with pytest.raises(UnsureError, match=r"\[0, 1\]"):
        fit_vae(VAE(1, 8, 2, (8,)), torch.rand(4, 1, 8, 8) * 2, TrainConfig(epochs=1, progress=False))


def test_cli_train_vae(tmp_path, capsys):
    out = tmp_path / "vae"
    rc = main(["train-vae", "--data", "digits", "--epochs", "2", "--latent", "3", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    assert "test reconstruction loss" in capsys.readouterr().out
    vae = load_vae(out)
    assert vae.latent == 3 and vae.image_shape == (1, 8, 8)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == "digits" and len(cfg["train_losses"]) == 2 and cfg["metrics"]["bce"] > 0
    assert main(["train-vae", "--data", "digits", "--out", str(out)]) == 2  # exists, no --force
