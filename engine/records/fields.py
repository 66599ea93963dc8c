"""Field normalisation shared by the readers: phases, statuses, intervention types, names.

Every reader maps its own vocabulary (legacy XML "Phase 1/Phase 2", API v2 "PHASE1", TOP
"phase 1/phase 2") onto the one the rest of the engine uses, and says so in `Trial.warnings` when
it had to guess.
"""
from __future__ import annotations

import re
from typing import Iterable

from engine.records.criteria import split_criteria, tidy_criteria_text
from engine.records.errors import RecordError
from engine.records.limits import (KEPT_CONDITIONS, KEPT_DRUGS, MAX_CONDITIONS, MAX_CRITERIA_CHARS,
                                   MAX_CRITERIA_ITEMS, MAX_DRUGS, MAX_LINE_CHARS, MAX_NAME_CHARS)
from engine.records.trial import PHASES, Condition, Drug, Trial

#: intervention types the model sees as drugs. Dietary supplements and "Genetic" (mostly lab
#: assays such as "gene expression analysis") are left out, as in the corpora's index files and in
#: TOP (which keeps only "Drug").
DRUG_INTERVENTION_TYPES = frozenset({"drug", "biological", "combination product"})

_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "i": "I", "ii": "II", "iii": "III", "iv": "IV"}
_PHASE_TOKEN = re.compile(r"(early[\s_]*)?phase[\s_]*(iv|iii|ii|i|[1-4])\b((?:\s*[/&,-]\s*(?:iv|iii|ii|i|[1-4])\b)*)")
_NO_PHASE = {"", "n/a", "na", "not applicable", "none", "not specified"}

#: API v2 enumerations → the legacy display strings (which the TOP files and users know)
_STATUS_DISPLAY = {
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "UNKNOWN": "Unknown status",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
}


def normalise_phases(raw: str | Iterable[str] | None) -> tuple[tuple[str, ...], list[str]]:
    """("I", "II") for "Phase 1/Phase 2", ["PHASE1", "PHASE2"] or "phase 1/phase 2"; plus warnings.

    "Early Phase 1" reads as ("I",) with a warning; "N/A" or nothing reads as ().
    """
    values = [raw] if isinstance(raw, str) or raw is None else list(raw)
    found: list[str] = []
    warnings: list[str] = []
    for value in values:
        text = (value or "").strip().lower()
        if text in _NO_PHASE:
            continue
        matches = list(_PHASE_TOKEN.finditer(text))
        if not matches:
            warnings.append(f"phase {shown(value)} not recognised: read as no phase")
            continue
        for m in matches:
            if m.group(1):
                warnings.append(f"phase {shown(value)} read as phase I")
            numbers = [m.group(2)] + re.findall(r"iv|iii|ii|i|[1-4]", m.group(3) or "")
            found += [_ROMAN[n] for n in numbers]
    phases = tuple(p for p in PHASES if p in found)
    return phases, warnings


def display_status(raw: str | None) -> str:
    """"Completed" for "COMPLETED" (API v2) or "completed" (TOP); legacy strings stay as they are."""
    text = (raw or "").strip()
    if not text:
        return ""
    if text in _STATUS_DISPLAY:
        return _STATUS_DISPLAY[text]
    if re.fullmatch(r"[A-Z_]+", text) or text.islower():
        text = text.replace("_", " ").lower()
        return text[0].upper() + text[1:]
    return text


def display_study_type(raw: str | None) -> str:
    """"Interventional" for "INTERVENTIONAL"; "Expanded Access" for "EXPANDED_ACCESS"."""
    text = (raw or "").strip()
    if text.lower() in _NO_PHASE:  # "N/A" (withheld records): unknown
        return ""
    if re.fullmatch(r"[A-Z_]+", text):
        return " ".join(word.capitalize() for word in text.replace("_", " ").split())
    return text


def is_drug_intervention(kind: str | None) -> bool:
    return (kind or "").strip().lower().replace("_", " ") in DRUG_INTERVENTION_TYPES


def distinct(names: Iterable[str | None]) -> list[str]:
    """Names in record order, whitespace-trimmed, without empty ones or case-insensitive repeats.

    Records list one drug per arm or dose ("suramin", "suramin", "Suramin"): the model sees a drug
    once.
    """
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        name = " ".join((name or "").split())
        key = name.casefold()
        if name and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def parse_enrollment(raw, warnings: list[str]) -> int | None:
    """A head count; None with a warning for text, NaN and infinity ("inf", 1e400 read as a float)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = int(float(str(raw).strip()))
    except (ValueError, OverflowError):
        warnings.append(f"enrollment {shown(raw)} is not a finite number: ignored")
        return None
    return value if value >= 0 else None


def shown(value, width: int = 60) -> str:
    """`value` quoted for a warning, cut to `width` characters: a field may hold megabytes."""
    text = repr(value)
    return text if len(text) <= width else f"{text[:width]}... ({len(text):,} characters)"


def cut_line(text: str | None, what: str, notes: list[str], limit: int = MAX_LINE_CHARS) -> str:
    """One line of text: cut to `limit` characters (limits.py) with a note, then single-spaced.
    Cut first: splitting a 180 MB title into words took gigabytes."""
    text = text or ""
    if len(text) > limit:
        notes.append(f"{what} cut to its first {limit:,} of {len(text):,} characters")
        text = text[:limit]
    return " ".join(text.split())


def cut_names(names: Iterable[str | None], what: str, notes: list[str]) -> list[str]:
    """Names cut to `MAX_NAME_CHARS` each, with one note for all that were cut."""
    names = [name or "" for name in names]
    long = [len(name) for name in names if len(name) > MAX_NAME_CHARS]
    if long:
        notes.append(f"{len(long):,} {what} name(s) cut to their first {MAX_NAME_CHARS:,} characters "
                     f"(longest: {max(long):,})")
    return [name[:MAX_NAME_CHARS] for name in names]


def keep_first(items: list, limit: int, what: str, notes: list[str]) -> list:
    """The first `limit` items (limits.py KEPT_*), with a note naming what was left out."""
    if len(items) > limit:
        notes.append(f"the record lists {len(items):,} {what}: the first {limit:,} are read, "
                     f"the rest left out ({', '.join(shown(i, 40) for i in items[limit:limit + 3])}, ...)")
    return items[:limit]


def _within(path: str, what: str, count: int, limit: int) -> None:
    """RecordError when a record holds more of something than any real record could (limits.py)."""
    if count > limit:
        raise RecordError(path or "record", f"holds {count:,} {what}; the limit is {limit:,} "
                                            f"(real records hold far fewer: the file looks damaged)")


def build_trial(
    *,
    nct_id: str,
    title: str,
    raw_phase,
    status: str,
    sponsor: str,
    start_date: str,
    completion_date: str,
    enrollment: int | None,
    study_type: str,
    conditions: Iterable[str],
    drugs: Iterable[str],
    criteria_text: str,
    source_path: str,
    source_format: str,
    warnings: list[str],
    label: int | None = None,
    any_intervention: bool = True,
) -> Trial:
    """The one place every reader's fields become a `Trial`, with the same warnings and limits for all."""
    phases, phase_warnings = normalise_phases(raw_phase)
    notes = list(warnings) + phase_warnings
    _within(source_path, "characters of eligibility criteria", len(criteria_text or ""), MAX_CRITERIA_CHARS)
    criteria_text = tidy_criteria_text(criteria_text)
    criteria = split_criteria(criteria_text)
    _within(source_path, "eligibility criteria items", len(criteria), MAX_CRITERIA_ITEMS)
    drug_names = distinct(cut_names(drugs, "drug", notes))
    _within(source_path, "distinct drug interventions", len(drug_names), MAX_DRUGS)
    condition_names = distinct(cut_names(conditions, "condition", notes))
    _within(source_path, "distinct conditions", len(condition_names), MAX_CONDITIONS)
    drug_names = keep_first(drug_names, KEPT_DRUGS, "drug interventions", notes)
    condition_names = keep_first(condition_names, KEPT_CONDITIONS, "conditions", notes)
    if not criteria:
        notes.append("no eligibility criteria in the record")
    study_type = display_study_type(cut_line(study_type, "study type", notes))
    _note_unscorable(study_type, drug_names, any_intervention, notes)
    return Trial(
        nct_id=cut_line(nct_id, "NCT id", notes),
        title=cut_line(title, "title", notes),
        phases=phases,
        status=display_status(cut_line(status, "status", notes)),
        sponsor=cut_line(sponsor, "sponsor", notes),
        start_date=cut_line(start_date, "start date", notes),
        completion_date=cut_line(completion_date, "completion date", notes),
        enrollment=enrollment,
        study_type=study_type,
        conditions=[Condition(name=name) for name in condition_names],
        drugs=[Drug(name=name) for name in drug_names],
        criteria=criteria,
        criteria_text=criteria_text,
        label=label,
        source_path=source_path,
        source_format=source_format,
        warnings=notes,
    )


def _note_unscorable(study_type: str, drug_names: list[str], any_intervention: bool, notes: list[str]) -> None:
    """Why a readable record is shown for reference only (not interventional, or no drug)."""
    if study_type and study_type.lower() != "interventional":
        notes.append(f"{study_type} study: shown for reference; the model scores interventional drug trials")
    elif not drug_names:
        why = "no drug or biological intervention" if any_intervention else "no intervention listed"
        notes.append(f"{why}: shown for reference; the model scores drug trials")
