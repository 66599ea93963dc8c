"""An in-house trial typed in (engine/records/typed.py): File → New trial in the window and
`cladmop workspace add` build the same Trial; a bad field is named and nothing typed is lost."""
from __future__ import annotations

import pytest

from engine.cli import main
from engine.records.errors import RecordError
from engine.records.typed import typed_trial
from engine.workspace import Workspace

CRITERIA = "Inclusion Criteria:\n- Adults aged 18 to 75\n- HbA1c 7.0-10.0%\n\nExclusion Criteria:\n- Pregnancy"


def test_a_typed_trial_reads_as_a_record_does():
    trial = typed_trial("Metformin XR", "2/3", [("metformin", ""), ("ABC-1", "CC(=O)Oc1ccccc1C(=O)O")],
                        [("type 2 diabetes", "e11.9"), ("obesity", "")], CRITERIA)
    assert trial.phases == ("II", "III") and trial.nct_id.startswith("INHOUSE-")
    assert [(c.kind, c.text) for c in trial.criteria] == [("inclusion", "Adults aged 18 to 75"),
                                                          ("inclusion", "HbA1c 7.0-10.0%"), ("exclusion", "Pregnancy")]
    assert trial.drugs[1].smiles and trial.drugs[1].source == "user" and trial.drugs[0].smiles is None
    assert trial.conditions[0].icd10 == ["E11.9"] and trial.conditions[0].match == "user"
    assert typed_trial("Metformin XR", "II", [("metformin", "")], [], CRITERIA).nct_id == \
        typed_trial("Metformin XR", "III", [("metformin", "")], [], CRITERIA).nct_id  # stable id


@pytest.mark.parametrize("fields, problem", [
    (("", "II", [("a", "")], [], CRITERIA), "needs a title"),
    (("T", "V", [("a", "")], [], CRITERIA), "phase 'V' is not one of"),
    (("T", "II", [], [], CRITERIA), "at least one drug"),
    (("T", "II", [("a", "C1CC")], [], CRITERIA), "drug 'a': not a valid SMILES"),
    (("T", "II", [("a", "")], [("asthma", "12345")], CRITERIA), "'12345' is not an ICD-10 code"),
    (("T", "II", [("a", "")], [], "  "), "paste the eligibility criteria"),
])
def test_each_bad_field_is_named(fields, problem):
    with pytest.raises(RecordError, match=problem):
        typed_trial(*fields)


def test_cli_adds_a_typed_trial_to_the_workspace(tmp_path, capsys):
    from engine.studio import Lookups

    criteria = tmp_path / "criteria.txt"
    criteria.write_text(CRITERIA)
    path = tmp_path / "ws.cladmop"
    assert main(["workspace", "add", "--file", str(path), "--title", "Metformin XR", "--phase", "II",
                 "--drug", "metformin", "--condition", "type 2 diabetes=E11.9", "--criteria", str(criteria)]) == 0
    assert "added INHOUSE-" in capsys.readouterr().out
    with Workspace.open(path) as ws:
        (stored,) = ws.load_trials()
    typed = typed_trial("Metformin XR", "II", [("metformin", "")], [("type 2 diabetes", "E11.9")], CRITERIA)
    assert stored.record == Lookups().resolve(typed)  # looked up as File > New trial looks it up
    assert stored.record.drugs[0].smiles and stored.record.drugs[0].kind == "small_molecule"
    assert main(["workspace", "add", "--file", str(path), "--title", "x", "--phase", "II", "--drug", "a"]) == 2
    assert "give the criteria" in capsys.readouterr().err


@pytest.mark.gui
def test_the_new_trial_dialog_keeps_what_was_typed_and_adds_the_trial(qtbot, tmp_path):
    from PySide6.QtWidgets import QTableWidgetItem

    from desktop.main_window import MainWindow
    from desktop.widgets.new_trial import NewTrialDialog
    from tests.gui_helpers import make_settings

    window = MainWindow(workspace_path=tmp_path / "w.cladmop", settings=make_settings(tmp_path), load_model=False)
    qtbot.addWidget(window)
    dialog = NewTrialDialog(window)
    qtbot.addWidget(dialog)
    dialog.title.setText("Metformin XR")
    dialog.criteria.setPlainText(CRITERIA)
    dialog.accept()  # no drug yet: refused in words, the dialog stays with the text
    assert dialog.result() != NewTrialDialog.DialogCode.Accepted and "at least one drug" in dialog.problem.text()
    assert dialog.criteria.toPlainText() == CRITERIA and dialog.title.text() == "Metformin XR"
    dialog.drugs.setItem(0, 0, QTableWidgetItem("metformin"))
    dialog.accept()
    assert dialog.result() == NewTrialDialog.DialogCode.Accepted and dialog.trial.title == "Metformin XR"
    key = window.add_typed_trial(dialog.trial)
    assert window.current_key == key and window.session.entry(key).draft.original.criteria[2].kind == "exclusion"
    assert key in window.session.workspace.keys()
