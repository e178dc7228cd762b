"""``unsure bench large-k`` on a tiny K: the random ensemble's logit scale, the JSON it writes,
and prune=1.0 reproducing the unpruned map (Spearman 1, same terms)."""
import json

import torch

from unsure.bench.large_k import random_ensemble
from unsure.cli.main import main


def test_random_ensemble_has_the_requested_logit_scale():
    x = torch.rand(6, 1, 10, 10)
    post = random_ensemble(13, 3, x, 7.5, seed=2)
    with torch.no_grad():
        for m in post.members:
            z = m(x)
            assert z.shape == (6, 13)
            assert abs(z.std().item() - 7.5) < 1e-3
    again = random_ensemble(13, 3, x, 7.5, seed=2)
    assert all(torch.equal(a.fc2.weight, b.fc2.weight) for a, b in zip(post.members, again.members))


def test_large_k_bench_writes_its_table(tmp_path):
    out = tmp_path / "lk"
    rc = main(["bench", "large-k", "--classes", "12", "--logit-std", "10", "--members", "3",
               "--image-size", "10", "--n", "4", "--batch-size", "2", "--repeats", "1",
               "--prune", "1.0", "--out", str(out), "--no-progress"])
    assert rc == 0
    res = json.loads((out / "large-k.json").read_text())["results"]["12"]["10.0"]
    for v in ("class", "paper"):
        r = res[v]
        assert r["spearman_min"] > 1 - 1e-9  # prune=1.0 keeps every term: the same map
        assert r["unpruned"]["kept_terms_mean"] == 12 * 3
        # prune=1.0 drops only terms after the whole mass is reached (zero, or below rounding)
        assert 12 * 3 * 0.9 <= r["pruned"]["kept_terms_mean"] <= 12 * 3
        assert r["pruned"]["completeness_max"] < 1e-5 and r["unpruned"]["completeness_max"] < 1e-5
        assert r["speedup"] > 0 and r["pruned"]["seconds_per_image"] > 0
    assert "| 12 | 10 |" in (out / "large-k.md").read_text()
