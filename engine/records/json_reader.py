"""ClinicalTrials.gov API v2 studies (`{"protocolSection": ...}`) → `Trial`.

A file holds one study, a list of studies, or an API page (`{"studies": [...]}`). Fields of the
wrong type (conditions given as a string, a phase list holding numbers) are errors that name the
field: guessing would put a wrong value in front of the model.
"""
from __future__ import annotations

import json
import os
from typing import Any

from engine.records.errors import RecordError
from engine.records.fields import build_trial, is_drug_intervention, parse_enrollment
from engine.records.limits import MAX_JSON_BYTES
from engine.records.files import MB, looks_binary, looks_utf16, read_bytes
from engine.records.trial import Trial


_MISSING = object()


def read_ctgov_json(path: str | os.PathLike, errors: list[RecordError] | None = None) -> list[Trial]:
    """Every study in the file. A bad study raises RecordError, or, when `errors` is a list, is
    appended there while the other studies are still read."""
    data = read_bytes(path, MAX_JSON_BYTES, "ClinicalTrials.gov JSON")
    if looks_binary(data):
        raise RecordError(path, "is binary data, not a JSON record")
    try:
        document = json.loads(data.decode(_encoding(data)))
    except UnicodeDecodeError as exc:
        raise RecordError(path, f"is not {exc.encoding.upper().replace('-SIG', '')} text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RecordError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError:  # the one other ValueError: an integer over Python's 4,300-digit limit
        raise RecordError(path, "invalid JSON: a number of over 4,300 digits (no study field holds one)") from None
    except RecursionError:
        raise RecordError(path, "JSON nested too deeply (over ~1,000 levels; a study nests 6)") from None
    studies = _studies(document, path)
    trials: list[Trial] = []
    for index, study in enumerate(studies):
        try:
            trials.append(trial_from_study(study, path, index if len(studies) > 1 else None))
        except RecordError as exc:
            if errors is None:
                raise
            errors.append(exc)
    return trials


def _encoding(data: bytes) -> str:
    """UTF-16 with or without a byte-order mark (Windows tools write both), else UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if looks_utf16(data[:4096]):
        return "utf-16-be" if data[0] == 0 else "utf-16-le"
    return "utf-8-sig"


def _studies(document: Any, path) -> list:
    if isinstance(document, dict) and "studies" in document and "protocolSection" not in document:
        document = document["studies"]
        if not isinstance(document, list):
            raise RecordError(path, "'studies' should be a list of studies")
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise RecordError(path, f"not a ClinicalTrials.gov API v2 study (top level is {_kind(document)})")
    if not document:
        raise RecordError(path, "holds no studies")
    return document


def trial_from_study(study: Any, path: str | os.PathLike, index: int | None = None) -> Trial:
    where = f"study {index + 1}: " if index is not None else ""
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise RecordError(path, f"{where}not a ClinicalTrials.gov API v2 study (no 'protocolSection' object)")

    def get(field: str, kind: type, default: Any = _MISSING) -> Any:
        value: Any = study
        for key in field.split("."):
            if not isinstance(value, dict):
                raise RecordError(path, f"{where}field '{field}': '{key}' sits in {_kind(value)}, not an object")
            value = value.get(key, _MISSING)
            if value is _MISSING or value is None:
                return kind() if default is _MISSING else default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RecordError(path, f"{where}field '{field}' should be {_article(kind)}, not {_kind(value)}")
        return value

    def strings(field: str) -> list[str]:
        values = get(field, list)
        for value in values:
            if not isinstance(value, str):
                raise RecordError(path, f"{where}field '{field}' should be a list of strings, holds {_kind(value)}")
        return values

    p = "protocolSection."
    nct_id = get(p + "identificationModule.nctId", str).strip()
    warnings: list[str] = []
    if not nct_id:
        raise RecordError(path, f"{where}no 'protocolSection.identificationModule.nctId'")
    drugs: list[str] = []
    interventions = get(p + "armsInterventionsModule.interventions", list)
    for i, node in enumerate(interventions):
        if not isinstance(node, dict):
            raise RecordError(path, f"{where}field '{p}armsInterventionsModule.interventions[{i}]' should be an object")
        kind, name = node.get("type"), node.get("name")
        if not isinstance(kind, (str, type(None))) or not isinstance(name, (str, type(None))):
            raise RecordError(path, f"{where}intervention {i + 1}: 'type' and 'name' should be strings")
        if is_drug_intervention(kind) and name:
            drugs.append(name)
    enrollment_count = get(p + "designModule.enrollmentInfo.count", object, None)
    if isinstance(enrollment_count, (dict, list, bool)):
        raise RecordError(path, f"{where}field '{p}designModule.enrollmentInfo.count' should be a number")
    return build_trial(
        nct_id=nct_id,
        title=get(p + "identificationModule.briefTitle", str) or get(p + "identificationModule.officialTitle", str),
        raw_phase=strings(p + "designModule.phases"),
        status=get(p + "statusModule.overallStatus", str),
        sponsor=get(p + "sponsorCollaboratorsModule.leadSponsor.name", str),
        start_date=get(p + "statusModule.startDateStruct.date", str),
        completion_date=get(p + "statusModule.completionDateStruct.date", str)
        or get(p + "statusModule.primaryCompletionDateStruct.date", str),
        enrollment=parse_enrollment(enrollment_count, warnings),
        study_type=get(p + "designModule.studyType", str),
        conditions=strings(p + "conditionsModule.conditions"),
        drugs=drugs,
        criteria_text=get(p + "eligibilityModule.eligibilityCriteria", str),
        source_path=str(path),
        source_format="ctgov-json",
        warnings=warnings,
        any_intervention=bool(interventions),
    )


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _article(kind: type) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "a whole number"}.get(kind, kind.__name__)
