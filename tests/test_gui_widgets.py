"""The views on their own: criteria editor, trial list, molecule cards, conditions, scenarios."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QModelIndex, Qt
from PySide6.QtWidgets import QPlainTextEdit

from engine.editing import TrialDraft
from engine.records.trial import Condition, Criterion, IcdCandidate, Trial
from engine.workspace import Workspace
from desktop.session import Session
from desktop.widgets.criteria_editor import COL_CHANGE, COL_KIND, COL_ON, COL_TEXT, ROW_MIME, CriteriaEditor
from desktop.widgets.molecule_view import MoleculeCard
from desktop.widgets.scenarios_panel import ScenariosPanel
from desktop.widgets.trial_list import COL_PROB, COL_WHATIF, TrialListWidget
from desktop.widgets.trial_view import TrialView, split_codes
from tests.gui_helpers import ActiveCriteriaPredictor
from tests.builders import drawn, make_trial
from engine.depict import highlight_color

pytestmark = pytest.mark.gui


def texts(model) -> list[str]:
    return [model.index(r, COL_TEXT).data() for r in range(model.rowCount())]


@pytest.fixture
def editor(qtbot):
    widget = CriteriaEditor()
    qtbot.addWidget(widget)
    widget.set_draft(TrialDraft(make_trial()))
    widget.show()
    return widget


def test_editor_add_delete_move_and_undo_keep_the_selection_sensible(editor):
    model = editor.model
    editor.select_row(1)
    editor.add_criterion("exclusion", "On oral steroids", edit=False)
    assert texts(model)[2] == "On oral steroids" and editor.current_row() == 2
    assert model.index(2, COL_KIND).data() == "Exclusion" and model.index(2, COL_CHANGE).data() == "added"
    editor.move_up_action.trigger()
    assert texts(model)[1] == "On oral steroids" and editor.current_row() == 1
    editor.delete_action.trigger()
    assert "On oral steroids" not in texts(model)
    editor.undo_action.trigger()
    assert texts(model)[1] == "On oral steroids"
    assert editor.undo_action.isEnabled() and editor.redo_action.isEnabled()
    assert "Delete criterion 2" in editor.redo_action.toolTip()
    editor.revert_action.trigger()
    assert texts(model) == [c.text for c in make_trial().criteria]
    assert not editor.revert_action.isEnabled() and editor.tabs.tabText(1) == "Changes"


def test_editor_checkbox_and_kind_edits_are_commands(editor):
    model = editor.model
    model.setData(model.index(0, COL_ON), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    model.setData(model.index(1, COL_KIND), "exclusion", Qt.ItemDataRole.EditRole)
    model.setData(model.index(2, COL_TEXT), "   Current   smoker\n(any tobacco) ", Qt.ItemDataRole.EditRole)
    assert model.index(0, COL_ON).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert model.index(0, COL_TEXT).data(Qt.ItemDataRole.FontRole).strikeOut()
    assert texts(model)[2] == "Current smoker (any tobacco)"  # whitespace tidied
    assert model.index(2, COL_TEXT).data(Qt.ItemDataRole.ToolTipRole) == "Original: Current smoker"
    assert editor.draft.stack.history() == ["Disable criterion 1", "Make criterion 2 exclusion", "Edit criterion 3"]
    assert "disabled" in editor.diff_view.toPlainText() and "edited" in editor.diff_view.toPlainText()
    model.setData(model.index(2, COL_TEXT), "", Qt.ItemDataRole.EditRole)  # empty text is refused
    assert len(editor.draft.stack) == 3


def test_editor_drag_and_drop_reorders_through_a_command(editor):
    model = editor.model
    data = QMimeData()
    data.setData(ROW_MIME, b"0")
    model.dropMimeData(data, Qt.DropAction.MoveAction, 3, 0, QModelIndex())  # drop before the last row
    assert texts(model) == ["FEV1 40-80% of predicted", "Current smoker", "Age 18 to 65 years", "Pregnancy"]
    assert editor.draft.stack.undo_text == "Move criterion 1 to 3"
    mime = model.mimeData([model.index(2, COL_TEXT)])
    model.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, QModelIndex())  # drop below everything
    assert texts(model)[-1] == "Age 18 to 65 years"


def test_editor_without_a_draft_is_inert(qtbot):
    widget = CriteriaEditor()
    qtbot.addWidget(widget)
    widget.set_draft(None)
    assert widget.model.rowCount() == 0
    assert not any(a.isEnabled() for a in (widget.add_inclusion_action, widget.delete_action,
                                           widget.undo_action, widget.revert_action))


def prediction_for(trial: Trial, probability: float):
    predictor = ActiveCriteriaPredictor()
    prediction = predictor.predict(trial)
    prediction.probability = probability
    return prediction


def test_trial_list_sorts_by_probability_and_filters(qtbot, tmp_path):
    session = Session(Workspace.open(tmp_path / "w.cladmop"))
    trials = []
    for i, (title, phase, condition) in enumerate([("Budesonide in asthma", "II", "Asthma"),
                                                   ("Metformin in diabetes", "III", "Type 2 diabetes"),
                                                   ("Unscored trial", "II", "Gout")]):
        trial = make_trial()
        trial.nct_id, trial.title, trial.phases = f"NCT0000000{i}", title, (phase,)
        trial.conditions = [Condition(condition)]
        trials.append(trial)
    session.add_trials(trials)
    for key, p in (("NCT00000000", 0.42), ("NCT00000001", 0.71)):
        session.set_prediction(key, "original", prediction_for(session.trial_for(key, "original"), p),
                               session.trial_for(key, "original").content_hash())
    widget = TrialListWidget(session)
    qtbot.addWidget(widget)
    widget.view.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
    assert widget.visible_keys() == ["NCT00000001", "NCT00000000", "NCT00000002"]  # unscored last
    assert widget.proxy.index(0, COL_PROB).data() == "0.71"
    widget.filter_edit.setText("diabetes")  # matches a condition, not the title only
    assert widget.visible_keys() == ["NCT00000001"]
    widget.filter_edit.clear()
    widget.phase_combo.setCurrentIndex(widget.phase_combo.findData("II"))
    assert set(widget.visible_keys()) == {"NCT00000000", "NCT00000002"}
    assert widget.count_label.text() == "2 of 3 trials shown"
    # an edit marks the what-if column; a stale prediction is not shown as current
    session.entry("NCT00000000").draft.set_enabled(0, False)
    row = widget.model.row_of("NCT00000000")
    assert widget.model.index(row, COL_WHATIF).data() == "edited"
    assert widget.select_key("NCT00000001")  # hidden by the phase filter: the filter is cleared
    assert widget.current_key() == "NCT00000001" and widget.phase_combo.currentIndex() == 0
    session.close()


def test_molecule_card_validates_a_pasted_smiles(qtbot):
    trial = make_trial()
    card = MoleculeCard(1, trial.drugs[1])
    qtbot.addWidget(card)
    assert "Unresolved" in card.svg.svg_text and card.smiles_edit is not None
    submitted = []
    card.structureSubmitted.connect(lambda *args: submitted.append(args))
    card.smiles_edit.setText("C1CC((")
    card.submit()
    assert not submitted and "not a valid SMILES" in card.error_label.text()
    card.smiles_edit.setText("CC(=O)Nc1ccc(O)cc1")
    card.library_check.setChecked(False)
    card.submit()
    assert submitted == [(1, "CC(=O)Nc1ccc(O)cc1", False)] and card.error_label.isHidden()
    weighted = MoleculeCard(0, trial.drugs[0], atom_weights={0: 1.0, 1: 0.5})
    qtbot.addWidget(weighted)
    assert drawn(highlight_color(1.0, 0.0, 1.0), weighted.svg.svg_text)  # attention colours reach the card


def test_trial_view_offers_icd_candidates_and_parses_typed_codes(qtbot):
    trial = make_trial()
    trial.conditions[1] = Condition("Wheezing", [], "fuzzy", [IcdCandidate("R06.2", "Wheezing", 0.91),
                                                             IcdCandidate("J45.9", "Asthma", 0.6)])
    view = TrialView()
    qtbot.addWidget(view)
    view.show_trial(trial)
    submitted = []
    view.conditionCodesSubmitted.connect(lambda i, codes: submitted.append((i, codes)))
    box = view.code_boxes[1]
    assert box.count() == 3 and box.itemData(1) == "R06.2"
    box.setCurrentIndex(1)
    box.activated.emit(1)
    assert submitted == [(1, ["R06.2"])]
    box.setEditText("j45.909, J45.50 extra words")
    box.lineEdit().editingFinished.emit()
    assert submitted[-1] == (1, ["J45.909", "J45.50"])
    assert split_codes("R06.2 — Wheezing (0.91)") == ["R06.2"]
    assert len(view.cards) == 2 and "Unresolved" in view.cards[1].svg.svg_text
    assert view.cards[1].smiles_edit is not None and view.cards[0].smiles_edit is None


def test_trial_view_rebuilds_only_when_the_record_changes(qtbot):
    view = TrialView()
    qtbot.addWidget(view)
    trial = make_trial()
    view.show_trial(trial)
    first_cards = list(view.cards)
    view.show_trial(trial.replace())
    assert view.cards == first_cards
    view.show_trial(trial.replace(title="Another title"))
    assert view.cards != first_cards


def test_scenarios_panel_saves_applies_compares_and_reports_bad_names(qtbot):
    draft = TrialDraft(make_trial())
    panel = ScenariosPanel()
    qtbot.addWidget(panel)
    panel.set_draft(draft)
    errors = []
    panel.errorRaised.connect(errors.append)
    draft.delete(2)
    assert panel.save_scenario("Without smoking")
    assert not panel.save_scenario("Without smoking") and "already exists" in errors[-1]
    assert not panel.save_scenario("Original") and "reserved" in errors[-1]
    draft.revert_all()
    panel.refresh()
    assert panel.selected_name() == "Without smoking"
    panel.compare_combo.setCurrentIndex(panel.compare_combo.findData(TrialDraft.ORIGINAL))
    assert "1 removed" in panel.diff_view.toPlainText()
    panel.set_probabilities({"Without smoking": 0.66})
    assert "p = 0.66" in panel.list.item(0).text()
    assert panel.apply_selected()
    assert [c.text for c in draft.criteria] == ["Age 18 to 65 years", "FEV1 40-80% of predicted", "Pregnancy"]
    assert panel.rename_scenario("Without smoking", "No smoking item")
    assert panel.delete_selected() and draft.scenario_names() == []
    draft.stack.undo()
    panel.refresh()
    assert draft.scenario_names() == ["No smoking item"] and panel.list.count() == 1


def test_typing_is_committed_during_a_pause_and_undoes_as_one_step(editor, qtbot):
    from desktop.widgets.criteria_editor import CriterionTextDelegate

    index = editor.model.index(1, COL_TEXT)
    editor.view.setCurrentIndex(index)
    editor.view.edit(index)
    text_editor = editor.view.findChild(QPlainTextEdit)
    assert text_editor is not None
    qtbot.keyClicks(text_editor, "FEV1 30-80%")
    assert editor.draft.criteria[1].text == "FEV1 40-80% of predicted"  # not yet: still typing
    qtbot.waitUntil(lambda: editor.draft.criteria[1].text == "FEV1 30-80%",
                    timeout=CriterionTextDelegate.LIVE_COMMIT_MS * 5)
    qtbot.keyClicks(text_editor, " of predicted")
    qtbot.keyClick(text_editor, Qt.Key.Key_Return)  # Enter commits the rest and closes the editor
    assert editor.draft.criteria[1].text == "FEV1 30-80% of predicted"
    assert len(editor.draft.stack) == 1  # one typing session, one undo step
    editor.undo_action.trigger()
    assert editor.draft.criteria[1].text == "FEV1 40-80% of predicted"


def test_esc_cancels_an_edit_even_after_a_live_commit(editor, qtbot):
    """Issue 19: Esc kept the typed text; it must leave the criterion as it was before the edit."""
    from desktop.widgets.criteria_editor import CriterionTextDelegate

    for pause in (False, True):
        index = editor.model.index(1, COL_TEXT)
        editor.view.setCurrentIndex(index)
        editor.view.edit(index)
        text_editor = editor.view.findChild(QPlainTextEdit)
        qtbot.keyClicks(text_editor, "FEV1 30-80%")
        if pause:  # the live commit has happened
            qtbot.waitUntil(lambda: editor.draft.criteria[1].text == "FEV1 30-80%",
                            timeout=CriterionTextDelegate.LIVE_COMMIT_MS * 5)
        qtbot.keyClick(text_editor, Qt.Key.Key_Escape)
        qtbot.wait(CriterionTextDelegate.LIVE_COMMIT_MS * 2)
        assert editor.draft.criteria[1].text == "FEV1 40-80% of predicted"
        assert not editor.draft.is_modified and not editor.undo_action.isEnabled()


def test_add_exclusion_goes_to_the_exclusions_and_its_placeholder_is_never_scored(editor, qtbot):
    """Issue 19: "+ Exclusion" inserted "New exclusion criterion" among the inclusions, and scored it."""
    kinds = [c.kind for c in editor.draft.criteria]
    first_exclusion = kinds.index("exclusion")
    editor.select_row(0)  # an inclusion is selected
    editor.add_exclusion_action.trigger()
    row = editor.current_row()
    assert row == first_exclusion and editor.draft.criteria[row].kind == "exclusion"
    assert all(k == "exclusion" for k in [c.kind for c in editor.draft.criteria][first_exclusion:])
    assert editor.draft.snapshot().content_hash() == editor.draft.original.content_hash()  # nothing scored
    assert "New exclusion criterion" in editor.model.index(row, COL_TEXT).data()  # the placeholder, shown
    text_editor = editor.view.findChild(QPlainTextEdit)
    assert text_editor is not None and text_editor.toPlainText() == ""
    qtbot.keyClick(text_editor, Qt.Key.Key_Escape)  # nothing typed: the new row goes away
    assert len(editor.draft.criteria) == len(kinds) and not editor.draft.is_modified
    editor.select_row(first_exclusion)
    editor.add_inclusion_action.trigger()  # an exclusion is selected: the inclusion joins the inclusions
    row = editor.current_row()
    assert row <= first_exclusion and editor.draft.criteria[row].kind == "inclusion"


def test_trial_list_filters_trials_without_a_phase(qtbot, tmp_path):
    """Issue 19: no way to list the records that state no phase (the model cannot score them as they are)."""
    from desktop.widgets.trial_list import NO_PHASE

    session = Session(Workspace.open(tmp_path / "w.cladmop"))
    trials = []
    for i, phases in enumerate([("II",), (), ("I", "II")]):
        trial = make_trial()
        trial.nct_id, trial.phases = f"NCT0000001{i}", phases
        trials.append(trial)
    session.add_trials(trials)
    widget = TrialListWidget(session)
    qtbot.addWidget(widget)
    widget.phase_combo.setCurrentIndex(widget.phase_combo.findData(NO_PHASE))
    assert widget.phase_combo.currentText() == "No phase"
    assert widget.visible_keys() == ["NCT00000011"]
    assert widget.count_label.text() == "1 of 3 trials shown"
    session.close()


def test_scenario_compare_pane_shows_the_change_in_probability(qtbot):
    """Issue 19: the compare pane listed the criteria that differ but not what that does to p."""
    draft = TrialDraft(make_trial())
    panel = ScenariosPanel()
    qtbot.addWidget(panel)
    panel.set_draft(draft)
    draft.delete(2)
    assert panel.save_scenario("Without smoking")
    draft.set_enabled(0, False)
    assert panel.save_scenario("Neither")
    panel.list.setCurrentRow(0)  # "Without smoking"
    panel.set_probabilities({"Without smoking": 0.66, "Neither": 0.58, TrialDraft.ORIGINAL: 0.61, "": 0.58})
    panel.compare_combo.setCurrentIndex(panel.compare_combo.findData(TrialDraft.ORIGINAL))
    assert panel.delta_label.text() == "Δp +0.05: p 0.61 (original) → 0.66 (“Without smoking”)"
    panel.compare_combo.setCurrentIndex(panel.compare_combo.findData("Neither"))
    assert "Δp +0.08" in panel.delta_label.text()
    panel.set_probabilities({"Without smoking": 0.66})  # the other one not scored yet
    assert "not scored yet" in panel.delta_label.text()
    assert "p = 0.66" in panel.list.item(0).text() and "Original" not in panel.list.item(0).text()


def test_every_control_of_the_window_says_what_it_does(qtbot, make_window):
    """Buttons, choices and fields carry a tooltip (Qt's own dock and corner buttons aside)."""
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

    window = make_window()
    silent = [f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r} in {type(w.parent()).__name__}"
              for cls in (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox) for w in window.findChildren(cls)
              if w.isVisibleTo(window) and not w.toolTip() and not w.objectName().startswith("qt_")]
    assert silent == []
