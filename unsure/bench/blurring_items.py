"""The work items of the blurring test (``bench blurring``, ``bench all``), the same for every engine.

The selected images are cut into chunks of ``chunk_size`` (``None``: one chunk of all images).
Item ``(m, c)`` attributes chunk ``c`` with method ``m`` and runs the blurring test on it under
every substitute (:func:`unsure.metrics.blurring.blurring_test`). Its random numbers (the method's,
the order of tied map values, the noise and road draws) come from :func:`item_seed`: the bench's
seed itself when there is one chunk (the values of an unchunked run), else a stream of ``(seed,
chunk)``. So the values depend on the chunk size, never on the engine, the worker or the order in
which items run. :func:`assemble` joins the chunks image by image (in image order) and takes the
medians over all images, as one chunk would.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attribution import make_method
from ..attribution.spec import MethodSpec
from ..errors import UnsureError
from ..metrics.blurring import blur_grid, blurring_test, resolve_measure
from ..metrics.replacements import make_replacements


def check_measure_nonzero(draw, x, target) -> None:
    """Refuse a blurring test whose uncertainty is identically 0 on every image ``x``: nothing can
    be reduced, and MURR 0 would read as a result (e.g. epistemic of a one-member posterior)."""
    fn, name = resolve_measure(target)
    with torch.no_grad():
        u = torch.cat([fn(draw(x[s:s + 500])) for s in range(0, len(x), 500)])  # [B]
    if len(u) and bool((u == 0).all()):
        raise UnsureError(f"the {name} uncertainty is 0 on all {len(u)} selected images, so the "
                          "blurring test has nothing to reduce (a single network has no epistemic "
                          "uncertainty); choose another --target, e.g. total")


def chunks(n: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """``(start, stop)`` of the image chunks covering ``0..n-1`` in order."""
    if chunk_size is not None and chunk_size < 1:
        raise UnsureError(f"--chunk-size must be >= 1, got {chunk_size}")
    size = chunk_size or max(n, 1)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def item_seed(seed: int, chunk: int, n_chunks: int) -> int:
    """The seed of chunk ``chunk``'s random numbers: ``seed`` for a single chunk, else a 63-bit
    seed of the independent stream ``(seed, chunk)``."""
    if n_chunks == 1:
        return seed
    return int(np.random.SeedSequence([seed, chunk]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class BlurringWorker:
    """Holds a posterior, its frozen draw, the methods and the test settings; runs items.

    Parameters
    ----------
    posterior : the model
    methods : method specs (item ``m`` is ``methods[m]``)
    fractions : shares of pixels removed
    replacements : substitutes, comma-separated (``metrics.replacements``)
    seed : the bench seed (the draw's, and the items' through :func:`item_seed`)
    batch_size : images per attribution call
    sigmas : blur grid (``None``: the spec's)
    target : the uncertainty explained and removed
    draw : the frozen draw (default ``posterior.draw`` seeded with ``seed``)
    keep_maps : also return the maps (``bench groundtruth``); with no ``fractions`` the test is
        skipped and only the maps are made
    """

    def __init__(self, posterior, methods: list[MethodSpec], fractions: list[float], replacements: str,
                 seed: int = 0, batch_size: int = 25, sigmas=None, target: str = "epistemic", draw=None,
                 keep_maps: bool = False):
        self.post, self.specs, self.fractions = posterior, list(methods), list(fractions)
        self.replacements, self.seed, self.batch_size = replacements, seed, batch_size
        self.sigmas, self.target, self.keep_maps = sigmas, target, keep_maps
        self.methods = [make_method(s.name, **s.options) for s in self.specs]
        self.draw = draw if draw is not None else posterior.draw(torch.Generator().manual_seed(seed))

    def run(self, m: int, chunk: int, n_chunks: int, x: torch.Tensor) -> dict:
        """Item ``(m, chunk)`` on the chunk's images ``x [b,C,H,W]``.

        Returns ``{"seconds", "test_seconds" (totals over the chunk), "by_replacement": {R: [per
        fraction {"n_max", "murr_per_image" [b], "auc_per_image" [b], "curves" [b, n_max+1]}]}}``
        with numpy arrays.
        """
        s = item_seed(self.seed, chunk, n_chunks)
        x = x.to(self.post.device)
        t0 = time.perf_counter()
        att = self.methods[m].attribute(self.post, x, self.target, draw=self.draw, batch_size=self.batch_size,
                                        generator=torch.Generator().manual_seed(s))
        t1 = time.perf_counter()
        maps = {"maps": att.maps.detach().cpu().numpy()} if self.keep_maps else {}
        if not self.fractions:  # maps only
            return {"seconds": t1 - t0, "test_seconds": 0.0, "by_replacement": {}, **maps}
        reps = make_replacements(self.replacements, sigmas=blur_grid(self.sigmas), seed=s)
        res = blurring_test(self.post, x, att.maps, fraction=self.fractions, draw=self.draw, sigmas=self.sigmas,
                            generator=torch.Generator().manual_seed(s), measure=self.target, replacement=reps)
        t2 = time.perf_counter()
        by_rep = {name: [{"n_max": r.n_max, "murr_per_image": r.murr_per_image.cpu().numpy(),
                          "auc_per_image": r.auc_per_image.cpu().numpy(), "curves": r.curves.cpu().numpy()}
                         for r in rs] for name, rs in res.items()}
        return {"seconds": t1 - t0, "test_seconds": t2 - t1, "by_replacement": by_rep, **maps}


def describe_replacements(replacements: str, sigmas, seed: int) -> list[dict]:
    """The substitutes' settings, with the bench seed (chunks draw from :func:`item_seed`)."""
    return [r.describe() for r in make_replacements(replacements, sigmas=blur_grid(sigmas), seed=seed)]


def plan(n_methods: int, n_images: int, chunk_size: int | None) -> list[tuple[int, int, int, int]]:
    """Items ``(m, chunk, start, stop)``, method-major."""
    cs = chunks(n_images, chunk_size)
    return [(m, c, a, b) for m in range(n_methods) for c, (a, b) in enumerate(cs)]


def run_local(worker: BlurringWorker, x: torch.Tensor, chunk_size: int | None = None,
              progress: bool = True) -> dict:
    """Every item in this process, in order; returns :func:`assemble`'s dict."""
    items = plan(len(worker.specs), len(x), chunk_size)
    n_chunks = len(chunks(len(x), chunk_size))
    outs = {(m, c): worker.run(m, c, n_chunks, x[a:b])
            for m, c, a, b in tqdm(items, desc="methods x chunks", disable=not progress)}
    return assemble(outs, worker.specs, worker.fractions, len(x),
                    describe_replacements(worker.replacements, worker.sigmas, worker.seed))


def assemble(outs: dict, specs: list[MethodSpec], fractions: list[float], n_images: int,
             replacements: list[dict]) -> dict:
    """Join the items' outputs ``{(m, chunk): run(...)}`` into ``{"by_replacement", "curves",
    "seconds", "test_seconds", "replacements"}`` (and ``"maps"`` ``{label: [B,H,W]}`` when the
    worker kept them) (the layout of ``bench.panel.panel_benchmark``):
    per-image values in image order, medians over all images, seconds per image."""
    n_chunks = 1 + max(c for _, c in outs)
    names = list(outs[(0, 0)]["by_replacement"])
    maps = {spec.label: torch.cat([torch.from_numpy(np.asarray(outs[(m, c)]["maps"])) for c in range(n_chunks)])
            for m, spec in enumerate(specs) if "maps" in outs[(m, 0)]}  # [B,H,W] in image order
    by_rep = {r: {} for r in names}
    curves = {r: {} for r in names}
    seconds, test_seconds = {}, {}
    for m, spec in enumerate(specs):
        parts = [outs[(m, c)] for c in range(n_chunks)]
        seconds[spec.label] = sum(p["seconds"] for p in parts) / n_images
        test_seconds[spec.label] = sum(p["test_seconds"] for p in parts) / n_images
        for r in names:
            by_rep[r][spec.label], curves[r][spec.label] = {}, {}
            for i, f in enumerate(fractions):
                cells = [p["by_replacement"][r][i] for p in parts]
                cat = {k: torch.cat([torch.from_numpy(np.asarray(c[k])) for c in cells])
                       for k in ("murr_per_image", "auc_per_image", "curves")}  # [B], [B], [B,n_max+1]
                by_rep[r][spec.label][str(f)] = {
                    "murr": float(cat["murr_per_image"].median()), "auc": float(cat["auc_per_image"].median()),
                    "n_max": cells[0]["n_max"], "murr_per_image": cat["murr_per_image"].tolist(),
                    "auc_per_image": cat["auc_per_image"].tolist()}
                curves[r][spec.label][str(f)] = (1 - cat["curves"]).median(0).values.tolist()  # URR_n
    return {"by_replacement": by_rep, "curves": curves, "seconds": seconds,
            "test_seconds": test_seconds, "replacements": replacements, **({"maps": maps} if maps else {})}
