"""The import graph of ``unsure`` has no cycle and no upward arrow between layers.

Every module under ``unsure/`` is parsed with :mod:`ast` (nothing is imported); every ``import``
and ``from ... import`` counts, also the lazy ones inside functions and those under
``if TYPE_CHECKING``. An edge goes from a module to the module it names (``from .base import X``
-> ``base``; ``from . import blurring`` -> ``blurring``; ``from . import METHODS`` -> the package).
Importing a submodule is not counted as importing its parent packages (Python runs them, but every
module would then depend on the package root).

The layers, lowest first; a module may import its own layer or lower ones:

    0  errors, registry, validate, _version, ops, models, data,    (no knowledge of posteriors)
       outputs, modes, flags (the shared CLI vocabulary), engine (local or Ray work items),
       checksum, identity, schema (what a file holds and whether this code can read it),
       notes, signals, output_lock, file_group (how outputs are written),
       batching (``batch_size="auto"``)
    1  posteriors, measures                                        (logit samples and what they measure)
    2  training, evaluate, run, run_checks                         (fit, score, save and load posteriors)
    3  attribution, plot                                           (explanation methods; res.plot())
    4  metrics, mitigation, groundtruth, score                     (tests of maps; retraining with maps;
                                                                    the ground-truth data and scores)
    5  bench
    6  report
    7  cli
    8  the package root ``unsure`` (the public facade)

Run ``python tests/test_architecture.py [ROOT]`` to print the cycles and upward imports of another
checkout (``ROOT`` holds ``unsure/``); ``UNSURE_ARCH_ROOT=ROOT pytest tests/test_architecture.py``
runs these tests against it.
"""
from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

LAYERS = {
    "unsure.errors": 0, "unsure.registry": 0, "unsure.validate": 0, "unsure._version": 0,
    "unsure.ops": 0, "unsure.models": 0, "unsure.data": 0, "unsure.outputs": 0, "unsure.modes": 0,
    "unsure.flags": 0, "unsure.engine": 0, "unsure.checksum": 0, "unsure.identity": 0, "unsure.schema": 0,
    "unsure.notes": 0, "unsure.signals": 0, "unsure.output_lock": 0, "unsure.file_group": 0,
    "unsure.batching": 0,
    "unsure.posteriors": 1, "unsure.measures": 1,
    "unsure.training": 2, "unsure.evaluate": 2, "unsure.run": 2, "unsure.run_checks": 2,
    "unsure.user_model": 2,
    "unsure.attribution": 3, "unsure.plot": 3,
    "unsure.metrics": 4, "unsure.mitigation": 4, "unsure.groundtruth": 4, "unsure.score": 4,
    "unsure.bench": 5,
    "unsure.dataset": 6,
    "unsure.report": 6,
    "unsure.cli": 7,
    "unsure": 8,
}
ROOT = Path(os.environ.get("UNSURE_ARCH_ROOT", Path(__file__).resolve().parents[1]))


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is_package)}`` for every ``.py`` file under ``root/unsure``."""
    out = {}
    for path in sorted((root / "unsure").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """``{module: modules it imports}``, restricted to modules of ``unsure`` (self-edges dropped)."""
    mods = modules(root)
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        package = name.split(".") if is_pkg else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    targets.add(sub if sub in mods else src)
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(comps)


def layer_of(module: str) -> int:
    """The layer of the longest prefix of ``module`` named in :data:`LAYERS`."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return LAYERS[key]
    raise KeyError(f"{module} has no layer; add its package to LAYERS in tests/test_architecture.py")


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """``(importer, imported)`` pairs where the imported module sits in a higher layer."""
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))


def test_graph_finder_sees_cycles_and_lazy_imports(tmp_path):
    """The finder itself: a two-module cycle through a lazy import, a relative ``from . import``."""
    pkg = tmp_path / "unsure"
    (pkg / "bench").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("def f():\n    from .bench import common\n")
    (pkg / "bench" / "__init__.py").write_text("from . import common\n")
    (pkg / "bench" / "common.py").write_text("from ..errors import f\nimport unsure.errors\n")
    g = import_graph(tmp_path)
    assert g == {"unsure": set(), "unsure.errors": {"unsure.bench.common"},
                 "unsure.bench": {"unsure.bench.common"}, "unsure.bench.common": {"unsure.errors"}}
    assert find_cycles(g) == [["unsure.bench.common", "unsure.errors"]]
    assert upward_imports(g) == [("unsure.errors", "unsure.bench.common")]


def test_every_module_has_a_layer():
    for m in import_graph(ROOT):
        layer_of(m)


def test_no_import_cycle():
    cycles = find_cycles(import_graph(ROOT))
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_upward_import():
    up = upward_imports(import_graph(ROOT))
    assert not up, "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in up)


@pytest.mark.skipif("UNSURE_ARCH_ROOT" in os.environ, reason="checks the installed tree's registries")
def test_every_posterior_has_a_fitter():
    from unsure.posteriors import POSTERIORS
    from unsure.training.fitters import FITTERS

    assert FITTERS.names() == POSTERIORS.names()


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    g = import_graph(root)
    cyc, up = find_cycles(g), upward_imports(g)
    print(f"{len(g)} modules, {sum(map(len, g.values()))} import edges, {len(cyc)} cycles "
          f"({sum(map(len, cyc))} modules in them), {len(up)} upward imports")
    for c in cyc:
        print("cycle:", " <-> ".join(c))
    for a, b in up:
        print(f"upward: {a} (layer {layer_of(a)}) -> {b} (layer {layer_of(b)})")
