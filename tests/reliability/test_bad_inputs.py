"""Every row of the bad-input table in docs/reliability.md is one case here (see _reliakit)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import cases_cli  # noqa: F401  (register their cases)
import cases_data  # noqa: F401
import cases_limits  # noqa: F401
import cases_outputs  # noqa: F401
import cases_runs  # noqa: F401
import cases_identity  # noqa: F401  (after the older rows: their numbers stay)
from _reliakit import CASES, Env, make_tiny_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("reliability"))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input(c, tmp_path, monkeypatch, capsys, tiny_run):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    c.fn(Env(tmp_path, monkeypatch, capsys, tiny_run))


def test_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_doc_lists_every_case():
    """docs/reliability.md holds the table that scripts/reliability_table.py renders now."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from reliability_table import BEGIN, END, render
    finally:
        sys.path.pop(0)
    doc = (ROOT / "docs" / "reliability.md").read_text()
    assert doc[doc.index(BEGIN):doc.index(END) + len(END)] == render(CASES), \
        "docs/reliability.md is stale: run python scripts/reliability_table.py --write"
