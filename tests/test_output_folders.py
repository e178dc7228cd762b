"""Unit tests of the output-folder machinery of issue 27 (the bad inputs it answers are rows of
docs/reliability.md): the marker's file list, the lock, held signals, file groups."""
from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from unsure.errors import UnsureError
from unsure.file_group import file_group
from unsure.output_lock import lock_path, output_lock
from unsure.outputs import MARKER, add_to_marker, atomic_dir, check_out_dir
from unsure.signals import Interrupted, signals_held


def _report(tmp_path, name="rep"):
    with atomic_dir(tmp_path / name, "report", replace=True) as tmp:
        (tmp / "overlays").mkdir()
        (tmp / "overlays" / "a.png").write_bytes(b"png")
        (tmp / "index.html").write_text("<html></html>")
    return tmp_path / name


def test_marker_lists_every_path_written(tmp_path):
    d = _report(tmp_path)
    assert json.loads((d / MARKER).read_text())["files"] == ["index.html", "overlays", "overlays/a.png"]
    check_out_dir(d, "report", replace=True)  # all ours: may be replaced


def test_a_screenshot_saved_inside_becomes_ours(tmp_path):
    d = _report(tmp_path)
    (d / "shots").mkdir()
    (d / "shots" / "page.png").write_bytes(b"png")
    with pytest.raises(UnsureError, match="shots"):
        check_out_dir(d, "report", replace=True)
    add_to_marker(d, d / "shots" / "page.png")
    check_out_dir(d, "report", replace=True)
    add_to_marker(d, tmp_path / "elsewhere.png")  # outside the folder: nothing listed
    assert "elsewhere.png" not in (d / MARKER).read_text()


def test_lock_is_reentrant_and_leaves_nothing(tmp_path):
    out = tmp_path / "new" / "deeper" / "out"
    with output_lock(out) as p:
        assert p == lock_path(out) and p.is_file() and int(p.read_text()) == os.getpid()
        with output_lock(out):  # the same process again (train, then save_run)
            assert p.is_file()
        assert p.is_file()
    assert not (tmp_path / "new").exists()  # folders made only for the lock are gone again


def test_held_signal_is_raised_after_the_block():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach only the main thread")  # (a SIGTERM here would end the test process)
    done = []
    with pytest.raises(Interrupted) as e:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append(1)  # not cut short
    assert done == [1] and e.value.signum == signal.SIGTERM


def test_file_group_all_or_nothing(tmp_path):
    with pytest.raises(OSError):
        with file_group() as g:
            g.write(tmp_path / "r.json", "{}")
            g.path(tmp_path / "never-written.png")
            raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []
    with file_group() as g:
        g.write(tmp_path / "r.json", "{}")
        g.path(tmp_path / "never-written.png")  # a plot with nothing to draw is skipped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
