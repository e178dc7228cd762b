"""Bad command-line values and output paths (rows of docs/reliability.md)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import numpy as np

from _reliakit import case

S = "Command line and output folders"
DIGITS = "digits"


def _digits_train_refused(env, *extra, match="", out=None):
    env.train_refused(DIGITS, *extra, match=match, out=out)


@case(S, "limit-negative", "`train --limit -5`", "one-line error (it used to drop the last five images)")
def _(env):
    _digits_train_refused(env, "--limit", "-5", match="--limit")


@case(S, "limit-zero", "`train --limit 0`", "one-line error")
def _(env):
    _digits_train_refused(env, "--limit", "0", match="--limit")


@case(S, "lr-negative", "`train --lr -1`", "one-line error before training")
def _(env):
    _digits_train_refused(env, "--lr", "-1", match="--lr")


@case(S, "lr-nan", "`train --lr nan`", "one-line error before training")
def _(env):
    _digits_train_refused(env, "--lr", "nan", match="--lr")


@case(S, "top-zero", "`bench blurring --n 0` (or its old spelling `--top 0`)", "one-line error")
def _(env):
    for flag in ("--n", "--top"):
        env.one_line("bench", "blurring", "--run", env.run, flag, "0", "--out", env.tmp / "b",
                     "--no-progress", match="--n must be >= 1")


@case(S, "sigmas-zero", "`bench blurring --sigmas 0`", "one-line error")
def _(env):
    env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--sigmas", "0",
                 "--out", env.tmp / "b", "--no-progress", match="--sigmas")


@case(S, "force-user-folder", "`train --force --out DIR` where DIR holds the user's own files",
      "one-line error before training; the files are kept (only unsure's own output is replaced)")
def _(env):
    d = env.tmp / "precious"
    d.mkdir()
    (d / "thesis.tex").write_text("years of work")
    _digits_train_refused(env, "--force", out=d, match="refusing")
    assert (d / "thesis.tex").read_text() == "years of work"


@case(S, "out-under-file", "`train --out FILE/run` (a path under a file)", "one-line error before training")
def _(env):
    (env.tmp / "f").write_text("x")
    _digits_train_refused(env, out=env.tmp / "f" / "run", match="is a file")


@case(S, "out-proc", "`train --out /proc/unsure-run`", "one-line error before training")
def _(env):
    _digits_train_refused(env, out="/proc/unsure-run", match="not writable")


@case(S, "explain-out-file", "`explain --out FILE` (an existing file)", "one-line error before any work")
def _(env):
    (env.tmp / "f.html").write_text("x")
    env.one_line("explain", "--run", env.run, "--n", "1", "--methods", "grad", "--out", env.tmp / "f.html",
                 "--no-progress", match="file")


@case(S, "bench-out-file", "`bench blurring --out FILE` (an existing file)", "one-line error before any work")
def _(env):
    (env.tmp / "f.json").write_text("x")
    env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--out", env.tmp / "f.json",
                 "--no-progress", match="file")


@case(S, "explain-user-folder", "`explain --out DIR` where DIR holds the user's own files",
      "one-line error; the files are kept")
def _(env):
    d = env.tmp / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    env.one_line("explain", "--run", env.run, "--n", "1", "--methods", "grad", "--out", d,
                 "--no-progress", match="refusing")
    assert (d / "notes.txt").read_text() == "mine"


@case(S, "demo-unknown-method", "`demo --methods gradd` (a typo)",
      "one-line error before training (it used to swap in `ig` and exit 0)")
def _(env):
    env.no_training()
    env.one_line("demo", "--data", DIGITS, "--methods", "grad,gradd", "--out", env.tmp / "rep",
                 "--runs", env.tmp / "runs", "--no-progress", match="unknown method 'gradd'")
    assert not (env.tmp / "runs").exists()


@case(S, "bench-user-folder", "`bench blurring --force --out DIR` where DIR holds the user's own files",
      "one-line error; the files are kept")
def _(env):
    d = env.tmp / "mine"
    d.mkdir()
    (d / "notes.md").write_text("mine")
    env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--methods", "grad", "--out", d,
                 "--force", "--no-progress", match="refusing")
    assert sorted(p.name for p in d.iterdir()) == ["notes.md"]


@case(S, "bench-rerun", "`bench blurring --out DIR` where DIR already holds blurring.json",
      "one-line error, the result untouched (replaced with `--force`); other benches' files are kept")
def _(env):
    d = env.tmp / "b"
    argv = ("bench", "blurring", "--run", env.run, "--n", "2", "--methods", "grad", "--replacements", "blur",
            "--out", d, "--no-progress")
    assert env.cli(*argv)[0] == 0
    (d / "speed.md").write_text("another bench's table")
    before = (d / "blurring.json").read_text()
    env.one_line(*argv, match="pass --force")
    assert (d / "blurring.json").read_text() == before
    assert env.cli(*argv, "--force")[0] == 0 and (d / "speed.md").is_file()


@case(S, "explain-old-report", "`explain --out DIR` where DIR holds an earlier report with other overlays",
      "without `--force` a one-line error and the report untouched; with it the folder is replaced "
      "whole: no old overlay is left next to the new report")
def _(env):
    d = env.tmp / "report"
    (d / "overlays").mkdir(parents=True)
    (d / ".unsure-output").write_text('{"kind": "report", "unsure_version": "0.1.0"}')  # lists no files
    (d / "index.html").write_text("<html>old</html>")
    (d / "results.json").write_text("{}")
    (d / "overlays" / "99-old__grad__epistemic.png").write_bytes(b"old")
    argv = ("explain", "--run", env.run, "--n", "1", "--methods", "grad", "--out", d, "--no-progress")
    env.one_line(*argv, match="pass --force")
    assert (d / "index.html").read_text() == "<html>old</html>"
    rc, err = env.cli(*argv, "--force")
    assert rc == 0, err
    assert not (d / "overlays" / "99-old__grad__epistemic.png").exists()
    assert "<html>old</html>" not in (d / "index.html").read_text()


@case(S, "run-mode", "a run folder created under umask 022", "mode 0755 like any folder the user makes, not 0700")
def _(env):
    import unsure
    from unsure.models import PaperCNN
    from unsure.run import save_run

    old = os.umask(0o022)
    try:
        save_run(env.tmp / "r", unsure.DeepEnsemble([PaperCNN(1, 10, 8)]), {"arch": "paper-cnn"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((env.tmp / "r").stat().st_mode) == 0o755


@case(S, "sigterm-save", "SIGTERM while a run is being saved",
      "the save is abandoned and no temporary folder is left behind")
def _(env):
    script = textwrap.dedent(f"""
        import os, signal, time
        import safetensors.torch as st
        import unsure
        from unsure.models import PaperCNN
        from unsure.run import save_run
        real = st.save_file
        def killed(*a, **k):
            real(*a, **k)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        st.save_file = killed
        save_run({str(env.tmp / 'out' / 'run')!r}, unsure.DeepEnsemble([PaperCNN(1, 10, 8)]), {{}})
    """)
    (env.tmp / "out").mkdir()
    subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, cwd=env.tmp,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert list((env.tmp / "out").iterdir()) == []


@case(S, "members-zero", "`train --members 0`", "one-line error before training")
def _(env):
    env.no_training()
    env.one_line("train", "--data", DIGITS, "--out", env.tmp / "r", "--members", "0", "--no-progress",
                 match="--members")


@case(S, "epochs-zero", "`train --epochs 0`", "one-line error before training")
def _(env):
    _digits_train_refused(env, "--epochs", "0", match="--epochs")


@case(S, "batch-size-zero", "`train --batch-size 0`", "one-line error before training")
def _(env):
    _digits_train_refused(env, "--batch-size", "0", match="--batch-size")


@case(S, "explain-n-zero", "`explain --n 0`", "one-line error")
def _(env):
    env.one_line("explain", "--run", env.run, "--n", "0", "--out", env.tmp / "rep", "--no-progress", match="--n")


@case(S, "pool-negative", "`explain --pool -1`", "one-line error (0 means all)")
def _(env):
    env.one_line("explain", "--run", env.run, "--pool", "-1", "--out", env.tmp / "rep", "--no-progress",
                 match="--pool")


@case(S, "fractions-two", "`bench blurring --fractions 2` (a fraction above 1)", "one-line error")
def _(env):
    env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--fractions", "2",
                 "--out", env.tmp / "b", "--no-progress", match="--fractions")


@case(S, "json-folder", "`bench blurring --json DIR` (an existing folder)", "one-line error before any work")
def _(env):
    (env.tmp / "j").mkdir()
    env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--json", env.tmp / "j",
                 "--out", env.tmp / "b", "--no-progress", match="folder")


@case(S, "vae-force-user-folder", "`train-vae --force --out DIR` where DIR holds the user's own files",
      "one-line error before training; the files are kept")
def _(env):
    d = env.tmp / "mine"
    d.mkdir()
    (d / "data.csv").write_text("1,2")
    env.one_line("train-vae", "--data", DIGITS, "--out", d, "--force", "--epochs", "1", "--limit", "50",
                 "--no-progress", match="refusing")
    assert (d / "data.csv").read_text() == "1,2"


@case(S, "report-write-fails", "an error while an earlier report is being rewritten",
      "the earlier report stays whole; no temporary folder is left")
def _(env):
    import unsure.report.html as html

    d = env.tmp / "report"
    rc, err = env.cli("explain", "--run", env.run, "--n", "1", "--methods", "grad", "--out", d, "--no-progress")
    assert rc == 0, err
    before = sorted(p.relative_to(d) for p in d.rglob("*"))

    def broken(*a, **k):
        raise OSError("disk full")

    env.mp.setattr(html, "render", broken)
    try:
        env.cli("explain", "--run", env.run, "--n", "2", "--methods", "grad", "--out", d, "--no-progress",
                "--force")
    except OSError:
        pass
    assert sorted(p.relative_to(d) for p in d.rglob("*")) == before
    assert [p.name for p in env.tmp.iterdir() if p.name.startswith(".")] == []
