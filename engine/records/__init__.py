"""Trial records: the `Trial` type, readers for ClinicalTrials.gov XML/JSON and TOP CSV, folders.

    from engine.records import load_records
    result = load_records(["downloads/", "top/phase_I_valid.csv"])
    result.trials, result.errors

Readers and the criteria splitter load on first use (attribute access), so importing the record
types stays cheap and free of import cycles.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from engine.records.errors import NotADrugTrial, RecordError
from engine.records.trial import PHASES, Condition, Criterion, Drug, IcdCandidate, Trial

_LAZY = {
    "split_criteria": "engine.records.criteria",
    "join_criteria": "engine.records.criteria",
    "tidy_criteria_text": "engine.records.criteria",
    "read_record": "engine.records.loader",
    "load_records": "engine.records.loader",
    "iter_records": "engine.records.loader",
    "sniff_format": "engine.records.loader",
    "LoadResult": "engine.records.loader",
    "read_ctgov_xml": "engine.records.xml_reader",
    "read_ctgov_json": "engine.records.json_reader",
    "read_top_csv": "engine.records.top_csv",
    "normalise_phases": "engine.records.fields",
    "scorable_problem": "engine.records.scorable",
    "require_drug_trial": "engine.records.scorable",
}

__all__ = ["PHASES", "Condition", "Criterion", "Drug", "IcdCandidate", "Trial", "RecordError",
           "NotADrugTrial", *_LAZY]

if TYPE_CHECKING:
    from engine.records.criteria import join_criteria, split_criteria, tidy_criteria_text
    from engine.records.fields import normalise_phases
    from engine.records.json_reader import read_ctgov_json
    from engine.records.loader import LoadResult, iter_records, load_records, read_record, sniff_format
    from engine.records.scorable import require_drug_trial, scorable_problem
    from engine.records.top_csv import read_top_csv
    from engine.records.xml_reader import read_ctgov_xml


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.records' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
