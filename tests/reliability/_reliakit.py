"""The harness of the bad-input table: a :func:`case` registry and an :class:`Env` with the
helpers every case uses. ``scripts/reliability_table.py`` renders the registered cases as the
table of ``docs/reliability.md``; ``test_bad_inputs.py`` runs each one.

Only public entry points are used (the CLI's ``main``, ``unsure.data.load``, ``unsure.attribute``,
``save_run`` / ``load_run``), so every case also runs against older code and fails there."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

CASES: list["Case"] = []


@dataclass
class Case:
    id: str
    section: str
    bad_input: str
    outcome: str
    fn: Callable[["Env"], None]


def case(section: str, id: str, bad_input: str, outcome: str):
    def deco(fn):
        CASES.append(Case(id, section, bad_input, outcome, fn))
        return fn
    return deco


class Trained(AssertionError):
    """Raised by the patched ``fit``: the command got as far as training."""


class Env:
    def __init__(self, tmp_path: Path, monkeypatch, capsys, tiny_run: Path):
        self.tmp, self.mp, self.capsys, self.run = tmp_path, monkeypatch, capsys, tiny_run

    # ---- data files --------------------------------------------------------------------
    def npz(self, name: str = "d.npz", **arrays) -> str:
        path = self.tmp / name
        np.savez(path, **arrays)
        return f"npz:{path}"

    @staticmethod
    def images(n: int = 40, size: int = 8, dtype=np.uint8, hi: float = 255, channels: int | None = None):
        rng = np.random.default_rng(0)
        shape = (n, size, size) if channels is None else (n, channels, size, size)
        return (rng.random(shape) * hi).astype(dtype)

    @staticmethod
    def labels(n: int = 40, k: int = 3):
        return np.arange(n) % k

    # ---- the CLI -----------------------------------------------------------------------
    def no_training(self) -> None:
        """Make any training raise :class:`Trained`, so a case shows its check comes first
        (the trainer is ``Posterior.fit`` in older trees, ``training.fitters.FITTERS`` now)."""
        import unsure.training.run as tr
        from unsure.posteriors import DeepEnsemble

        def boom(*a, **k):
            raise Trained("the command started training before refusing the input")

        if hasattr(DeepEnsemble, "fit"):
            self.mp.setattr(DeepEnsemble, "fit", classmethod(lambda cls, *a, **k: boom()))
        if hasattr(tr, "FITTERS"):
            class NoFitters:
                def get(self, name):
                    return boom
            self.mp.setattr(tr, "FITTERS", NoFitters())

    def cli(self, *argv: str) -> tuple[int, list[str]]:
        from unsure.cli.main import main

        self.capsys.readouterr()
        rc = main([str(a) for a in argv])
        err = [ln for ln in self.capsys.readouterr().err.splitlines() if ln.strip()]
        return rc, err

    def one_line(self, *argv: str, match: str = "") -> str:
        """The command exits 2 with exactly one ``unsure: error:`` line on stderr."""
        rc, err = self.cli(*argv)
        errors = [ln for ln in err if ln.startswith("unsure: error:")]
        assert rc == 2, f"exit code {rc}, stderr {err}"
        assert len(errors) == 1 and not any("Traceback" in ln for ln in err), err
        assert match.lower() in errors[0].lower(), errors[0]
        return errors[0]

    def train(self, data: str, out: str | Path | None = None, *extra: str) -> tuple[int, list[str]]:
        out = out or self.tmp / "run"
        return self.cli("train", "--data", data, "--out", out, "--members", "1", "--epochs", "1",
                        "--arch", "paper-cnn", "--no-progress", *extra)

    def train_refused(self, data: str, *extra: str, match: str = "", out=None) -> str:
        self.no_training()
        out = out or self.tmp / "run"
        return self.one_line("train", "--data", data, "--out", out, "--members", "1", "--epochs", "1",
                             "--no-progress", *extra, match=match)

    # ---- runs --------------------------------------------------------------------------
    def run_copy(self, edit: Callable[[dict], None]) -> Path:
        """A copy of the tiny run with its config edited."""
        import shutil

        dst = self.tmp / "edited-run"
        shutil.copytree(self.run, dst)
        cfg = json.loads((dst / "config.json").read_text())
        edit(cfg)
        (dst / "config.json").write_text(json.dumps(cfg))
        return dst


def api_error(fn: Callable[[], object], match: str = "") -> str:
    """``fn()`` raises a one-line :class:`UnsureError` whose message contains ``match``."""
    from unsure.errors import UnsureError

    with pytest.raises(UnsureError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg and match.lower() in msg.lower(), msg
    return msg


def make_tiny_run(root: Path) -> Path:
    """A 2-member ensemble of 8x8 Paper-CNNs on digits, saved without training (enough for
    loading, explaining and benchmarking)."""
    import unsure
    from unsure.models import PaperCNN
    from unsure.run import save_run

    torch.manual_seed(0)
    post = unsure.DeepEnsemble([PaperCNN(1, 10, 8) for _ in range(2)])
    return save_run(root / "tiny-run", post, {
        "data": "digits", "arch": "paper-cnn",
        "arch_options": {"in_channels": 1, "num_classes": 10, "image_size": 8}})
