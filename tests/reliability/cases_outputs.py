"""Output folders: whose they are, one writer at a time, nothing half-written (rows of
docs/reliability.md, issue 27). Every case runs the public CLI or API, so it fails on code without
the rule it checks."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _reliakit import case

S = "Output folders: lost, mixed or half-written"
GRAD = ("--n", "1", "--methods", "grad", "--no-progress")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}


def _explain(env, out, *extra):
    return ("explain", "--run", env.run, "--out", out, *GRAD, *extra)


def _bench(env, out, *extra):
    return ("bench", "blurring", "--run", env.run, "--n", "2", "--methods", "grad", "--replacements", "blur",
            "--device", "cpu", "--out", out, "--no-progress", *extra)


def _dataset(env, out, *extra):
    return ("explain-dataset", "--run", env.run, "--data", "digits", "--limit", "4", "--methods", "grad",
            "--out", out, "--no-progress", *extra)


def _tree(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _hidden(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


@case(S, "force-own-index-html", "`explain --force --out DIR` where DIR holds only the user's `index.html`",
      "one-line error; the file is kept (a folder is replaced only when it carries unsure's marker)")
def _(env):
    d = env.tmp / "site"
    d.mkdir()
    (d / "index.html").write_text("<html>my homepage</html>")
    env.one_line(*_explain(env, d, "--force"), match="refusing")
    assert _tree(d) == {"index.html": b"<html>my homepage</html>"}


@case(S, "force-own-run-files", "`train --force --out DIR` / `train-vae --force` where DIR holds the user's own "
      "`config.json` and `weights.safetensors`", "one-line error before training; the files are kept")
def _(env):
    d = env.tmp / "mine"
    d.mkdir()
    (d / "config.json").write_text('{"mine": true}')
    (d / "weights.safetensors").write_bytes(b"my weights")
    before = _tree(d)
    env.train_refused("digits", "--force", out=d, match="refusing")
    env.one_line("train-vae", "--data", "digits", "--out", d, "--force", "--epochs", "1", "--limit", "50",
                 "--no-progress", match="refusing")
    assert _tree(d) == before


@case(S, "force-user-file-in-run", "`train --force` / `explain --force` on unsure's own folder into which the "
      "user put a file", "one-line error naming the file; the folder and the file are kept (refused, not "
      "merged: move the file out first)")
def _(env):
    import shutil

    run = env.tmp / "run"
    shutil.copytree(env.run, run)
    (run / "notes.txt").write_text("why this run matters")
    before = _tree(run)
    env.train_refused("digits", "--force", out=run, match="notes.txt")
    assert _tree(run) == before
    rep = env.tmp / "rep"
    assert env.cli(*_explain(env, rep))[0] == 0
    (rep / "overlays" / "my-annotation.png").write_bytes(b"mine")
    before = _tree(rep)
    env.one_line(*_explain(env, rep, "--force"), match="my-annotation.png")
    assert _tree(rep) == before


@case(S, "force-own-bench-json", "`bench blurring --force --out DIR` where DIR holds the user's own "
      "`blurring.json` next to other files of theirs", "one-line error; the files are kept")
def _(env):
    d = env.tmp / "paper"
    d.mkdir()
    (d / "blurring.json").write_text(json.dumps({"results": {"mine": 1}, "config": {}}))
    (d / "thesis.tex").write_text("years of work")
    before = _tree(d)
    env.one_line(*_bench(env, d, "--force"), match="refusing")
    assert _tree(d) == before


@case(S, "force-symlink-out", "`explain --force --out LINK` where LINK is a symlink to an earlier report",
      "the report is replaced where the link points, the link is kept, and no hidden `.LINK.old-XXXX` is left")
def _(env):
    real = env.tmp / "real-report"
    assert env.cli(*_explain(env, real))[0] == 0
    link = env.tmp / "link"
    link.symlink_to(real, target_is_directory=True)
    rc, err = env.cli(*_explain(env, link, "--force", "--index", "3"))
    assert rc == 0, err
    assert link.is_symlink() and (real / "index.html").is_file()
    assert json.loads((real / "results.json").read_text())["command"].count("--index 3") == 1
    assert _hidden(env.tmp) == []


@case(S, "lock-second-writer", "a second `explain-dataset`, `bench`, `explain` or `train` on an `--out` another "
      "process is writing", "one-line error naming the process; its folder untouched")
def _(env):
    d = env.tmp / "busy"
    lock = env.tmp / ".busy.unsure-lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, str(os.getpid()).encode())
        print("held", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for argv in (_dataset(env, d), _bench(env, d), _explain(env, d)):
            env.one_line(*argv, match=f"process {holder.pid}")
        env.train_refused("digits", out=d, match=f"process {holder.pid}")
        assert not d.exists()
    finally:
        holder.kill()
        holder.wait()


@case(S, "lock-stale", "the lock file left by a writer that was killed (`kill -9`)",
      "taken over with a one-line note; the command runs and removes the lock when done")
def _(env):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    d = env.tmp / "b"
    lock = env.tmp / ".b.unsure-lock"
    lock.write_text(f"{dead.pid}\n")
    rc, err = env.cli(*_bench(env, d))
    assert rc == 0, err
    assert any("took over the lock" in ln and str(dead.pid) in ln for ln in err), err
    assert (d / "blurring.json").is_file() and not lock.exists()


@case(S, "dataset-refused-rerun", "`explain-dataset` refused after checking its folder (a bad method option), "
      "then the corrected command", "the refused job leaves nothing; the corrected one runs (it used to be "
      "refused by the first job's manifest)")
def _(env):
    d = env.tmp / "ds"
    bad = _dataset(env, d)
    bad = bad[:bad.index("grad")] + ("grad:nosuch=1",) + bad[bad.index("grad") + 1:]
    env.one_line(*bad, match="nosuch")
    assert not d.exists()
    rc, err = env.cli(*_dataset(env, d))
    assert rc == 0, err
    assert (d / "table.parquet").is_file()


@case(S, "dataset-stale-manifest", "`explain-dataset` into a folder holding only the manifest of another job "
      "that computed nothing (left by an older unsure)", "the new job starts afresh (nothing of the old job "
      "was computed); a folder with finished shards of another job is still refused")
def _(env):
    d = env.tmp / "ds"
    assert env.cli(*_dataset(env, d))[0] == 0
    for sub in ("maps", "parts"):
        for p in (d / sub).iterdir():
            p.unlink()
    (d / "table.parquet").unlink()
    rc, err = env.cli(*_dataset(env, d, "--seed", "5"))
    assert rc == 0, err
    assert json.loads((d / "manifest.json").read_text())["job"]["seed"] == 5
    env.one_line(*_dataset(env, d, "--seed", "6"), match="another job")


def _bench_killed(env, out: Path) -> subprocess.CompletedProcess:
    """``unsure bench blurring`` in a fresh process, sent SIGTERM while it draws its plot."""
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        import unsure.bench.blurring as b
        from unsure.cli.main import main
        real = b.plot_curves
        def cut(*a, **k):
            real(*a, **k)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        b.plot_curves = cut
        sys.exit(main({[str(a) for a in _bench(env, out)]!r}))
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=_env(), cwd=env.tmp)


@case(S, "bench-interrupted-writing", "SIGTERM, Ctrl-C or an error while a bench writes its JSON, markdown and plots",
      "none of its files appear (never a JSON without its plots; a folder it created is removed), no "
      "temporary file is left, and an "
      "interrupt prints one line (`unsure: interrupted by SIGTERM`, exit 143; SIGINT 130)")
def _(env):
    import unsure.bench.blurring as b

    def leftovers(out: Path) -> list[str]:  # a new folder that got no result is removed whole
        return sorted(p.name for p in out.iterdir()) if out.exists() else []

    r = _bench_killed(env, env.tmp / "b-term")
    assert leftovers(env.tmp / "b-term") == [], r.stderr[-500:]
    assert r.returncode == 143 and "interrupted by SIGTERM" in r.stderr and "Traceback" not in r.stderr, \
        (r.returncode, r.stderr[-500:])
    real = b.plot_curves
    for exc, code in ((KeyboardInterrupt(), 130), (OSError("disk full"), None)):  # what Ctrl-C raises; an error
        def cut(*a, _e=exc, **k):
            real(*a, **k)
            raise _e
        env.mp.setattr(b, "plot_curves", cut)
        out = env.tmp / f"b-{type(exc).__name__}"
        try:
            rc, err = env.cli(*_bench(env, out))
        except OSError:
            rc, err = None, []
        assert leftovers(out) == [], (exc, leftovers(out))
        if code is not None:
            assert rc == code and err == ["unsure: interrupted by SIGINT"], (rc, err)


@case(S, "one-file-mode", "files of a run, report, bench and explain-dataset folder made under umask 022",
      "every file 0644 and every folder 0755, the umask's modes (weights and shards used to be 0600)")
def _(env):
    old = os.umask(0o022)
    try:
        outs = {"run": env.tmp / "run", "rep": env.tmp / "rep", "b": env.tmp / "b", "ds": env.tmp / "ds"}
        import unsure
        from unsure.models import PaperCNN
        from unsure.run import save_run

        save_run(outs["run"], unsure.DeepEnsemble([PaperCNN(1, 10, 8)]), {"arch": "paper-cnn"})
        for argv in (_explain(env, outs["rep"]), _bench(env, outs["b"]), _dataset(env, outs["ds"])):
            rc, err = env.cli(*argv)
            assert rc == 0, err
    finally:
        os.umask(old)
    for d in outs.values():
        for p in [d, *d.rglob("*")]:
            want = 0o755 if p.is_dir() else 0o644
            assert stat.S_IMODE(p.stat().st_mode) == want, (p, oct(p.stat().st_mode))


@case(S, "sigterm-train", "SIGTERM while `train` trains", "one line `unsure: interrupted by SIGTERM` (exit 143); "
      "no run folder and no temporary folder are left")
def _(env):
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        import unsure.training.run as tr
        from unsure.cli.main import main
        real = tr.FITTERS.get("ensemble")
        class Fitters:
            def get(self, name):
                def fit(*a, **k):
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(30)
                return fit
        tr.FITTERS = Fitters()
        sys.exit(main(["train", "--data", "digits", "--out", "run", "--members", "1", "--epochs", "1",
                       "--device", "cpu", "--no-progress"]))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                       env=_env(), cwd=env.tmp)
    assert r.returncode == 143 and "interrupted by SIGTERM" in r.stderr, (r.returncode, r.stderr[-500:])
    assert "Traceback" not in r.stderr, r.stderr[-500:]
    assert not (env.tmp / "run").exists() and _hidden(env.tmp) == []
