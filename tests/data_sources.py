"""Where a test's records come from: the development data beside the clone (`../shared/data`, or
`$CLADMOP_SHARED_DATA`) when it is there, else the suite's own fictional records in `tests/data/`
(written by tests/data/make_data.py, laid out like the development data: top/, ctgov_xml/,
ctgov_json/, lookups/).

Tests of mechanics (reading, featurizing, training, the window) take `data_dir()` and run everywhere.
Tests whose claim is about the real data (every corpus file reads, agreement with TOP, temporal
figures) are marked `@pytest.mark.real_data` and read `shared_data_dir()`; conftest.py skips them
when it is absent.
"""
from __future__ import annotations

import csv
from pathlib import Path

from engine.paths import shared_data_dir

OWN_DATA = Path(__file__).resolve().parent / "data"
REAL_DATA_REASON = "real-data test: needs ../shared/data (or $CLADMOP_SHARED_DATA)"


def data_dir() -> Path:
    """The development data when present, else tests/data (same layout, fewer and fictional records)."""
    return shared_data_dir() or OWN_DATA


def real_data_dir() -> Path | None:
    """The development data, or None: for `real_data` tests only."""
    return shared_data_dir()


def using_own_data() -> bool:
    return shared_data_dir() is None


def xml_records(count: int = 3) -> list[Path]:
    """Legacy ClinicalTrials.gov records of phased drug trials with criteria, from `data_dir()`."""
    folder = data_dir() / "ctgov_xml"
    with open(folder / "index.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["interventional_drug_with_criteria"] == "1" and r["phase"].startswith("Phase")
                and r["xsd_valid_2020_05_08"] == "1"]
    return [folder / r["file"] for r in rows[:count]]


def record_names(real: list[str], count: int | None = None) -> list[str]:
    """`real` (file names in the development data's ctgov_xml/) when it is here, else as many of ours."""
    if not using_own_data():
        return list(real)
    return [p.name for p in xml_records(count or len(real))]


def top_csv(split: str = "phase_I_train.csv") -> Path:
    """A TOP-format split (phase_I_train/valid, phase_II_valid, phase_III_valid) from `data_dir()`."""
    return data_dir() / "top" / split


def lookup_folder() -> Path:
    """Drug reference tables: the development data's lookups/, else our small name -> SMILES table."""
    return data_dir() / "lookups"
