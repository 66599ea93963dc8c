"""TOP CSV reader: labels, literal lists parsed safely, TOP's own codes kept aside, bad rows."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from engine.paths import resources_dir
from engine.records import RecordError, read_record
from engine.records.top_csv import TOP_COLUMNS, read_top_csv

EXAMPLE = resources_dir() / "examples" / "top_format_example.csv"


def write_rows(tmp_path: Path, rows: list[dict], name: str = "rows.csv", delimiter: str = ",") -> Path:
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TOP_COLUMNS, delimiter=delimiter, lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in TOP_COLUMNS})
    return path


ROW = {"nctid": "NCT09990010", "status": "terminated", "why_stop": "futility", "label": "0",
       "phase": "phase 1/phase 2", "diseases": "['asthma']", "icdcodes": "[\"['J45.909', 'J45.20']\"]",
       "drugs": "['budesonide', 'placebo']", "smiless": "['CCCC1OC2CC3C4CCC5=CC(=O)C=CC5(C)C4C(O)CC3(C)C2(O1)C(=O)CO', 'O']",
       "criteria": "Inclusion Criteria:\n\n  -  Adults with asthma\n\nExclusion Criteria:\n\n  -  Smokers\n"}


def test_example_rows():
    trials, top = read_top_csv(EXAMPLE, keep_top_columns=True)
    assert [t.nct_id for t in trials] == ["NCT09990003", "NCT09990004", "NCT09990005"]
    assert [t.label for t in trials] == [1, 0, 1]
    assert [t.phases for t in trials] == [("II",), ("I", "II"), ("III",)]
    assert [t.status for t in trials] == ["Completed", "Terminated", "Completed"]
    assert [d.name for d in trials[0].drugs] == ["tiotropium", "placebo"]
    assert [c.name for c in trials[2].conditions] == ["hypertension", "chronic kidney disease"]
    assert all(t.source_format == "top-csv" for t in trials)
    # TOP's codes and SMILES stay beside the trials, never in them
    assert top[2] == {"nctid": "NCT09990005", "row": 3, "icdcodes": [["I10"], ["N18.9"]],
                      "smiless": top[2]["smiless"]} and len(top[2]["smiless"]) == 2
    assert all(c.icd10 == [] for t in trials for c in t.conditions)
    assert all(d.smiles is None for t in trials for d in t.drugs)
    assert [(c.kind, c.text) for c in trials[1].criteria] == [
        ("inclusion", "Histologically confirmed advanced solid tumour with no standard treatment option"),
        ("inclusion", "ECOG performance status 0 or 1"),
        ("exclusion", "Brain metastases that are untreated or symptomatic"),
    ]


def test_why_stop_is_never_read(tmp_path):
    [trial] = read_top_csv(write_rows(tmp_path, [ROW]))
    assert "futility" not in repr(trial.to_dict())
    assert trial.status == "Terminated"  # display only


def test_tsv_and_dates_from_the_table_beside_the_file(tmp_path):
    path = write_rows(tmp_path, [ROW], "rows.tsv", delimiter="\t")
    (tmp_path / "nctid_date.tsv").write_text("nctid\tstart_date\tcompletion_date\nNCT09990010\tMay 2004\tJune 2006\n")
    [trial] = read_record(path)
    assert (trial.start_date, trial.completion_date) == ("May 2004", "June 2006")
    assert trial.phases == ("I", "II") and [d.name for d in trial.drugs] == ["budesonide", "placebo"]


def test_list_columns_are_literals_never_code(tmp_path):
    marker = tmp_path / "pwned"
    hostile = dict(ROW, drugs=f"__import__('pathlib').Path({str(marker)!r}).touch()")
    errors: list[RecordError] = []
    trials = read_top_csv(write_rows(tmp_path, [hostile, ROW]), errors=errors)
    assert not marker.exists()
    assert [t.nct_id for t in trials] == ["NCT09990010"]
    assert "row 1 (NCT09990010): column 'drugs' is not a Python list literal" in str(errors[0])


@pytest.mark.parametrize("change,message", [
    ({"label": "yes"}, "label 'yes' should be 0, 1 or empty"),
    ({"diseases": "[1, 2]"}, "column 'diseases' should be a list of strings"),
    ({"nctid": ""}, "empty 'nctid'"),
    ({"drugs": "['a'" + ", 'b'" * 100_000 + "]"}, "over 200000 characters"),
])
def test_bad_rows_name_row_and_column(tmp_path, change, message):
    with pytest.raises(RecordError, match=r"row 1 .*" + message.replace("(", r"\(").replace(")", r"\)")):
        read_top_csv(write_rows(tmp_path, [dict(ROW, **change)]))


def test_empty_label_means_unlabelled(tmp_path):
    [trial] = read_top_csv(write_rows(tmp_path, [dict(ROW, label="")]))
    assert trial.label is None


def test_a_csv_without_the_top_columns_is_refused(tmp_path):
    path = tmp_path / "index.csv"
    path.write_text("nctid,file,phase\nNCT1,a.xml,Phase 2\n")
    with pytest.raises(RecordError, match="not a TOP-format CSV: the header lacks diseases, drugs, criteria"):
        read_record(path)


def test_our_top_split_takes_its_dates_from_the_table_beside_it(tmp_path):
    from tests.data_sources import OWN_DATA

    source = OWN_DATA / "top" / "phase_I_valid.csv"  # tests/data/make_data.py: 30 + 30 rows
    shutil.copy(source, tmp_path / "split.csv")  # no nctid_date.tsv beside the copy
    trials, top = read_top_csv(tmp_path / "split.csv", keep_top_columns=True)
    assert len(trials) == len(top) == 60 and sum(t.label for t in trials) == 30
    assert all(t.criteria and t.drugs and t.conditions and t.start_date == "" for t in trials)
    assert [len(row["smiless"]) for row in top] == [len(t.drugs) for t in trials]
    assert all(t.start_date and t.completion_date for t in read_top_csv(source))


@pytest.mark.real_data
def test_real_top_split_when_available(tmp_path):
    from engine.paths import shared_data_dir

    source = shared_data_dir() / "top" / "phase_I_valid.csv"
    shutil.copy(source, tmp_path / "split.csv")  # no nctid_date.tsv beside the copy
    trials, top = read_top_csv(tmp_path / "split.csv", keep_top_columns=True)
    assert len(trials) == len(top) == 117
    assert sum(t.label for t in trials) == 67
    assert all(t.criteria and t.drugs and t.conditions for t in trials)
    assert all(t.start_date == "" for t in trials)
    assert all(t.start_date for t in read_top_csv(source)[:20])  # dates from the table beside it
