"""``unsure bench ood``: AUROC against scikit-learn (ties included), the resize against PIL, and
the bench end to end on a tiny digits run (its AUROCs recomputed with scikit-learn)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from unsure.bench.ood import applicable_measures, ood_benchmark, scores, to_model_input
from unsure.errors import UnsureError
from unsure.metrics.ood import auroc
from unsure.metrics.rotation import rotate
from unsure.run import load_run
from unsure.training.run import train_run


def sk_auroc(a, b):
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    return roc_auc_score(y, np.r_[np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_sklearn_with_and_without_ties(seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(37, generator=g), torch.randn(23, generator=g) + 0.7
    assert auroc(a, b) == pytest.approx(sk_auroc(a, b), abs=1e-12)
    a, b = torch.randint(0, 4, (41,), generator=g).float(), torch.randint(1, 5, (19,), generator=g).float()
    assert auroc(a, b) == pytest.approx(sk_auroc(a, b), abs=1e-12)  # many ties


def test_auroc_analytic_cases():
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0, 4.0])) == 1.0
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auroc(torch.ones(4), torch.ones(3)) == 0.5
    with pytest.raises(UnsureError):
        auroc(torch.tensor([]), torch.ones(3))


def test_resize_matches_pil_bilinear():
    from PIL import Image

    a = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    pil = np.stack([np.asarray(Image.fromarray(im).resize((8, 8), Image.BILINEAR), dtype=np.float32) / 255
                    for im in a])
    got = to_model_input(torch.from_numpy(a.astype(np.float32) / 255)[:, None], 1, (8, 8))
    assert got.shape == (5, 1, 8, 8)
    np.testing.assert_allclose(got[:, 0].numpy(), pil, atol=2 / 255)
    rgb = to_model_input(torch.rand(2, 3, 8, 8), 1, (8, 8))
    assert rgb.shape == (2, 1, 8, 8)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ood")
    train_run(data="digits", members=2, epochs=2, out=str(root / "ens"), progress=False)
    train_run(data="digits", posterior="evidential", epochs=2, out=str(root / "evi"), progress=False)
    return root


@pytest.mark.parametrize("kind", ["ens", "evi"])
def test_bench_auroc_equals_sklearn_on_its_scores(runs, kind):
    post = load_run(runs / kind)
    res = ood_benchmark(post, "digits", n=60, ood=["rotated", "noise"], seed=3)
    draw = post.draw(torch.Generator().manual_seed(3))
    measures = applicable_measures(post, len(draw))
    assert measures == (["total", "epistemic"] if kind == "ens" else ["total", "vacuity", "dissonance"])
    from unsure.data import load

    x = load("digits", "test", limit=60).x
    s_in, _ = scores(draw, x, measures, post.device)
    s_rot, _ = scores(draw, rotate(x, 90.0), measures, post.device)
    for m in measures:
        assert res.results["ood"]["rotated 90"]["auroc"][m] == pytest.approx(sk_auroc(s_in[m], s_rot[m]), abs=1e-12)
    assert set(res.results["ood"]) == {"rotated 90", "uniform noise"}
    assert res.results["in"]["n"] == 60


def test_cli_writes_outputs_and_refuses_in_distribution_as_ood(runs, tmp_path, capsys):
    from unsure.cli.main import main

    out = tmp_path / "o"
    rc = main(["bench", "ood", "--run", str(runs / "evi"), "--n", "40", "--ood", "noise,rotated",
               "--out", str(out), "--no-progress", "--device", "cpu"])
    assert rc == 0
    payload = json.loads((out / "ood.json").read_text())
    assert payload["config"]["ood"] == ["noise", "rotated"] and (out / "ood.png").is_file()
    assert "vacuity" in (out / "ood.md").read_text()
    rc = main(["bench", "ood", "--run", str(runs / "evi"), "--n", "10", "--ood", "digits",
               "--out", str(tmp_path / "p"), "--no-progress", "--device", "cpu"])
    assert rc == 2 and "in-distribution data itself" in capsys.readouterr().err
