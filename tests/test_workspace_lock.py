"""Issue 20.2/20.3: where the analyst's data lives. A workspace is locked while a process has it open,
so a second process is told instead of silently overwriting committed edits; the lock dies with its
process. The GUI keeps its settings under CLADMOP_HOME (tests: a private one) and shows the folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.workspace import Workspace, WorkspaceError

ROOT = Path(__file__).resolve().parents[1]
OPEN_AND_WAIT = ("import sys, time\nfrom engine.workspace import Workspace\nws = Workspace.open(sys.argv[1])\n"
                 "print('open', flush=True)\ntime.sleep(600)\n")
OPEN_ONCE = ("import sys\nfrom engine.workspace import Workspace, WorkspaceError\n"
             "try:\n    Workspace.open(sys.argv[1]).close()\nexcept WorkspaceError as e:\n    print(e); sys.exit(3)\n")


def other_process_opens(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", OPEN_ONCE, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_a_second_process_is_told_the_workspace_is_open(tmp_path):
    path = tmp_path / "study.cladmop"
    with Workspace.open(path):
        refused = other_process_opens(path)
        assert refused.returncode == 3, refused.stderr
        assert refused.stdout.strip() == (f"{path}: is open in another CLaDMoP Studio (process {os.getpid()}); "
                                          f"close it there, or open a copy")
    assert other_process_opens(path).returncode == 0  # closed: free again


def test_the_lock_dies_with_its_process(tmp_path):
    path = tmp_path / "study.cladmop"
    holder = subprocess.Popen([sys.executable, "-c", OPEN_AND_WAIT, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WorkspaceError, match=f"process {holder.pid}"):
            Workspace.open(path)
    finally:
        holder.kill()
        holder.wait()
    Workspace.open(path).close()  # killed: nothing to clean up


def test_the_suite_uses_a_private_config_home():
    """Qt's settings and anything else under XDG_CONFIG_HOME stay out of the user's ~/.config."""
    assert os.environ.get("XDG_CONFIG_HOME")
    assert not Path(os.environ["XDG_CONFIG_HOME"]).resolve().is_relative_to(Path.home() / ".config")


def test_the_gui_settings_live_under_cladmop_home(qapp):
    from desktop.main_window import app_settings
    from engine.paths import user_data_dir

    assert Path(app_settings().fileName()) == user_data_dir() / "settings.ini"


def test_the_title_bar_shows_where_the_workspace_lives(qtbot, tmp_path):
    from desktop.main_window import MainWindow
    from tests.gui_helpers import make_settings

    path = tmp_path / "data" / "study.cladmop"
    window = MainWindow(workspace_path=path, settings=make_settings(tmp_path), load_model=False)
    qtbot.addWidget(window)
    assert window.windowTitle() == f"CLaDMoP Studio — study.cladmop — {path.parent}"
