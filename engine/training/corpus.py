"""The pre-training corpus of public records of marketed drugs ("SCT", docs/model.md, "Pre-training").

A record qualifies when it is an interventional drug trial with eligibility criteria, started before
2014 (the TOP benchmark's test period begins then), and at least one of its drugs has a WHO ATC code
(i.e. is marketed). Trials in `exclude` (the TOP learning rows) are left out: pre-training only on
label-1 rows would tell the DM branch which held-out trials succeeded, and cross-validation could no
longer be trusted.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from engine.records.trial import Trial

BEFORE_YEAR = 2014


@dataclass
class CorpusReport:
    read: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def __str__(self) -> str:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items(), key=lambda x: -x[1]))
        return f"{self.kept} of {self.read} records kept ({why})"


def drug_key(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def read_atc_names(path: Path) -> set[str]:
    """Drug names with an ATC code (lookups/pytrial_atc_drug.csv: columns DRUG, atc4)."""
    with open(path, newline="", encoding="utf-8") as f:
        return {drug_key(row["DRUG"]) for row in csv.DictReader(f) if row.get("DRUG") and row.get("atc4")}


def marketed_drug_trials(trials: Iterable[Trial], atc_names: set[str], exclude: set[str] = frozenset(),
                         before_year: int = BEFORE_YEAR) -> tuple[list[Trial], CorpusReport]:
    report, kept, seen = CorpusReport(), [], set()
    for t in trials:
        report.read += 1
        year = t.start_year
        if t.nct_id in exclude:
            report.skip("in the TOP learning rows")
        elif t.nct_id in seen:
            report.skip("duplicate")
        elif year is None or year >= before_year:
            report.skip(f"started {before_year} or later (or no start date)")
        elif not t.active_criteria:
            report.skip("no criteria")
        elif not any(drug_key(d.name) in atc_names for d in t.drugs):
            report.skip("no drug with an ATC code")
        else:
            seen.add(t.nct_id)
            kept.append(t)
    report.kept = len(kept)
    return kept, report
