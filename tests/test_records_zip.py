"""A ZIP of records (ClinicalTrials.gov's website download): every record inside is read by its own reader,
bad members are named and the others still read, and a member cannot unpack past its reader's limit."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from engine.records import load_records, read_record
from engine.records.errors import RecordError

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_every_record_in_the_archive_is_read_and_named_by_its_member(tmp_path):
    archive = make_zip(tmp_path / "search.zip", {
        "ctg-studies/NCT09990001.xml": (EXAMPLES / "NCT09990001.xml").read_bytes(),
        "ctg-studies/NCT09990002.json": (EXAMPLES / "NCT09990002.json").read_bytes(),
        "ctg-studies/broken.json": b"{not json",
        "README.txt": b"not a record",
        "../../escape.xml": (EXAMPLES / "NCT09990001.xml").read_bytes(),
    })
    errors: list[RecordError] = []
    trials = read_record(archive, errors)
    assert [t.nct_id for t in trials] == ["NCT09990001", "NCT09990002", "NCT09990001"]
    assert trials[0].source_path == f"{archive}!ctg-studies/NCT09990001.xml"
    assert [e.path for e in errors] == [f"{archive}!ctg-studies/broken.json"]
    assert not (tmp_path.parent / "escape.xml").exists() and not Path("escape.xml").exists()
    loaded = load_records([tmp_path])  # a folder walk reads archives too
    assert len(loaded.trials) == 3 and len(loaded.errors) == 1


def test_a_member_that_unpacks_past_its_reader_s_limit_is_refused(tmp_path, monkeypatch):
    import engine.records.zip_reader as zip_reader

    monkeypatch.setitem(zip_reader._MEMBER_LIMIT, ".xml", 10_000)
    archive = make_zip(tmp_path / "bomb.zip", {"big.xml": b"<a>" + b" " * 50_000 + b"</a>",
                                               "NCT09990002.json": (EXAMPLES / "NCT09990002.json").read_bytes()})
    errors: list[RecordError] = []
    assert [t.nct_id for t in read_record(archive, errors)] == ["NCT09990002"]
    assert "over the reader's limit of 10,000" in str(errors[0]) and errors[0].path.endswith("!big.xml")


def test_an_archive_without_records_or_not_an_archive_says_so(tmp_path):
    with pytest.raises(RecordError, match="holds no ClinicalTrials.gov"):
        read_record(make_zip(tmp_path / "empty.zip", {"notes.txt": b"x"}))
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(RecordError, match="not a readable ZIP archive"):
        read_record(bad)
