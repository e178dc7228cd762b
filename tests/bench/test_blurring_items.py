"""The blurring test's work items (``bench.blurring_items``): chunks, seeds, and each chunk's
values equal to a direct :func:`blurring_test` on that chunk's images with the chunk's seed."""
from __future__ import annotations

import pytest
import torch

from unsure.attribution import make_method
from unsure.attribution.spec import parse_methods
from unsure.bench.blurring_items import BlurringWorker, chunks, item_seed, plan, run_local
from unsure.data import load
from unsure.errors import UnsureError
from unsure.metrics.blurring import blurring_test
from unsure.metrics.replacements import make_replacements
from unsure.run import load_run


def test_chunks_and_plan():
    assert chunks(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert chunks(7, None) == [(0, 7)] and chunks(7, 10) == [(0, 7)]
    assert plan(2, 5, 3) == [(0, 0, 0, 3), (0, 1, 3, 5), (1, 0, 0, 3), (1, 1, 3, 5)]
    with pytest.raises(UnsureError, match="--chunk-size must be >= 1"):
        chunks(4, 0)


def test_item_seed_is_the_bench_seed_for_one_chunk_else_distinct_streams():
    assert item_seed(7, 0, 1) == 7
    seeds = [item_seed(7, c, 3) for c in range(3)]
    assert len(set(seeds)) == 3 and 7 not in seeds and all(0 <= s < 2**63 for s in seeds)
    assert seeds == [item_seed(7, c, 3) for c in range(3)] and item_seed(8, 0, 3) != seeds[0]


def test_chunked_run_equals_direct_tests_of_each_chunk(run):
    post = load_run(run)
    x = load("digits", "test", limit=5).x
    specs = parse_methods("random,inputgrad")
    reps, fractions, sigmas = "blur,noise:n_draws=2", [0.05, 0.1], [0.5, 2.0]
    worker = BlurringWorker(post, specs, fractions, reps, seed=3, batch_size=2, sigmas=sigmas)
    got = run_local(worker, x, chunk_size=2, progress=False)
    for spec in specs:
        per = {r: {f: [] for f in fractions} for r in ("blur", "noise")}
        for c, (a, b) in enumerate(chunks(5, 2)):
            s = item_seed(3, c, 3)
            maps = make_method(spec.name).attribute(post, x[a:b], "epistemic", draw=worker.draw, batch_size=2,
                                                    generator=torch.Generator().manual_seed(s)).maps
            res = blurring_test(post, x[a:b], maps, fraction=fractions, sigmas=sigmas, draw=worker.draw,
                                generator=torch.Generator().manual_seed(s),
                                replacement=make_replacements(reps, sigmas=sigmas, seed=s))
            for r, rs in res.items():
                for f, one in zip(fractions, rs):
                    per[r][f].append(one.murr_per_image)
        for r in ("blur", "noise"):
            for f in fractions:
                want = torch.cat(per[r][f])  # [5], image order
                cell = got["by_replacement"][r][spec.label][str(f)]
                assert cell["murr_per_image"] == want.tolist()
                assert cell["murr"] == float(want.median())
    assert [r["name"] for r in got["replacements"]] == ["blur", "noise"]
    assert set(got["seconds"]) == {"random", "inputgrad"}


def test_bench_blur_substitute_uses_the_spec_grid_without_sigmas(run):
    """Regression: without ``--sigmas`` the bench's blur substitute is the min over the spec's 100
    sigmas (it was ``Blur``'s own one-sigma default), i.e. what ``blurring_test`` computes."""
    import torch

    import unsure
    from unsure.attribution.spec import parse_methods
    from unsure.bench.blurring_items import describe_replacements
    from unsure.bench.panel import panel_benchmark
    from unsure.data import load
    from unsure.metrics.blurring import SIGMAS, blurring_test

    assert describe_replacements("blur", None, 0)[0]["sigmas"] in (list(SIGMAS), SIGMAS)
    post = unsure.load_run(run)
    x = load("digits", "test", limit=3).x
    got = panel_benchmark(post, x, parse_methods("inputgrad"), [0.05], "blur", seed=0, progress=False)
    draw = post.draw(torch.Generator().manual_seed(0))
    want = blurring_test(post, x, unsure.attribute(post, x, method="inputgrad",
                                                   generator=torch.Generator().manual_seed(0)).maps,
                         fraction=[0.05], draw=draw, generator=torch.Generator().manual_seed(0))[0]
    assert got["by_replacement"]["blur"]["inputgrad"]["0.05"]["murr_per_image"] == want.murr_per_image.tolist()
