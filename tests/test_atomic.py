"""Crash-safe writes (engine/atomic.py): one writer for every file the application keeps."""
from __future__ import annotations

import os
import stat

from engine.atomic import atomic_write_text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_lookup_files_get_the_permissions_of_every_other_written_file(monkeypatch, tmp_path):
    """The lookups once had their own writer, which left the user's files readable by their owner only."""
    from engine.lookups.settings import set_reference_folders, settings_path

    monkeypatch.setenv("CLADMOP_HOME", str(tmp_path / "home"))
    set_reference_folders([tmp_path])
    atomic_write_text(tmp_path / "export.csv", "nct_id\n")
    assert _mode(settings_path()) == _mode(tmp_path / "export.csv") == 0o666 & ~_umask()


def test_every_swap_passes_the_seam_the_kill_tests_replace(monkeypatch, tmp_path):
    """tests/crash_point.py stops a child at `before_swap`; a writer that skipped it could not be tested."""
    from engine import atomic
    from engine.workspace import Workspace

    swapped = []
    monkeypatch.setattr(atomic, "before_swap", lambda target: swapped.append(target.name))
    atomic.atomic_write_text(tmp_path / "report.csv", "nct_id\n")
    with atomic.atomic_directory(tmp_path / "adapter") as staging:
        (staging / "weights").write_bytes(b"w")
    with Workspace.open(tmp_path / "w.cladmop") as ws:
        ws.save_as(tmp_path / "copy.cladmop").close()
    assert swapped == ["report.csv", "adapter", "copy.cladmop"]


def test_a_file_system_that_cannot_name_an_unnamed_file_gets_a_copy(monkeypatch, tmp_path):
    """atomic_file writes an unnamed file (O_TMPFILE: a killed writer leaves nothing, issue 20.8); where
    linking it fails, its contents go to a hidden named file: the write still lands, nothing is left over."""
    def refuse(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    atomic_write_text(tmp_path / "report.csv", "nct_id\n" * 1000)
    assert (tmp_path / "report.csv").read_text() == "nct_id\n" * 1000
    assert os.listdir(tmp_path) == ["report.csv"]
