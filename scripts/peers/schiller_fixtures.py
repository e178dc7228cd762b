"""Run Schiller et al.'s metric functions (github.com/anonymousresearch987/uncertainty_attribution_eval,
MIT, commit 7dda7cee964cbffeed7d3d7c908573491ce4b140) on a small shared case and store their outputs
as the test fixtures ``tests/fixtures/schiller/*.npz`` (read by ``tests/metrics/test_schiller_fixtures.py``).

Not part of the package and never imported by it; their code is run, not copied. How it was run:

    G=/work/.mirror/anonymousresearch987+uncertainty_attribution_eval/repo   # a clone of their repository
    mkdir -p /work/peer-eval/uae && cd /work/peer-eval/uae
    for f in $(git --git-dir=$G ls-tree -r --name-only HEAD | grep '\\.py$'); do
        mkdir -p $(dirname $f); git --git-dir=$G show HEAD:$f > $f; done
    python -m venv /work/peer-eval/venv   # + a .pth to a venv with torch, captum, scipy, pandas, sklearn
    /work/peer-eval/venv/bin/pip install --no-deps properscoring zennit==0.5.1
    cd /work/wt/properties && /work/peer-eval/venv/bin/python scripts/peers/schiller_fixtures.py /work/peer-eval/uae

Their ``src.explainer`` imports zennit, whose import needs a torchvision matching torch (not
installable here); LRP is not used, so zennit's three modules are replaced by empty ones before the
import. numpy 2 has no ``np.trapz`` (their flipping AUC): it is pointed at ``np.trapezoid``.

The shared case: a small MC-dropout net, ``Linear(D,16)-ReLU-Dropout(0.2)-Linear(16,K)``, seed 0, on
1x28x28 images (D=784, K=10) and on tabular rows (D=11, K=3), with 6 fixed dropout masks; the objective
is the mutual information (epistemic uncertainty, nats) of those 6 members.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "schiller"


def stub_zennit():
    for name in ("zennit", "zennit.composites", "zennit.rules", "zennit.types"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["zennit.composites"].LayerMapComposite = object
    sys.modules["zennit.rules"].Gamma = sys.modules["zennit.rules"].Pass = object
    for t in ("Linear", "Activation", "Convolution"):
        setattr(sys.modules["zennit.types"], t, object)


def shared_case(D: int, K: int, S: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    W1 = torch.randn(D, 16, generator=g, dtype=torch.float64) / D ** 0.5 * 3
    b1 = torch.randn(16, generator=g, dtype=torch.float64) * 0.1
    W2 = torch.randn(16, K, generator=g, dtype=torch.float64)
    b2 = torch.randn(K, generator=g, dtype=torch.float64) * 0.1
    masks = (torch.rand(S, 16, generator=g, dtype=torch.float64) > 0.2).double() / 0.8
    return dict(W1=W1, b1=b1, W2=W2, b2=b2, masks=masks)


def epistemic(case, x: torch.Tensor) -> torch.Tensor:
    """Mutual information of the S masked members, ``x [..., D] -> [N]`` (written independently)."""
    x = x.reshape(-1, case["W1"].shape[0]).double()
    h = torch.relu(x @ case["W1"] + case["b1"])  # [N,16]
    logits = (h[None] * case["masks"][:, None]) @ case["W2"] + case["b2"]  # [S,N,K]
    p = torch.softmax(logits, -1)
    pbar = p.mean(0)
    H = lambda q: -(q * torch.log(q)).sum(-1)  # noqa: E731
    return H(pbar) - H(p).mean(0)


def main(repo: str) -> None:
    sys.path.insert(0, repo)
    np.trapz = np.trapezoid  # numpy 2
    stub_zennit()
    from src.evaluation.complexity import Complexity
    from src.evaluation.effective_complexity import EffectiveComplexity
    from src.evaluation.feature_flipping import FeatureFlipping
    from src.evaluation.ood_experiment.ood_evaluation import OODEvaluator
    from src.evaluation.relative_input_stability import RelativeInputStability
    from src.evaluation.repeatability import Repeatability
    from src.evaluation.uncertainty_conveyance_similarity import UncertaintyConveyanceSimilarity
    from src.utils.xuq_utils import scale_uncertainty_attributions

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for kind, D, K, shape in (("image", 784, 10, (1, 28, 28)), ("tabular", 11, 3, (1, 11))):
        case = shared_case(D, K)
        B = 4
        x = rng.random((B, *shape))  # [B,1,28,28] or [B,1,11] rows in [0,1]
        x_train = rng.random((9, *shape))
        maps = rng.random((B, D)) ** 3  # non-negative, no ties
        signed = rng.standard_normal((B, D))
        out = dict(x=x, x_train=x_train, maps=maps, signed=signed,
                   **{k: v.numpy() for k, v in case.items()})

        # complexity / effective complexity (their per-map functions)
        _, out["complexity"] = Complexity().evaluate_uncertainty_attributions(torch.from_numpy(maps))
        out["complexity_signed"] = np.array([Complexity()._compute_single_complexity(torch.from_numpy(m))
                                             for m in signed])
        _, out["effective_complexity"] = EffectiveComplexity().evaluate_uncertainty_attributions(
            torch.from_numpy(maps).numpy())

        # feature flipping, their median baseline, on the shared objective
        ff = FeatureFlipping(baseline="median")
        median = np.median(x_train, axis=0)
        obj = lambda s: epistemic(case, torch.as_tensor(s)).sum()  # noqa: E731
        curves = [ff.compute_sample_perturbation_curve(obj, torch.from_numpy(x[i]), torch.from_numpy(maps[i]),
                                                       baseline=median) for i in range(B)]
        out["flip_curves"] = np.array(curves)
        out["flip_auc"], _, _ = ff.calculate_auc_stds(curves)
        out["median"] = median

        # conveyance similarity and repeatability: their per-pair similarity functions
        other = maps + rng.random((B, D)) * 0.05
        out["other"] = other
        ucs = UncertaintyConveyanceSimilarity()
        sa, sb = ucs.scale_uncertainty_attributions(maps), ucs.scale_uncertainty_attributions(other)
        out["conveyance_spearman"] = np.array(ucs.calculate_spearmanr_correlation(sa, sb))
        out["conveyance_cosine"] = np.array(ucs.calculate_cosine_similarities(sa, sb))
        rep = Repeatability()
        out["repeat_spearman"] = np.array(rep.calculate_spearman_similarities(sa, sb))
        out["repeat_cosine"] = np.array(rep.calculate_cosine_similarities(sa, sb))

        # relative input stability: their numerator / denominator on given copies
        ris = RelativeInputStability()
        xp = x + rng.normal(0, 0.05, x.shape)
        out["x_noisy"] = xp
        out["ris_ratio"] = np.array([ris.get_numerator(maps[i], other[i]) / ris.get_denominator(x[i], xp[i])
                                     for i in range(B)])

        # rank improvement: their OOD evaluator on given original / perturbed maps
        if kind == "image":
            corners = [(3, 5), (10, 10), (20, 2)]
            pos = {r * 28 + c: {"scaled_attributions": None, "patch_position": (r, c, 4, 4)} for r, c in corners}
            new = {}
            per_sample = []
            for i in range(B):
                d = {}
                for key, (r, c) in zip(pos, corners):
                    a = maps[i].copy().reshape(28, 28)
                    a[r:r + 4, c:c + 4] *= rng.random() * 20  # the patch gains (or loses) some mass
                    new[(i, key)] = a.reshape(-1)
                    d[key] = {"scaled_attributions": scale_uncertainty_attributions(a.reshape(1, -1)),
                              "patch_position": (r, c, 4, 4)}
                per_sample.append(d)
            out["ood_corners"] = np.array(corners)
        else:
            per_sample = []
            for i in range(B):
                d = {}
                for f in range(D):
                    a = maps[i].copy()
                    a[f] *= rng.random() * 20
                    d[f] = scale_uncertainty_attributions(a.reshape(1, -1))
                per_sample.append(d)
        orig = [scale_uncertainty_attributions(maps[i].reshape(1, -1)) for i in range(B)]
        ev = OODEvaluator(D, per_sample, orig, "patch_inversion" if kind == "image" else "sigma_based",
                          img=kind == "image")
        metrics, (ranks, changes) = ev.compute_metrics()
        keys = list(per_sample[0])
        out["ood_new_maps"] = np.array([[(per_sample[i][k]["scaled_attributions"] if kind == "image"
                                          else per_sample[i][k]).reshape(-1) for k in keys] for i in range(B)])
        res = ev.evaluate_all_samples_features(per_sample, orig)
        out["ood_mean_rank"] = np.array([[float(res[i][k]["unc_rankings"][0]) for k in keys] for i in range(B)])
        out["ood_rank_change"] = np.array([[float(res[i][k]["unc_rank_change"][0]) for k in keys] for i in range(B)])
        out["ood_accuracy"] = np.array(metrics["accuracy"])
        out["ood_avg_rank_change"] = np.array(metrics["avg_unc_rank_change"])
        np.savez(OUT / f"{kind}.npz", **out)
        print(kind, {k: np.round(np.asarray(v).ravel()[:3], 4).tolist() for k, v in out.items()
                     if k.startswith(("complexity", "effective", "flip_auc", "conveyance", "repeat", "ris", "ood_acc", "ood_avg"))})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/peer-eval/uae")
