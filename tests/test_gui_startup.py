"""Starting without a display, the Help menu's shortcut list, and the Tools/Model menus."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QKeySequence

from desktop.app import needs_offscreen
from desktop.main_window import MainWindow
from tests.gui_helpers import make_settings

pytestmark = pytest.mark.gui
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "resources" / "examples"


def test_offscreen_is_chosen_without_a_display_or_for_a_screenshot():
    assert needs_offscreen(False, {}, "linux")
    assert not needs_offscreen(False, {"DISPLAY": ":0"}, "linux")
    assert not needs_offscreen(False, {"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert needs_offscreen(True, {"DISPLAY": ":0"}, "linux")
    assert not needs_offscreen(False, {}, "win32") and not needs_offscreen(False, {}, "darwin")
    assert not needs_offscreen(True, {"QT_QPA_PLATFORM": "xcb"}, "linux")  # the user's choice wins


def test_screenshot_works_with_no_display_and_no_platform_set(tmp_path):
    from PySide6.QtGui import QImage

    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(CLADMOP_HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, "-m", "desktop.app", "--no-model", "--workspace", str(tmp_path / "w.cladmop"),
         "--size", "1200x760", "--screenshot", str(out), str(EXAMPLES / "NCT09990001.xml")],
        capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "xcb" not in result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 760)


def test_help_lists_every_menu_shortcut_and_the_editor_keys(qtbot, tmp_path):
    window = MainWindow(workspace_path=tmp_path / "w.cladmop", settings=make_settings(tmp_path), load_model=False)
    qtbot.addWidget(window)
    box = window.show_shortcuts()
    text = box.text()
    native = lambda seq: QKeySequence(seq).toString(QKeySequence.SequenceFormat.NativeText)  # noqa: E731
    for keys, name in ((QKeySequence.StandardKey.Open, "Open records"), ("F5", "Predict again"),
                       ("Ctrl+M", "Model manager"), ("F6", "Score all open trials"),
                       ("Ctrl+E", "Export report (HTML + CSV)"), ("Ctrl+Alt+S", "Save scenario")):
        seq = QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText) if not isinstance(keys, str) \
            else native(keys)
        assert seq in text and name in text
    assert "Shift+Enter" in text and "criteria editor" in text
    box.close()


def test_tools_and_model_menus_hold_the_new_screens(qtbot, tmp_path):
    window = MainWindow(workspace_path=tmp_path / "w.cladmop", settings=make_settings(tmp_path), load_model=False)
    qtbot.addWidget(window)
    assert window.tools_menu.menuAction().isVisible()
    tools = [a.text() for a in window.tools_menu.actions() if a.text()]
    assert tools == ["&Fine-tune on your trials…", "&Score all open trials", "&Export report (HTML + CSV)…"]
    window.score_all()  # no model: says so instead of failing
    assert "No model is loaded" in window.last_error_dialog.text()
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    dock_titles = [a.text() for a in view.actions()]
    assert "Attention && ablation" in dock_titles
