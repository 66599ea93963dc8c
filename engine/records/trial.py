"""The one record type that flows from readers through features, model, training, CLI and GUI.

A `Trial` is a plain value: edits (what-if scenarios, resolved lookups) make a new Trial with
`dataclasses.replace`, so the original record stays available for diffs and undo.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

CriterionKind = Literal["inclusion", "exclusion"]
DrugKind = Literal["small_molecule", "biologic", "placebo", "unresolved", "unknown"]
#: Phases as the model knows them; a record of mixed phases ("Phase 1/Phase 2") lists two.
PHASES = ("I", "II", "III", "IV")
_YEAR = re.compile(r"\b(19|20)\d\d\b")


def year_of(date_text: str) -> int | None:
    """The year of a ClinicalTrials.gov date such as "March 1999" or "2004-01"; None when it has none."""
    match = _YEAR.search(date_text or "")
    return int(match.group(0)) if match else None


@dataclass
class Criterion:
    """One eligibility item. `enabled=False` keeps a what-if removal visible and reversible."""

    text: str
    kind: CriterionKind = "inclusion"
    enabled: bool = True


@dataclass
class Drug:
    """An intervention the model sees as a molecule (or as a learned token when it has none)."""

    name: str
    smiles: str | None = None
    kind: DrugKind = "unknown"
    #: where the structure came from ("user library", "drugbank_name_to_smiles_lifted.csv", ...)
    source: str | None = None
    #: the named regimen this drug was expanded from ("FOLFOX"), None when the record named the drug
    regimen: str | None = None


@dataclass
class IcdCandidate:
    code: str
    description: str
    score: float


@dataclass
class Condition:
    """A target disease with its ICD-10 codes and how they were found."""

    name: str
    icd10: list[str] = field(default_factory=list)
    #: "exact" | "synonym" | "fuzzy" | "user" | "record" | "unresolved" | "" (not looked up yet)
    match: str = ""
    candidates: list[IcdCandidate] = field(default_factory=list)


@dataclass
class Trial:
    nct_id: str
    title: str = ""
    phases: tuple[str, ...] = ()
    status: str = ""
    sponsor: str = ""
    start_date: str = ""
    completion_date: str = ""
    enrollment: int | None = None
    study_type: str = ""
    conditions: list[Condition] = field(default_factory=list)
    drugs: list[Drug] = field(default_factory=list)
    criteria: list[Criterion] = field(default_factory=list)
    #: the eligibility text exactly as the record gave it (the criteria list is parsed from it)
    criteria_text: str = ""
    #: outcome label when the source has one (TOP CSV, user label files): 1 success, 0 failure
    label: int | None = None
    source_path: str = ""
    source_format: str = ""  # "ctgov-xml" | "ctgov-json" | "top-csv" | "workspace" | ...
    #: human-readable items the lookups could not resolve ("drug 'XYZ-123': no structure found")
    unresolved: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # -- derived views -------------------------------------------------------------------------
    @property
    def phase_label(self) -> str:
        return "/".join(self.phases) if self.phases else "?"

    @property
    def start_year(self) -> int | None:
        return year_of(self.start_date)

    @property
    def completion_year(self) -> int | None:
        return year_of(self.completion_date)

    @property
    def active_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if c.enabled and c.text.strip()]

    def replace(self, **changes) -> "Trial":
        """A copy with `changes`; lists are copied so the original never changes under an edit."""
        copy = dataclasses.replace(self, **changes)
        for name in ("conditions", "drugs", "criteria", "unresolved", "warnings"):
            if name not in changes:
                setattr(copy, name, [dataclasses.replace(x) if dataclasses.is_dataclass(x) else x
                                     for x in getattr(self, name)])
        return copy

    def content_hash(self) -> str:
        """Hash of everything the model reads: equal hashes mean equal predictions."""
        h = hashlib.sha256()
        h.update("|".join(self.phases).encode())
        for c in self.active_criteria:
            h.update(f"\x00{c.kind}\x01{c.text}".encode())
        for d in self.drugs:
            h.update(f"\x02{d.name}\x01{d.smiles}\x01{d.kind}".encode())
        for c in self.conditions:
            h.update(f"\x03{c.name}\x01{','.join(c.icd10)}".encode())
        return h.hexdigest()[:16]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Trial":
        data = dict(data)
        data["phases"] = tuple(data.get("phases", ()))
        data["criteria"] = [Criterion(**c) for c in data.get("criteria", [])]
        data["drugs"] = [Drug(**d) for d in data.get("drugs", [])]
        conds = []
        for c in data.get("conditions", []):
            c = dict(c)
            c["candidates"] = [IcdCandidate(**k) for k in c.get("candidates", [])]
            conds.append(Condition(**c))
        data["conditions"] = conds
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
