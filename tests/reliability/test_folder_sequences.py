"""Property test of issue 27: random sequences of saving runs, explaining, `--force`, a user's
files and interrupted writes over two output folders never lose a user's file, never leave a
half-written or mixed folder, and never leave temporary files or locks behind.

Each write carries a token (a run's config and the value of every weight; a report's
``--index``), so a folder that mixes two writes is caught. Bounded: a few short sequences of
in-process calls (no training), well under a minute on one CPU thread.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import unsure
from unsure.errors import UnsureError
from unsure.models import PaperCNN
from unsure.outputs import MARKER

OPS = ("save", "save-force", "explain", "explain-force", "user-file", "save-interrupted", "explain-interrupted")
FOLDERS = ("a", "b")
CONFIG = {"arch": "paper-cnn", "arch_options": {"in_channels": 1, "num_classes": 10, "image_size": 8}}


def _post(token: int) -> unsure.DeepEnsemble:
    net = PaperCNN(1, 10, 8)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(token / 1000)  # every weight tells which write made it
    return unsure.DeepEnsemble([net])


class World:
    """The folders, what the user put there, and which write each folder should show."""

    def __init__(self, root: Path, run: Path, capsys):
        self.root, self.run, self.capsys = root, run, capsys
        self.user: dict[Path, bytes] = {}
        self.expect: dict[str, tuple[str, int] | None] = {f: None for f in FOLDERS}
        self.token = 0

    def folder(self, name: str) -> Path:
        return self.root / name

    def apply(self, op: str, name: str) -> None:
        self.token += 1
        d, tok = self.folder(name), self.token
        if op == "user-file":
            p = d / f"user-{tok}.txt"
            d.mkdir(exist_ok=True)
            p.write_bytes(f"mine {tok}".encode())
            self.user[p] = p.read_bytes()
            return
        kind = "run" if op.startswith("save") else "report"
        with pytest.MonkeyPatch.context() as mp:
            if self._write(op, d, tok, mp):
                self.expect[name] = (kind, tok)

    def _write(self, op: str, d: Path, tok: int, mp) -> bool:
        force = op.endswith("force")
        interrupted = op.endswith("interrupted")
        if op.startswith("save"):
            from unsure.run import save_run

            if interrupted:
                import safetensors.torch as st_

                real = st_.save_file

                def cut(*a, **k):
                    real(*a, **k)
                    raise KeyboardInterrupt("signal 15")
                mp.setattr(st_, "save_file", cut)
            try:
                save_run(d, _post(tok), {**CONFIG, "token": tok}, overwrite=force)
                return not interrupted
            except (UnsureError, KeyboardInterrupt):
                return False
        from unsure.cli.main import main

        if interrupted:
            import unsure.report.html as html

            def cut(*a, **k):
                raise KeyboardInterrupt("signal 2")
            mp.setattr(html, "render", cut)
        rc = main(["explain", "--run", str(self.run), "--out", str(d), "--index", str(tok % 50), "--methods",
                   "grad", "--device", "cpu", "--no-progress", *(["--force"] if force else [])])
        self.capsys.readouterr()
        return rc == 0

    def check(self) -> None:
        for p, data in self.user.items():
            assert p.is_file() and p.read_bytes() == data, f"the user's {p.name} was lost or changed"
        for name in FOLDERS:
            d, want = self.folder(name), self.expect[name]
            m = json.loads((d / MARKER).read_text()) if (d / MARKER).is_file() else None
            if want is None:
                assert m is None, f"{name}: a write that failed left {m}"
                continue
            kind, tok = want
            assert m is not None and m["kind"] == kind, (name, m, want)
            mine = {p.relative_to(d).as_posix() for p in self.user if p.parent == d}
            ours = {p.relative_to(d).as_posix() for p in d.rglob("*")} - {MARKER} - mine
            if "files" in m:  # whole, and nothing of another write
                assert ours == set(m["files"]), (name, ours, m)
            if kind == "run":
                post = unsure.load_run(d)
                assert post.run_config["token"] == tok
                assert all(bool((v == tok / 1000).all()) for v in post.state_dict().values()
                           if v.is_floating_point()), f"{name}: weights of another write"
            else:
                res = json.loads((d / "results.json").read_text())
                assert f"--index {tok % 50}" in res["command"], (name, res["command"], tok)
        left = [p.name for p in self.root.iterdir() if p.name.startswith(".")]
        assert left == [], f"temporary files or locks left: {left}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from unsure.run import save_run

    return save_run(tmp_path_factory.mktemp("seq") / "tiny", _post(999), {**CONFIG, "data": "digits"})


# the defects of issue 27: a user's file inside a run / report deleted by --force; interrupted writes
@example(steps=[("save", "a"), ("user-file", "a"), ("save-force", "a"), ("explain", "b"), ("user-file", "b"),
                ("explain-force", "b"), ("save-interrupted", "b"), ("explain-interrupted", "a")])
@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from(FOLDERS)), min_size=3, max_size=7))
def test_no_user_file_lost_and_no_folder_mixed(tmp_path_factory, tiny, monkeypatch, capsys, steps):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    world = World(tmp_path_factory.mktemp("world"), tiny, capsys)
    for op, name in steps:
        world.apply(op, name)
        world.check()
