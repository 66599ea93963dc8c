"""How our readers' trials agree with the TOP benchmark's rows for the same NCT ids.

TOP (HINT's trial-outcome benchmark) was built from ClinicalTrials.gov records around 2021; the
record copies we read are from 2023 (legacy XML) and 2024 (API v2 JSON). Agreement on criteria,
drugs and conditions checks the readers; each disagreement gets a category that explains it:

- criteria: the whitespace-normalised text, and the split items (kind, text). "record text changed"
  when the record was edited after TOP's copy.
- drugs (compared case-insensitively, as a multiset: TOP lowercases names): "TOP keeps only
  Drug-type interventions" when the difference is exactly our Biological / Combination-product
  names; else "record changed since TOP's copy".
- conditions (case-insensitive, in order): "record changed since TOP's copy".

    python -m engine.records.top_agreement [shared data folder]

prints the counts and every disagreement.
"""
from __future__ import annotations

import difflib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from engine.records.trial import Trial

FIELDS = ("criteria_text", "criteria_items", "drugs", "conditions")
ONLY_DRUG_TYPE = "TOP keeps only Drug-type interventions"
RECORD_CHANGED = "record changed since TOP's copy"
RECORD_TEXT_CHANGED = "record text changed since TOP's copy"
MARKDOWN_LAYOUT = "API v2 Markdown layout (items agree)"


@dataclass
class Disagreement:
    nct_id: str
    field: str
    category: str
    ours: str
    top: str

    def __str__(self) -> str:
        return f"{self.nct_id} {self.field}: {self.category}\n    ours: {self.ours}\n    TOP:  {self.top}"


@dataclass
class AgreementReport:
    compared: list[str] = field(default_factory=list)
    agree: Counter = field(default_factory=Counter)
    disagreements: list[Disagreement] = field(default_factory=list)

    def categories(self, field_name: str) -> Counter:
        return Counter(d.category for d in self.disagreements if d.field == field_name)

    def summary(self) -> str:
        lines = [f"{len(self.compared)} trials in both the records and TOP"]
        for name in FIELDS:
            lines.append(f"  {name}: {self.agree[name]} agree")
            for category, count in self.categories(name).most_common():
                lines.append(f"    {count} {category}")
        return "\n".join(lines)


def compare_with_top(records: Iterable[Trial], top_trials: Iterable[Trial]) -> AgreementReport:
    """Compare each record with the TOP row of the same NCT id (first row wins: mixed-phase trials
    appear in two TOP files with identical rows)."""
    top_by_id: dict[str, Trial] = {}
    for trial in top_trials:
        top_by_id.setdefault(trial.nct_id, trial)
    report = AgreementReport()
    for ours in records:
        top = top_by_id.get(ours.nct_id)
        if top is None or ours.nct_id in report.compared:
            continue
        report.compared.append(ours.nct_id)
        for name, result in (
            ("criteria_text", _criteria_text(ours, top)),
            ("criteria_items", _criteria_items(ours, top)),
            ("drugs", _drugs(ours, top)),
            ("conditions", _conditions(ours, top)),
        ):
            if result is None:
                report.agree[name] += 1
            else:
                report.disagreements.append(Disagreement(ours.nct_id, name, *result))
    return report


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _criteria_text(ours: Trial, top: Trial):
    a, b = _normalise(ours.criteria_text), _normalise(top.criteria_text)
    if a == b:
        return None
    same_items = [(c.kind, c.text) for c in ours.criteria] == [(c.kind, c.text) for c in top.criteria]
    if ours.source_format == "ctgov-json" and same_items:
        return MARKDOWN_LAYOUT, a[:160], b[:160]
    ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    return f"{RECORD_TEXT_CHANGED} (similarity {ratio:.2f})", a[:160], b[:160]


def _criteria_items(ours: Trial, top: Trial):
    a = [(c.kind, c.text) for c in ours.criteria]
    b = [(c.kind, c.text) for c in top.criteria]
    if a == b:
        return None
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    show = lambda items: f"{len(items)} items; #{first + 1}: {items[first] if first < len(items) else '-'}"
    return RECORD_TEXT_CHANGED, show(a), show(b)


def _drugs(ours: Trial, top: Trial):
    a = Counter(d.name.casefold() for d in ours.drugs)
    b = Counter(d.name.casefold() for d in top.drugs)
    if a == b:
        return None
    shown = (", ".join(d.name for d in ours.drugs), ", ".join(d.name for d in top.drugs))
    types = intervention_types(ours)
    drug_type_only = Counter(n.casefold() for n, kind in types if kind.casefold() == "drug")
    if types and drug_type_only == b:
        return ONLY_DRUG_TYPE, *shown
    return RECORD_CHANGED, *shown


def _conditions(ours: Trial, top: Trial):
    a = [c.name.casefold() for c in ours.conditions]
    b = [c.name.casefold() for c in top.conditions]
    if a == b:
        return None
    return RECORD_CHANGED, ", ".join(c.name for c in ours.conditions), ", ".join(c.name for c in top.conditions)


def intervention_types(trial: Trial) -> list[tuple[str, str]]:
    """(name, type) of every drug-like intervention in the trial's source record, from the file."""
    from engine.records.fields import distinct, is_drug_intervention

    path = Path(trial.source_path)
    pairs: list[tuple[str, str]] = []
    if trial.source_format == "ctgov-xml":
        from engine.records.files import read_bytes
        from engine.records.xml_reader import MAX_XML_BYTES, parse_xml_bytes

        root, _ = parse_xml_bytes(read_bytes(path, MAX_XML_BYTES, "XML"), path)
        pairs = [(n.findtext("intervention_name") or "", n.findtext("intervention_type") or "")
                 for n in root.findall("intervention")]
    elif trial.source_format == "ctgov-json":
        import json

        study = json.loads(path.read_text(encoding="utf-8-sig"))
        nodes = study.get("protocolSection", {}).get("armsInterventionsModule", {}).get("interventions", [])
        pairs = [(n.get("name") or "", (n.get("type") or "").replace("_", " ")) for n in nodes]
    pairs = [(" ".join(n.split()), t) for n, t in pairs if is_drug_intervention(t)]
    keep = {name.casefold() for name in distinct(n for n, _ in pairs)}
    out, seen = [], set()
    for name, kind in pairs:
        if name.casefold() in keep and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append((name, kind))
    return out


def compare_shared_corpora(shared: Path) -> AgreementReport:
    """Records of `ctgov_xml` and `ctgov_json` marked `in_top_universe`, against `top/*.csv`."""
    import csv

    from engine.records.loader import read_record

    records: list[Trial] = []
    for corpus in ("ctgov_xml", "ctgov_json"):
        index = shared / corpus / "index.csv"
        with index.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("in_top_universe") == "1":
                    records += read_record(shared / corpus / row["file"])
    top: list[Trial] = []
    for path in sorted((shared / "top").glob("*.csv")):
        top += read_record(path)
    return compare_with_top(records, top)


def main(argv: list[str] | None = None) -> int:
    from engine.paths import shared_data_dir

    argv = sys.argv[1:] if argv is None else argv
    shared = Path(argv[0]) if argv else shared_data_dir()
    if shared is None or not (shared / "top").is_dir():
        print("no shared data folder (give its path, or set CLADMOP_SHARED_DATA)", file=sys.stderr)
        return 2
    report = compare_shared_corpora(shared)
    print(report.summary())
    for disagreement in report.disagreements:
        print(disagreement)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
