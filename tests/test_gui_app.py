"""`cladmop-studio` as a user starts it: arguments, real records, a screenshot, a clean exit."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from desktop.app import parse_args
from tests.gui_helpers import real_xml_files

pytestmark = pytest.mark.gui


def test_arguments():
    args = parse_args(["a.xml", "--open", "b.json", "c.csv", "--workspace", "w.cladmop", "--screenshot", "o.png"])
    assert args.files == ["a.xml"] and args.open == ["b.json", "c.csv"]
    assert args.workspace == "w.cladmop" and args.screenshot == "o.png" and not args.no_model
    assert args.model is None and args.device == "auto"
    assert parse_args(["--model", "/m", "--device", "cpu"]).model == "/m"
    with pytest.raises(SystemExit):
        parse_args(["--device", "tpu"])


def test_screenshot_of_real_records_then_exit(tmp_path):
    from PySide6.QtGui import QImage

    files = real_xml_files(2)
    out = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CLADMOP_HOME=str(tmp_path / "home"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    result = subprocess.run(
        [sys.executable, "-m", "desktop.app", "--no-model", "--workspace", str(tmp_path / "w.cladmop"),
         "--size", "1280x800", "--screenshot", str(out), "--open", *map(str, files)],
        capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    # the records went into the workspace before the picture was taken
    from engine.workspace import Workspace

    with Workspace.open(tmp_path / "w.cladmop") as ws:
        assert len(ws.keys()) == 2
