"""Loader: format sniffing, folders and globs, errors collected, progress and cancellation."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.errors import Cancelled
from engine.paths import resources_dir
from engine.records import LoadResult, RecordError, load_records, normalise_phases, read_record, sniff_format
from engine.tasks import TaskState

EXAMPLES = resources_dir() / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The examples, a nested copy, a broken record, a non-TOP CSV and a note."""
    root = tmp_path / "records"
    (root / "nested" / ".hidden").mkdir(parents=True)
    for name in ("NCT09990001.xml", "NCT09990002.json", "top_format_example.csv"):
        shutil.copy(EXAMPLES / name, root / name)
    shutil.copy(EXAMPLES / "NCT09990001.xml", root / "nested" / "copy_as.json")  # wrong suffix
    shutil.copy(EXAMPLES / "NCT09990001.xml", root / "nested" / ".hidden" / "skipped.xml")
    (root / "nested" / "broken.xml").write_text("<clinical_study><id_info>")
    (root / "index.csv").write_text("nctid,file\nNCT1,a.xml\n")
    (root / "notes.txt").write_text("not a record")
    return root


def test_sniffing_by_content_then_suffix(folder):
    assert sniff_format(folder / "NCT09990001.xml") == "ctgov-xml"
    assert sniff_format(folder / "nested" / "copy_as.json") == "ctgov-xml"  # content wins
    assert sniff_format(folder / "NCT09990002.json") == "ctgov-json"
    assert sniff_format(folder / "top_format_example.csv") == "top-csv"
    assert sniff_format(folder / "notes.txt") is None
    assert sniff_format("x.xml", b"\x00\x01\x02\x03binary\x00\x00") is None
    assert sniff_format("x.dat", '<?xml version="1.0"?><a/>'.encode("utf-16")) == "ctgov-xml"
    assert sniff_format("x.dat", '<?xml version="1.0"?><a/>'.encode("utf-16-le")) == "ctgov-xml"


def test_folder_walk_reads_every_record_and_collects_errors(folder):
    seen: list[RecordError] = []
    result = load_records(folder, on_error=seen.append)
    assert isinstance(result, LoadResult)
    assert sorted(t.nct_id for t in result.trials) == sorted(
        ["NCT09990001", "NCT09990001", "NCT09990002", "NCT09990003", "NCT09990004", "NCT09990005"])
    assert len(result.errors) == 1 and result.errors == seen
    assert "broken.xml" in str(result.errors[0]) and "truncated" in str(result.errors[0])
    assert result.skipped == [f"{folder / 'index.csv'}: a CSV/TSV without the TOP columns "
                              "(nctid, phase, diseases, drugs, criteria)"]
    assert result.files == 5  # notes.txt and the hidden folder are not record files


def test_mixed_sources_globs_missing_paths_and_duplicates(folder):
    result = load_records([folder / "NCT09990002.json", str(folder / "**" / "*.xml"),
                           folder / "NCT09990002.json", folder / "missing.xml", str(folder / "*.none")])
    assert sorted(t.nct_id for t in result.trials) == ["NCT09990001", "NCT09990002"]
    problems = sorted(e.problem for e in result.errors)
    assert problems == sorted(["no file matches this pattern", "no such file or folder",
                               "malformed XML, truncated at line 1: Premature end of data in tag id_info line 1"])


def test_an_explicit_non_record_file_is_an_error_not_skipped(folder):
    result = load_records([folder / "index.csv", folder / "notes.txt"])
    assert result.trials == [] and len(result.errors) == 2
    assert "not a TOP-format CSV" in str(result.errors[0])
    assert "not a ClinicalTrials.gov XML/JSON record" in str(result.errors[1])
    with pytest.raises(RecordError, match="is a folder"):
        read_record(folder)


def test_progress_is_reported_per_file(folder):
    calls: list[tuple[int, int, str]] = []
    load_records(folder, state=TaskState(lambda done, total, text: calls.append((done, total, text))))
    assert calls[0] == (0, 6, "") and calls[-1][:2] == (6, 6)
    assert [c[0] for c in calls] == list(range(7))


def test_cancellation_stops_between_files(folder):
    state = TaskState()
    calls: list[int] = []

    def on_progress(done, total, text):
        calls.append(done)
        if done == 2:
            state.cancel()

    state._on_progress = on_progress
    with pytest.raises(Cancelled):
        load_records(folder, state=state)
    assert calls == [0, 1, 2]


@pytest.mark.parametrize("raw,phases,warned", [
    ("Phase 1/Phase 2", ("I", "II"), False),
    (["PHASE2", "PHASE3"], ("II", "III"), False),
    ("phase 1/phase 2", ("I", "II"), False),
    ("Phase 4", ("IV",), False),
    ("Phase I/II", ("I", "II"), False),
    ("Phase 2/3", ("II", "III"), False),
    ("Early Phase 1", ("I",), True),
    ("EARLY_PHASE1", ("I",), True),
    ("N/A", (), False),
    (["NA"], (), False),
    (None, (), False),
    ("", (), False),
    ("pilot", (), True),
])
def test_phase_normalisation(raw, phases, warned):
    got, warnings = normalise_phases(raw)
    assert got == phases and bool(warnings) == warned
