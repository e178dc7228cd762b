"""CLUE and delta-CLUE on a tiny trained ensemble + VAE (8x8 digits): the counterfactual lowers the
target, delta-CLUE stays in its latent ball, batched == per image, clear errors."""
from __future__ import annotations

import copy

import pytest
import torch

import unsure
from unsure.attribution import METHODS, make_method
from unsure.attribution.clue import latent_search, project_ball, sample_ball
from unsure.data import load
from unsure.errors import UnsureError
from unsure.measures import ClassScore, epistemic
from unsure.models import PaperCNN
from unsure.models.vae import VAE, save_vae
from unsure.posteriors import DeepEnsemble
from unsure.training import TrainConfig, fit
from unsure.training.vae import fit_vae


@pytest.fixture(scope="module")
def trained():
    """3-member ensemble and a VAE on digits (a few seconds), and the 8 most uncertain test images."""
    tr, te = load("digits", "train"), load("digits", "test")
    members = []
    for i in range(3):
        torch.manual_seed(i)
        net = PaperCNN(1, 10, 8)
        fit(net, tr.x, tr.y, TrainConfig(epochs=5, lr=3e-3, progress=False),
            generator=torch.Generator().manual_seed(i))
        members.append(net.eval())
    post = DeepEnsemble(members)
    torch.manual_seed(0)
    vae = VAE(1, 8, latent=8, hidden=(256, 128))
    fit_vae(vae, tr.x, TrainConfig(epochs=10, batch_size=64, lr=2e-3, progress=False))
    with torch.no_grad():
        u = epistemic(post.sample_logits(te.x))
    return post, vae.eval(), te.x[u.topk(8).indices]


def _double(post, vae):
    return copy.deepcopy(post).double(), copy.deepcopy(vae).double()


def test_registered():
    assert "clue" in METHODS and "delta-clue" in METHODS


@pytest.mark.parametrize("method, opts", [("clue", {}), ("delta-clue", {"n_starts": 2, "delta": 1.0})])
def test_counterfactual_lowers_uncertainty(trained, method, opts):
    post, vae, x = trained
    x0 = x.clone()
    a = unsure.attribute(post, x, method=method, target="epistemic", vae=vae,
                         generator=torch.Generator().manual_seed(0), **opts)
    u0, u1 = a.meta["target_original"], a.meta["target_counterfactual"]
    u1 = u1 if u1.ndim == 1 else u1.min(1).values  # delta-CLUE: best start per image
    assert (u1 < u0).float().mean() >= 0.75 and u1.median() < 0.5 * u0.median()
    torch.testing.assert_close(u0, epistemic(post.sample_logits(x)))
    cf = a.meta["counterfactual"]
    cf_rows = cf if cf.ndim == 4 else cf.flatten(0, 1)  # [B,n,C,H,W] -> [B*n,C,H,W]
    recorded = a.meta["target_counterfactual"].reshape(-1)
    with torch.no_grad():
        torch.testing.assert_close(epistemic(post.sample_logits(cf_rows)), recorded, atol=1e-5, rtol=1e-3)
    # map = |x - x_CLUE| summed over channels (delta-CLUE: mean over starts)
    ref = (x[:, None] - (cf if cf.ndim == 5 else cf[:, None])).abs().mean(1).sum(1)
    torch.testing.assert_close(a.maps, ref)
    assert torch.equal(x, x0)  # input untouched
    assert a.meta["method"] == method and (a.meta["iterations"] <= 500).all()
    assert a.meta["seconds"].shape == (len(x),) and (a.meta["seconds"] > 0).all()


def test_class_scores_are_raised(trained):
    post, vae, x = trained
    a = unsure.attribute(post, x, method="clue", target="class", vae=vae, max_iter=100)
    # the predicted class stays the one of x: recompute its probability on the counterfactual and
    # on the search's start, the reconstruction from the encoder mean
    with torch.no_grad():
        cls = torch.softmax(post.sample_logits(x), -1).mean(0).argmax(-1)[:, None]  # [B,1]
        p_cf = torch.softmax(post.sample_logits(a.meta["counterfactual"]), -1).mean(0).gather(1, cls)
        p_rec = torch.softmax(post.sample_logits(vae.reconstruct(x)), -1).mean(0).gather(1, cls)
    torch.testing.assert_close(p_cf.squeeze(1), a.meta["target_counterfactual"], atol=1e-5, rtol=1e-4)
    assert (p_cf > p_rec).float().mean() >= 0.75  # the search raised the score
    # direction="minimize" on a class score: the loss U + d never ends above its start's
    b = unsure.attribute(post, x[:3], method="clue", target=ClassScore(2), vae=vae, max_iter=30,
                         direction="minimize")
    with torch.no_grad():
        rec = vae.reconstruct(x[:3])
        start = ClassScore(2)(post.sample_logits(rec)) + (rec - x[:3]).abs().flatten(1).mean(1)
        cf = b.meta["counterfactual"]
        end = b.meta["target_counterfactual"] + (cf - x[:3]).abs().flatten(1).mean(1)
    assert (end <= start + 1e-6).all() and (end < start - 1e-3).any()


def test_batched_equals_per_image(trained):
    post, vae = _double(*trained[:2])
    x = trained[2][:4].double()
    method = make_method("clue", vae=vae, max_iter=60, patience=5, min_delta=3e-4)
    whole = method.attribute(post, x, "epistemic")
    one = method.attribute(post, x, "epistemic", batch_size=1)  # chunks of one image
    assert torch.equal(whole.meta["iterations"], one.meta["iterations"])
    assert len(set(whole.meta["iterations"].tolist())) > 1  # images stopped at different steps
    torch.testing.assert_close(whole.maps, one.maps, atol=1e-9, rtol=1e-7)
    # delta-CLUE's stacked (start x image) rows: one search == separate searches per row
    draw = post.draw()
    z0 = vae.encode(x)[0].detach()
    starts = sample_ball(z0, 0.7, 2, torch.Generator().manual_seed(3)).reshape(8, -1)
    xr, centre = x.repeat(2, 1, 1, 1), z0.repeat(2, 1)
    obj = lambda lg, rows: epistemic(lg)  # noqa: E731
    kw = dict(max_iter=40, patience=5, centre=centre, delta=0.7)
    both = latent_search(vae, draw, xr, starts, obj, **kw)
    for i in (0, 5):
        kw_i = dict(kw, centre=centre[i:i + 1])
        single = latent_search(vae, draw, xr[i:i + 1], starts[i:i + 1], obj, **kw_i)
        assert single.iterations.item() == both.iterations[i].item()
        torch.testing.assert_close(single.z[0], both.z[i], atol=1e-9, rtol=1e-7)


def test_sample_and_project_ball():
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(3, 4, dtype=torch.float64)
    pts = sample_ball(z0, 2.0, 4000, gen)  # [n,B,D]
    r = (pts - z0).norm(dim=-1)
    assert pts.shape == (4000, 3, 4) and r.max() <= 2.0
    # uniform in a 4-ball: P(r <= delta/2) = (1/2)^4
    assert abs((r <= 1.0).double().mean().item() - 1 / 16) < 0.015
    z = z0 + torch.tensor([[3.0, 0, 0, 4.0], [0.1, 0, 0, 0], [0, -10, 0, 0]], dtype=torch.float64)
    p = project_ball(z, z0, 2.0)
    torch.testing.assert_close(p - z0, torch.tensor([[1.2, 0, 0, 1.6], [0.1, 0, 0, 0], [0, -2, 0, 0]],
                                                    dtype=torch.float64))


def test_delta_clue_stays_in_ball(trained):
    post, vae, x = trained
    delta = 0.3  # small: steps leave the ball and must be projected back
    a = unsure.attribute(post, x[:4], method="delta-clue", vae=vae, delta=delta, n_starts=3, max_iter=60,
                         generator=torch.Generator().manual_seed(1))
    assert a.meta["max_radius"].shape == (4, 3) and a.meta["counterfactual"].shape == (4, 3, 1, 8, 8)
    assert (a.meta["max_radius"] <= delta * (1 + 1e-5)).all()
    assert (a.meta["latent_distance"] <= delta * (1 + 1e-5)).all()
    assert (a.meta["max_radius"] > 0.99 * delta).any()  # the projection was exercised
    b = unsure.attribute(post, x[:4], method="delta-clue", vae=vae, delta=delta, n_starts=3, max_iter=60,
                         generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.maps, b.maps)  # seeded starts: reproducible


def test_errors(trained, tmp_path):
    post, vae, x = trained
    with pytest.raises(UnsureError, match="built for 1x28x28 images but x is 1x8x8"):
        unsure.attribute(post, x, method="clue", vae=VAE(1, 28, 4, (16,)))
    with pytest.raises(UnsureError, match="need a VAE"):
        make_method("clue")
    with pytest.raises(UnsureError, match="not a VAE folder"):
        make_method("delta-clue", vae=str(tmp_path / "nope"))
    for opts, msg in [({"lr": 0}, "lr"), ({"max_iter": 0}, "max_iter"), ({"lambda_x": -1}, "lambda_x"),
                      ({"direction": "up"}, "direction"), ({"n_starts": 0}, "n_starts"),
                      ({"delta": -1.0}, "delta"), ({"steps": 3}, "no option")]:
        with pytest.raises(UnsureError, match=msg):
            make_method("delta-clue", vae=vae, **opts)


def test_vae_from_folder_and_caller_vae_untouched(trained, tmp_path):
    post, vae, x = trained
    save_vae(tmp_path / "v", vae)
    a = unsure.attribute(post, x[:2], method="clue", vae=str(tmp_path / "v"), max_iter=20)
    b = unsure.attribute(post, x[:2], method="clue", vae=vae, max_iter=20)
    torch.testing.assert_close(a.maps, b.maps)
    assert a.meta["vae"] == str(tmp_path / "v")
    unsure.attribute(copy.deepcopy(post).double(), x[:2].double(), method="clue", vae=vae, max_iter=3)
    assert next(vae.parameters()).dtype == torch.float32  # a float64 copy was used
