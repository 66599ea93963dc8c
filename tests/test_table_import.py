"""In-house trials from CSV and Excel tables (engine/records/table_import.py): the column mapping guessed
from the header, confirmed once and remembered; each row a Trial, a bad row named by its row number; the
label column for fine-tuning; the same through `cladmop import`, the loader and File > Open's dialog."""
from __future__ import annotations

import csv
import json

import pytest

from engine.cli import main
from engine.records import RecordError, load_records, read_record
from engine.records.table_import import (ColumnMapping, guess_mapping, mapping_for, mappings_path, read_table,
                                         remember_mapping, rows_to_trials)

CRITERIA = "Inclusion Criteria:\n- Adults aged 18 to 75\n- HbA1c 7.0-10.0%\n\nExclusion Criteria:\n- Pregnancy"
HEADER = ["Study ID", "Trial title", "Phase", "Drug names", "Drug SMILES", "Indication", "ICD-10",
          "Eligibility criteria", "Outcome", "Notes"]
ROWS = [
    ["ABC-001", "Metformin XR in T2D", "Phase 2", "metformin; ABC-1", ";CC(=O)Oc1ccccc1C(=O)O", "type 2 diabetes",
     "E11.9", CRITERIA, "success", "first"],
    ["ABC-002", "Wrong phase", "Phase 9", "aspirin", "", "asthma", "", CRITERIA, "0", ""],
    ["ABC-003", "No drug", "II", "", "", "asthma", "", CRITERIA, "failure", ""],
    ["", "", "", "", "", "", "", "", "", ""],  # an empty row is passed over; numbers keep the sheet's
    ["ABC-005", "Two drugs, one SMILES", "III", "a | b", "C", "", "", CRITERIA, "", ""],
    ["ABC-006", "Bad label", "I/II", "aspirin", "", "", "", CRITERIA, "maybe", ""],
    ["ABC-007", "Placebo-controlled", "3", "drug x|placebo", "", "asthma|copd", "J45|J44.9", CRITERIA, "1", ""],
]
MAPPING = ColumnMapping(id="Study ID", title="Trial title", phase="Phase", drugs="Drug names", smiles="Drug SMILES",
                        conditions="Indication", icd="ICD-10", criteria="Eligibility criteria", label="Outcome")


@pytest.fixture(autouse=True)
def own_user_dir(tmp_path, monkeypatch):
    """Remembered mappings of this test only."""
    monkeypatch.setenv("CLADMOP_HOME", str(tmp_path / "home"))


def write_csv(path, rows=ROWS, header=HEADER, delimiter=",", encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerows([header, *rows])
    return path


def write_xlsx(path, rows=ROWS, header=HEADER):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in [header, *rows]:
        sheet.append([int(c) if c.isdigit() else (c or None) for c in row])  # numbers as Excel keeps them
    book.save(path)
    return path


def test_the_mapping_is_guessed_from_header_names():
    assert guess_mapping(HEADER) == MAPPING  # "Drug SMILES" goes to SMILES, not to drugs; "Notes" to nothing
    assert guess_mapping(["nct_id", "Name", "phase", "Interventions", "Conditions", "Inclusion/Exclusion criteria",
                          "label"]) == ColumnMapping(id="nct_id", title="Name", phase="phase", drugs="Interventions",
                                                     conditions="Conditions", criteria="Inclusion/Exclusion criteria",
                                                     label="label")
    assert guess_mapping(["Foo", "Bar"]).problems(["Foo", "Bar"]) == [
        "no column chosen for title, phase, drugs, criteria"]
    assert MAPPING.problems(["Trial title"])[-1].startswith("no column named 'Study ID'")


def test_rows_become_trials_and_bad_rows_are_named_by_their_row_number(tmp_path):
    table = read_table(write_csv(tmp_path / "trials.csv"))
    assert table.numbers == [2, 3, 4, 6, 7, 8]  # the header is row 1; row 5 is empty
    trials, errors = rows_to_trials(table, MAPPING)
    assert [t.nct_id for t in trials] == ["ABC-001", "ABC-007"]
    first, last = trials
    assert first.phases == ("II",) and first.label == 1 and first.source_path == str(tmp_path / "trials.csv")
    assert [(d.name, d.smiles) for d in first.drugs] == [("metformin", None), ("ABC-1", "CC(=O)Oc1ccccc1C(=O)O")]
    assert [(c.name, c.icd10) for c in first.conditions] == [("type 2 diabetes", ["E11.9"])]
    assert [c.kind for c in first.criteria] == ["inclusion", "inclusion", "exclusion"]
    assert last.phases == ("III",) and [d.name for d in last.drugs] == ["drug x", "placebo"]
    assert [c.icd10 for c in last.conditions] == [["J45"], ["J44.9"]]
    messages = [str(e) for e in errors]
    assert [e.row for e in errors] == [3, 4, 6, 7]
    assert messages[0] == (f"{tmp_path / 'trials.csv'}: row 3 (ABC-002): phase 'Phase 9' is not one of I, II, III, "
                           "IV, I/II or II/III")
    assert "row 4 (ABC-003): name at least one drug" in messages[1]
    assert "row 6 (ABC-005): 2 drug(s) but 1 in the SMILES column: give one per drug" in messages[2]
    assert "row 7 (ABC-006): label 'maybe' should be 1/0, success/failure or empty" in messages[3]
    assert all("Traceback" not in m for m in messages)


def test_labels_read_as_numbers_or_words(tmp_path):
    rows = [[f"X{i}", "T", "II", "aspirin", "", "", "", CRITERIA, label, ""]
            for i, label in enumerate(["1", "0", "Success", "FAILURE", "", "yes"])]
    trials, errors = rows_to_trials(read_table(write_csv(tmp_path / "labels.csv", rows)), MAPPING)
    assert not errors and [t.label for t in trials] == [1, 0, 1, 0, None, 1]


def test_a_semicolon_csv_in_windows_encoding_reads(tmp_path):
    rows = [["ABC-001", "Étude café", "2", "metformin", "", "", "", CRITERIA, "1", ""]]
    path = write_csv(tmp_path / "excel-export.csv", rows, delimiter=";", encoding="cp1252")
    table = read_table(path)
    assert table.columns == HEADER and rows_to_trials(table, MAPPING)[0][0].title == "Étude café"


def test_an_excel_table_reads_as_the_csv_does(tmp_path):
    table = read_table(write_xlsx(tmp_path / "trials.xlsx"))
    assert table.columns == HEADER and table.numbers == [2, 3, 4, 6, 7, 8]
    trials, errors = rows_to_trials(table, MAPPING)
    assert [t.nct_id for t in trials] == ["ABC-001", "ABC-007"] and len(errors) == 4
    assert trials[1].phases == ("III",)  # the number 3 in its cell
    assert trials[0].source_format == "table-xlsx"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(RecordError, match="broken.xlsx: is not an Excel workbook"):
        read_table(broken)


def test_a_remembered_mapping_lets_the_loader_read_the_table(tmp_path):
    path = write_csv(tmp_path / "trials.csv")
    with pytest.raises(RecordError, match=r"the header lacks nctid, diseases, drugs, criteria\. .*cladmop import"):
        read_record(path)
    assert mapping_for(read_table(path)) == (MAPPING, False)
    remember_mapping(HEADER, MAPPING.__class__(**{**MAPPING.as_dict(), "label": None}))
    remember_mapping(["a", "b"], ColumnMapping(title="a", phase="a", drugs="a", criteria="b"))  # another table's
    remember_mapping(HEADER, MAPPING)  # saved again: replaces the first, keeps the other table's
    stored = json.loads(mappings_path().read_text())["tables"]
    assert len(stored) == 2 and stored[next(iter(stored))]["mapping"]["label"] == "Outcome"
    assert mapping_for(read_table(path)) == (MAPPING, True)
    result = load_records(path)
    assert [t.nct_id for t in result.trials] == ["ABC-001", "ABC-007"]
    assert [e.row for e in result.errors] == [3, 4, 6, 7]
    xlsx = write_xlsx(tmp_path / "same-columns.xlsx")  # the same header in Excel: the same mapping
    write_csv(tmp_path / "index.csv", [["x"]], header=["file"])  # a table nobody mapped: passed over
    walked = load_records(tmp_path)
    assert sorted(t.source_path for t in walked.trials) == sorted([str(path)] * 2 + [str(xlsx)] * 2)
    assert walked.skipped == [f"{tmp_path / 'index.csv'}: a CSV/TSV without the TOP columns "
                              "(nctid, phase, diseases, drugs, criteria)"]


def test_a_mapping_that_misses_a_required_field_is_not_saved(tmp_path):
    with pytest.raises(RecordError, match="mapping not saved: no column chosen for criteria"):
        remember_mapping(HEADER, ColumnMapping(title="Trial title", phase="Phase", drugs="Drug names"))
    assert not mappings_path().exists()
    mappings_path().parent.mkdir(parents=True)
    mappings_path().write_text("{ damaged")
    with pytest.raises(RecordError, match="table_mappings.json: the saved column mappings cannot be read"):
        mapping_for(read_table(write_csv(tmp_path / "t.csv")))


def test_cli_import_maps_checks_saves_and_adds_to_the_workspace(tmp_path, capsys):
    from engine.training.dataset import load_labelled
    from engine.workspace import Workspace

    path = write_xlsx(tmp_path / "trials.xlsx", header=[*HEADER[:1], "Headline", *HEADER[2:]])
    assert main(["import", str(path)]) == 2  # no column looks like a title
    assert "no column chosen for title: give it with --map FIELD=COLUMN" in capsys.readouterr().err
    assert main(["import", str(path), "--map", "title=headline", "--map", "smiles=", "--save-mapping",
                 "--workspace", str(tmp_path / "w.cladmop")]) == 0
    out, err = capsys.readouterr()
    assert "columns given:" in out and "  smiles      -" in out and "not read: Drug SMILES, Notes" in out
    assert "3 trial(s) read, 2 labelled (2 success, 0 failure); 3 row(s) skipped" in out
    assert "mapping saved" in out and "w.cladmop: added 3 trial(s)" in out
    assert "skipped" in err and "row 3 (ABC-002): phase 'Phase 9'" in err
    with Workspace.open_read_only(tmp_path / "w.cladmop") as workspace:
        assert sorted(workspace.keys()) == ["ABC-001", "ABC-005", "ABC-007"]
        stored = {t.record.nct_id: t.record for t in workspace.load_trials()}
    metformin = stored["ABC-001"].drugs[0]  # no SMILES in the sheet: looked up, as the window does
    assert metformin.name == "metformin" and metformin.smiles and metformin.kind == "small_molecule"
    labelled, notes = load_labelled([path])  # what finetune and evaluate read: the label column
    assert [t.nct_id for t in labelled.trials] == ["ABC-001", "ABC-007"] and list(labelled.labels) == [1, 1]
    assert main(["import", str(path), "--workspace", str(tmp_path / "w.cladmop")]) == 0
    out = capsys.readouterr().out  # the saved mapping, and nothing added twice
    assert "columns saved:" in out and "added 0 trial(s); 3 already there" in out and "--save-mapping" not in out
    assert main(["import", str(path), "--map", "size=Phase"]) == 2
    assert "FIELD one of id, title" in capsys.readouterr().err


def test_a_workbooks_sheet_is_chosen_by_name_or_number(tmp_path, capsys):
    from openpyxl import load_workbook

    path = write_xlsx(tmp_path / "trials.xlsx")
    book = load_workbook(path)
    book.active.title = "Trials 2025"
    notes = book.create_sheet("Read me", 0)  # the trials come second, after a notes sheet
    notes.append(["About this workbook"])
    book.save(path)
    assert read_table(path).sheet == "Read me"
    for wanted in ("Trials 2025", "2"):
        table = read_table(path, sheet=wanted)
        assert (table.sheet, table.other_sheets, len(table.rows)) == ("Trials 2025", ["Read me"], len(ROWS) - 1)
    with pytest.raises(RecordError, match=r"trials.xlsx: has no sheet 'Trials'; its sheets: Read me, "):
        read_table(path, sheet="Trials")
    with pytest.raises(RecordError, match="is a CSV table: it has no sheets"):
        read_table(write_csv(tmp_path / "t.csv"), sheet="1")
    assert main(["import", str(path), "--sheet", "Trials 2025"]) == 0
    out = capsys.readouterr().out
    assert "sheet 'Trials 2025': 6 row(s)" in out and "other sheets: Read me" in out


@pytest.mark.gui
def test_the_mapping_dialog_proposes_previews_and_remembers(qtbot, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox

    from desktop.widgets.column_mapping import NO_COLUMN, ColumnMappingDialog

    table = read_table(write_xlsx(tmp_path / "trials.xlsx"), max_rows=8)
    dialog = ColumnMappingDialog(table, *mapping_for(table))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.current() == MAPPING and ok.isEnabled()
    assert dialog.preview.rowCount() == 6 and dialog.preview.item(0, 1).text() == "Metformin XR in T2D"
    assert dialog.preview.horizontalHeaderItem(1).text() == "Trial title\n→ title"
    assert "2 trial(s) read, 2 with an outcome label" in dialog.check.text()
    assert "Row 3 skipped: phase 'Phase 9'" in dialog.check.text()
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.grab().save(str(tmp_path / "column_mapping.png"))
    dialog.combos["criteria"].setCurrentText(NO_COLUMN)
    assert not ok.isEnabled() and "No column chosen for criteria" in dialog.problem.text()
    dialog.combos["criteria"].setCurrentText("Eligibility criteria")
    dialog.combos["label"].setCurrentText(NO_COLUMN)
    dialog.accept()
    assert dialog.result() == ColumnMappingDialog.DialogCode.Accepted
    assert mapping_for(table) == (ColumnMapping(**{**MAPPING.as_dict(), "label": None}), True)


@pytest.mark.gui
def test_file_open_asks_for_the_columns_of_an_in_house_table(qtbot, tmp_path, monkeypatch):
    from desktop.main_window import MainWindow
    from desktop.widgets import column_mapping
    from tests.gui_helpers import make_settings

    asked = []

    def answer(dialog):
        asked.append(dialog.table.path.name)
        if dialog.table.path.name == "cancelled.csv":
            dialog.reject()
        else:
            dialog.accept()
        return dialog.result()

    monkeypatch.setattr(column_mapping.ColumnMappingDialog, "exec", answer)
    window = MainWindow(workspace_path=tmp_path / "w.cladmop", settings=make_settings(tmp_path), load_model=False)
    qtbot.addWidget(window)
    cancelled = write_csv(tmp_path / "cancelled.csv", header=[*HEADER[:-1], "Comment"])
    window.open_files([write_csv(tmp_path / "trials.csv"), cancelled])
    qtbot.waitUntil(lambda: not window.runner.busy and not window._opening, timeout=60000)
    assert asked == ["trials.csv", "cancelled.csv"]
    assert sorted(window.session.order) == ["ABC-001", "ABC-007"]
    assert "row 3 (ABC-002)" in window.last_error_dialog.detailedText()


@pytest.mark.slow
def test_cli_predict_reads_a_mapped_table_with_the_shipped_model(tmp_path, capsys):
    path = write_csv(tmp_path / "trials.csv")
    assert main(["import", str(path), "--save-mapping"]) == 0
    capsys.readouterr()
    assert main(["predict", str(path), "--no-ablation", "--json", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["nct_id"] for line in lines] == ["ABC-001", "ABC-007"]
    assert all(0 < line["probability"] < 1 for line in lines)
    assert "skipped" in err and "row 3 (ABC-002)" in err
