"""Issue 20.4: edits the workspace file refuses (a full disk, a lost share) are never dropped: opening
another workspace is refused and said, "save as" writes them into the copy, closing asks."""
from __future__ import annotations

import sqlite3

import pytest

from desktop.main_window import MainWindow
from engine.paths import resources_dir
from engine.records import read_record
from engine.workspace import Workspace
from tests.gui_helpers import make_settings

pytestmark = pytest.mark.gui
EXAMPLE = resources_dir() / "examples" / "NCT09990001.xml"


@pytest.fixture
def edited(qtbot, tmp_path, monkeypatch):
    """A window with one trial whose first criterion was edited, on a workspace that refuses saves."""
    window = MainWindow(workspace_path=tmp_path / "study.cladmop", settings=make_settings(tmp_path), load_model=False)
    qtbot.addWidget(window)
    [key] = window.session.add_trials(read_record(EXAMPLE))
    window.session.entry(key).draft.edit_text(0, "edited while the disk was full")

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(window.session.workspace, "save_draft", refuse)
    window.ask_unsaved_on_close = lambda: "discard"  # qtbot closes the window after the test: never a modal box
    return window, key


def test_opening_another_workspace_keeps_the_edits_and_says_so(edited, tmp_path):
    window, key = edited
    before = window.session.workspace
    assert not window.open_workspace(tmp_path / "other.cladmop")
    assert window.session.workspace is before and window.session.has_unsaved_changes
    assert window.session.entry(key).draft.criteria[0].text == "edited while the disk was full"
    assert "could not be saved to" in window.last_error_dialog.text() + window.last_error_dialog.informativeText()


def test_save_as_writes_the_refused_edits_into_the_copy(edited, tmp_path):
    window, key = edited
    copy = tmp_path / "copy.cladmop"
    assert window.save_workspace_as(copy)
    assert window.session.workspace.path == copy and not window.session.has_unsaved_changes
    window.session.workspace.close()
    with Workspace.open(copy) as reopened:
        [stored] = reopened.load_trials()
    assert stored.draft.criteria[0].text == "edited while the disk was full"


@pytest.mark.parametrize("choice, closes", [("cancel", False), ("discard", True)])
def test_closing_with_refused_edits_asks_first(edited, choice, closes):
    window, _ = edited
    asked = []
    window.ask_unsaved_on_close = lambda: asked.append(1) or choice
    window.show()
    assert window.close() is closes
    assert asked == [1]
    assert window.isVisible() is not closes
