"""The main window end to end on real ClinicalTrials.gov records: open, errors by file, edit,
undo, scenarios, restart from the workspace, predictions through the service."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox

from engine.records import read_record
from desktop.widgets.criteria_editor import COL_ON, COL_TEXT
from tests.gui_helpers import ActiveCriteriaPredictor, real_xml_files

pytestmark = pytest.mark.gui


def open_and_wait(qtbot, window, paths):
    window.open_files(paths)
    assert window.runner.busy  # reading happens off the GUI thread
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)


def test_opens_real_records_and_shows_them(qtbot, make_window):
    files = real_xml_files(3)
    window = make_window()
    open_and_wait(qtbot, window, files)
    expected = [read_record(f)[0] for f in files]
    assert window.session.order == [t.nct_id for t in expected]
    assert window.trial_list.proxy.rowCount() == 3
    assert window.current_key == expected[0].nct_id  # the first opened trial is shown
    shown = window.criteria_editor.model
    assert shown.rowCount() == len(expected[0].criteria) > 0
    assert [shown.index(r, COL_TEXT).data() for r in range(shown.rowCount())] == \
        [c.text for c in expected[0].criteria]
    # lookups ran: drugs of the record are drawn (a molecule or a labelled placeholder)
    assert len(window.trial_view.cards) == len(window.session.entry(expected[0].nct_id).draft.original.drugs) > 0
    assert all(card.svg.svg_text.lstrip().startswith(("<?xml", "<svg")) for card in window.trial_view.cards)
    assert window.count_label.text() == "3 trials"
    assert window.recent_files()[0].endswith(files[-1].name)


def test_a_bad_file_is_reported_by_name_while_the_others_open(qtbot, make_window, tmp_path):
    good = real_xml_files(1)
    bad = tmp_path / "NCT99999999.xml"
    bad.write_text("<clinical_study><brief_title>cut off", encoding="utf-8")
    missing = tmp_path / "gone.json"
    window = make_window()
    open_and_wait(qtbot, window, [bad, *good, missing])
    assert window.session.order == [read_record(good[0])[0].nct_id]
    dialog = window.last_error_dialog
    assert isinstance(dialog, QMessageBox) and dialog.isVisible()
    assert not dialog.isModal() or dialog.windowModality() != Qt.WindowModality.ApplicationModal
    assert "NCT99999999.xml" in dialog.text() and "gone.json" in dialog.text()
    assert str(bad) in dialog.detailedText() and str(missing) in dialog.detailedText()
    assert "2 file(s) could not be opened" in dialog.text()


def test_edit_undo_scenario_and_restart_restores_everything(qtbot, make_window, tmp_path):
    files = real_xml_files(2)
    workspace = tmp_path / "restart.cladmop"
    window = make_window(workspace)
    open_and_wait(qtbot, window, files)
    key = window.session.order[1]
    window.trial_list.select_key(key)
    assert window.current_key == key
    model = window.criteria_editor.model
    original_first = model.index(0, COL_TEXT).data()

    # edit the first criterion as the text delegate would, then undo it with Ctrl+Z
    model.setData(model.index(0, COL_TEXT), "Age 21 to 60 years")
    assert model.index(0, COL_TEXT).data() == "Age 21 to 60 years"
    assert window.criteria_editor.tabs.tabText(1) == "Changes (1)"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.criteria_editor.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert model.index(0, COL_TEXT).data() == original_first
    # redo: Ctrl+Shift+Z and Ctrl+Y (the offscreen platform cannot synthesise Shift+letter shortcuts)
    assert QKeySequence("Ctrl+Shift+Z") in window.criteria_editor.redo_action.shortcuts()
    qtbot.keyClick(window.criteria_editor.view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert model.index(0, COL_TEXT).data() == "Age 21 to 60 years"

    # leave the last criterion out, save that as a scenario, then add an exclusion
    last = model.rowCount() - 1
    model.setData(model.index(last, COL_ON), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert window.scenarios_panel.save_scenario("Younger, without the last item")
    window.criteria_editor.add_criterion("exclusion", "Prior biologic therapy", edit=False)
    draft = window.session.entry(key).draft
    assert draft.diff().summary() == "1 edited, 1 added, 1 disabled"
    expected_items = draft.items()
    window.close()  # saves and closes the workspace

    again = make_window(workspace)
    assert again.session.order == window.session.order
    assert again.current_key == key  # the trial that was open
    restored = again.session.entry(key).draft
    assert restored.items() == expected_items
    assert restored.scenario_names() == ["Younger, without the last item"]
    assert restored.compare("Younger, without the last item", "").summary() == "1 added"
    assert again.criteria_editor.model.index(0, COL_TEXT).data() == "Age 21 to 60 years"
    assert again.scenarios_panel.list.item(0).data(Qt.ItemDataRole.UserRole) == "Younger, without the last item"


def test_autosave_reaches_the_file_without_closing(qtbot, make_window, tmp_path):
    from engine.workspace import Workspace

    window = make_window(tmp_path / "auto.cladmop")
    open_and_wait(qtbot, window, real_xml_files(1))
    key = window.current_key
    window.session.entry(key).draft.edit_text(0, "typed just now")
    qtbot.waitUntil(lambda: not window.session.has_unsaved_changes, timeout=5000)
    assert window.saved_label.text().startswith("autosaved ")
    reader = Workspace.open(tmp_path / "auto.cladmop")  # a second connection, as after a crash
    try:
        assert reader.load_draft(key).criteria[0].text == "typed just now"
    finally:
        reader.close()


def test_reopening_the_same_file_selects_it_instead_of_duplicating(qtbot, make_window, tmp_path, monkeypatch):
    files = real_xml_files(2)
    window = make_window()
    open_and_wait(qtbot, window, files)
    open_and_wait(qtbot, window, files[1:])
    assert len(window.session) == 2 and window.current_key == window.session.order[1]
    second = window.session.order[1]
    assert window.statusBar().currentMessage() == f"{second} is already open (selected)."
    # the same file written another way (relative to another folder), and twice in one go
    monkeypatch.chdir(files[0].parent.parent)
    relative = Path(files[0].parent.name) / files[0].name
    open_and_wait(qtbot, window, [relative, files[0]])
    assert len(window.session) == 2 and window.current_key == window.session.order[0]
    # opened again before the first open finished (double click in Open recent)
    window.open_files(files)
    window.open_files(files)
    qtbot.waitUntil(lambda: window.idle, timeout=60000)
    assert len(window.session) == 2 and len(window.session.workspace.keys()) == 2
    # the same record copied elsewhere (same NCT id, same content) is the same trial
    copy = tmp_path / "copy" / files[1].name
    copy.parent.mkdir()
    copy.write_bytes(files[1].read_bytes())
    open_and_wait(qtbot, window, [copy])
    assert len(window.session) == 2 and window.current_key == second
    # `cladmop-studio --open X` on every start with the restored workspace
    workspace = window.session.workspace.path
    window.close()
    again = make_window(workspace=workspace)
    open_and_wait(qtbot, again, files)
    assert again.session.order == [k for k in again.session.order if k in window.session.order]
    assert len(again.session) == 2 and "2 already open" in again.statusBar().currentMessage()


def test_filter_and_remove_trials(qtbot, make_window):
    files = real_xml_files(3)
    window = make_window()
    open_and_wait(qtbot, window, files)
    trial = window.session.entry(window.session.order[2]).draft.original
    window.trial_list.filter_edit.setText(trial.nct_id.lower())
    assert window.trial_list.visible_keys() == [trial.nct_id]
    codes = {k: {c for cond in window.session.entry(k).draft.original.conditions for c in cond.icd10}
             for k in window.session.order}
    key, code = next((k, c) for k in codes for c in codes[k]
                     if not any(c in other for j, other in codes.items() if j != k))
    window.trial_list.filter_edit.setText(code.replace(".", ""))  # an ICD-10 code only one record carries
    assert window.trial_list.visible_keys() == [key]
    window.trial_list.filter_edit.clear()
    window.trial_list.select_key(window.session.order[0])
    removed = window.current_key
    window.remove_current_trial()
    assert removed not in window.session.entries and len(window.session) == 2
    assert window.current_key == window.session.order[0]
    assert removed not in window.session.workspace.keys()


def test_predictions_flow_through_the_service_and_follow_edits(qtbot, make_window):
    predictor = ActiveCriteriaPredictor()
    window = make_window(load_model=True, model_loader=lambda: predictor)
    qtbot.waitUntil(lambda: window.predictions.ready, timeout=10000)
    open_and_wait(qtbot, window, real_xml_files(2))
    qtbot.waitUntil(lambda: window.idle, timeout=20000)
    key = window.current_key
    original = window.session.current_prediction(key, "original")
    assert original is not None
    assert original.probability == ActiveCriteriaPredictor.score(window.session.entry(key).draft.original)
    assert window.prediction_panel.probability.text() == f"{original.probability:.2f}"
    assert "model: active-criteria double" == window.model_label.text()
    assert all(name.startswith("Thread") or name != "MainThread" for name in predictor.threads)

    # disable two criteria quickly: one debounced what-if prediction, shown with its change
    draft = window.session.entry(key).draft
    calls_before = len(predictor.calls)
    draft.set_enabled(0, False)
    draft.set_enabled(1, False)
    qtbot.waitUntil(lambda: window.session.current_prediction(key, "edited") is not None, timeout=10000)
    edited = window.session.current_prediction(key, "edited")
    assert edited.probability == pytest.approx(original.probability - 0.10)
    assert len(predictor.calls) == calls_before + 1
    assert "→ what-if" in window.prediction_panel.whatif.text() and "-0.10" in window.prediction_panel.whatif.text()
    assert "Largest effects" in window.insight_panel.toPlainText() or "Largest effects" in \
        window.insight_panel.toHtml()
    row = window.trial_list.model.row_of(key)
    assert window.trial_list.model.index(row, 3).data() == f"{edited.probability:.2f}"

    # undo both: the original prediction is cached, no new model call
    draft.stack.undo()
    draft.stack.undo()
    qtbot.wait(window.predictions.DEBOUNCE_MS + 100)
    assert len(predictor.calls) == calls_before + 1
    assert window.prediction_panel.probability.text() == f"{original.probability:.2f}"


def test_without_a_model_the_window_says_so_and_everything_else_works(qtbot, make_window):
    from desktop.prediction_service import ModelUnavailable

    def no_model():
        raise ModelUnavailable("no model folder at /nowhere")

    window = make_window(load_model=True, model_loader=no_model)
    qtbot.waitUntil(lambda: window.predictions.status == "unavailable", timeout=10000)
    open_and_wait(qtbot, window, real_xml_files(1))
    assert window.idle
    assert "No prediction model is installed" in window.prediction_panel.caption.text()
    assert window.model_label.text() == "model: none"


def test_about_box_names_versions_and_licences(qtbot, make_window):
    window = make_window()
    box = window.show_about()
    text = box.text()
    assert "non-commercial" in text and "ClinicalTrials.gov" in text and "PySide6-Essentials" in text
    box.close()


def test_dropping_files_opens_them(qtbot, make_window):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    files = real_xml_files(2)
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)
    assert len(window.session) == 2


def test_corrections_from_the_trial_view_are_undoable_and_reach_the_library(qtbot, make_window, tmp_path,
                                                                           monkeypatch):
    from engine.lookups.drugs import DrugLookup, default_library_path

    # a private compound library (the window's own lookups use it): other tests must not see this entry
    monkeypatch.setenv("CLADMOP_HOME", str(tmp_path / "home"))
    window = make_window()
    open_and_wait(qtbot, window, real_xml_files(1))
    draft = window.session.entry(window.current_key).draft
    card = window.trial_view.cards[0]
    name = draft.original.drugs[0].name
    card.structureSubmitted.emit(0, "CC(=O)Nc1ccc(O)cc1", True)  # as after "Use" with the library box ticked
    assert draft.original.drugs[0].smiles == "CC(=O)Nc1ccc(O)cc1" == draft.edited.drugs[0].smiles
    assert draft.original.drugs[0].source == "user library"
    assert window.session.workspace.compounds()[name] == "CC(=O)Nc1ccc(O)cc1"
    assert DrugLookup(library_path=default_library_path()).lookup(name)[0].source == "user library"
    assert window.trial_view.cards[0].drug.smiles == "CC(=O)Nc1ccc(O)cc1"  # the view was rebuilt
    assert draft.diff().is_empty  # a correction is not a what-if
    window.criteria_editor.undo_action.trigger()
    assert draft.original.drugs[0].smiles != "CC(=O)Nc1ccc(O)cc1"

    window.trial_view.conditionCodesSubmitted.emit(0, ["E11.9"])
    assert draft.original.conditions[0].icd10 == ["E11.9"] and draft.original.conditions[0].match == "user"


def test_a_trial_the_model_cannot_score_says_why(qtbot, make_window):
    from engine.errors import CladmopError

    class PhaseOnePredictor(ActiveCriteriaPredictor):
        def predict(self, trial, phase=None, ablate=True, state=None):
            if trial.phases[-1] != "I":
                raise CladmopError(f"no phase {trial.phases[-1]} model in /models/tiny (it has: I)")
            return super().predict(trial)

    window = make_window(load_model=True, model_loader=PhaseOnePredictor)
    qtbot.waitUntil(lambda: window.predictions.ready, timeout=10000)
    open_and_wait(qtbot, window, real_xml_files(2))
    qtbot.waitUntil(lambda: window.idle, timeout=20000)
    key = window.current_key
    phase = window.session.entry(key).draft.original.phases[-1]
    assert phase != "I"
    assert f"no phase {phase} model" in window.prediction_panel.caption.text()
    assert "Cannot be scored" in window.prediction_panel.caption.text()
    row = window.trial_list.model.row_of(key)
    cell = window.trial_list.model.index(row, 2)
    assert cell.data() == "–" and f"no phase {phase} model" in cell.data(Qt.ItemDataRole.ToolTipRole)


def test_score_all_from_the_menu_scores_and_shows_a_summary(qtbot, make_window):
    """Issue 19: the F6 action passed its `checked` flag as the `then` callback (TypeError) and no
    summary appeared."""
    predictor = ActiveCriteriaPredictor()
    window = make_window(load_model=True, model_loader=lambda: predictor)
    qtbot.waitUntil(lambda: window.predictions.ready, timeout=10000)
    open_and_wait(qtbot, window, real_xml_files(2))
    window.predictions.cancel_all()
    window.session.forget_predictions()
    window.score_all_action.trigger()
    qtbot.waitUntil(lambda: window.score_summary_box is not None, timeout=20000)
    box = window.score_summary_box
    assert box.isVisible() and "Scored 2 of 2 trial(s)" in box.text()
    assert "Scored 2 of 2 trial(s)" in window.statusBar().currentMessage()
    assert all(window.session.current_prediction(k, "original") is not None for k in window.session.order)


def test_a_bad_file_alone_is_not_said_to_leave_others_open(qtbot, make_window, tmp_path):
    """Issue 19: the message said "the others are open" when nothing else was opened."""
    bad = tmp_path / "NCT99999998.xml"
    bad.write_text("<clinical_study><brief_title>cut off", encoding="utf-8")
    window = make_window()
    open_and_wait(qtbot, window, [bad])
    text = window.last_error_dialog.text()
    assert "the others are open" not in text and "nothing else was opened" in text
    open_and_wait(qtbot, window, [bad, *real_xml_files(2)])
    assert "1 file(s) could not be opened; the others are open (2 trials)." in window.last_error_dialog.text()


def test_a_numeric_edit_the_model_barely_registers_is_said_so(qtbot, make_window):
    """The window says in words what `cladmop whatif` says (engine/whatif.py): a change of a number that
    leaves the probability where it was is no evidence that the number does not matter."""
    predictor = ActiveCriteriaPredictor()  # reads only how many criteria are active: numbers never count
    window = make_window(load_model=True, model_loader=lambda: predictor)
    qtbot.waitUntil(lambda: window.predictions.ready, timeout=10000)
    open_and_wait(qtbot, window, [Path(__file__).resolve().parents[1] / "resources" / "examples" / "NCT09990001.xml"])
    qtbot.waitUntil(lambda: window.idle, timeout=20000)
    key = window.current_key
    draft = window.session.entry(key).draft
    row = next(i for i, c in enumerate(draft.criteria) if c.enabled and re.search(r"\d", c.text))
    recorded = draft.criteria[row].text
    draft.edit_text(row, re.sub(r"\d+", lambda m: str(int(m.group()) + 7), recorded, count=1))
    qtbot.waitUntil(lambda: "change of numbers" in window.prediction_panel.whatif.text(), timeout=10000)
    draft.edit_text(row, recorded + " (see protocol)")
    qtbot.waitUntil(lambda: "barely reacts to this change" in window.prediction_panel.whatif.text(), timeout=10000)
    draft.set_enabled(row, False)  # one criterion fewer: the double's number moves by 0.05
    qtbot.waitUntil(lambda: "-0.05" in window.prediction_panel.whatif.text(), timeout=10000)
    assert "barely" not in window.prediction_panel.whatif.text()


def test_a_trial_s_report_as_html_and_pdf_with_its_scenarios(qtbot, make_window, tmp_path):
    predictor = ActiveCriteriaPredictor()
    window = make_window(load_model=True, model_loader=lambda: predictor)
    qtbot.waitUntil(lambda: window.predictions.ready, timeout=10000)
    open_and_wait(qtbot, window, [Path(__file__).resolve().parents[1] / "resources" / "examples" / "NCT09990001.xml"]
                  + real_xml_files(1))
    qtbot.waitUntil(lambda: window.idle, timeout=20000)
    window.trial_list.select_key("NCT09990001")
    draft = window.session.entry("NCT09990001").draft
    draft.set_enabled(0, False)
    draft.save_scenario("without the age window")
    for name in ("report.html", "report.pdf"):
        window.report_trial(tmp_path / name)
        qtbot.waitUntil(lambda: (tmp_path / name).is_file() and window.idle, timeout=30000)
    html = (tmp_path / "report.html").read_text()
    assert "NCT09990001" in html and "without the age window: " in html and "vs as recorded" in html
    assert real_xml_files(1)[0].stem not in html  # the trial in view only
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    assert pdf.count(b"/Subtype /Image") >= 3  # both drugs' drawings and the probability bar
