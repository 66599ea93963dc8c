"""TOP benchmark CSV rows (HINT's trial-outcome-prediction format) → `Trial`s with labels.

Header: `nctid,status,why_stop,label,phase,diseases,icdcodes,drugs,smiless,criteria`. List columns
are Python literals (`"['aspirin', 'placebo']"`), parsed with `ast.literal_eval`, never `eval`.

- TOP's `icdcodes` and `smiless` are noisy (fuzzy ICD search; SMILES often of the wrong molecule),
  so they never become the Trial's resolved codes or structures: the lookups resolve the names as
  for any new record. `read_top_csv(..., keep_top_columns=True)` hands them back beside the trials
  for comparison.
- `why_stop` leaks the label and is never read; `status` leaks it too and is kept for display only.
- When `nctid_date.tsv` (TOP's `nctid, start_date, completion_date` table) sits beside the CSV,
  the trials get their dates from it (the benchmark's temporal split needs them).
"""
from __future__ import annotations

import ast
import csv
import io
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, overload

from engine.records.errors import RecordError
from engine.records.fields import build_trial
from engine.records.limits import MAX_CSV_BYTES
from engine.records.files import MB, looks_binary, read_bytes
from engine.records.trial import Trial

TOP_COLUMNS = ("nctid", "status", "why_stop", "label", "phase", "diseases", "icdcodes", "drugs", "smiless", "criteria")
REQUIRED_COLUMNS = ("nctid", "phase", "diseases", "drugs", "criteria")
#: a list literal longer than this is refused rather than parsed (no real cell comes close)
MAX_LITERAL_CHARS = 200_000
DATES_FILE = "nctid_date.tsv"


class _RowProblem(ValueError):
    pass


def is_top_header(first_line: str) -> bool:
    """True when a CSV/TSV header line carries the TOP columns the reader needs."""
    names = {c.strip().strip('"').lower() for c in first_line.replace("\t", ",").split(",")}
    return set(REQUIRED_COLUMNS) <= names


@overload
def read_top_csv(path: str | os.PathLike, keep_top_columns: Literal[False] = False,
                 errors: list[RecordError] | None = None) -> list[Trial]: ...
@overload
def read_top_csv(path: str | os.PathLike, keep_top_columns: Literal[True],
                 errors: list[RecordError] | None = None) -> tuple[list[Trial], list[dict]]: ...


def read_top_csv(path, keep_top_columns=False, errors=None):
    """Trials of a TOP-format CSV (or TSV), `label` set, `source_format` "top-csv".

    With `keep_top_columns`, also a parallel list of dicts `{"nctid", "row", "icdcodes",
    "smiless"}` holding TOP's own (noisy) codes and SMILES. A bad row raises RecordError naming
    the row and column, or, when `errors` is a list, is appended there and skipped.
    """
    import pandas as pd

    data = read_bytes(path, MAX_CSV_BYTES, "TOP CSV")
    if looks_binary(data):
        raise RecordError(path, "is binary data, not a CSV file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordError(path, f"is not UTF-8 text (byte {exc.start})") from None
    first_line = text.split("\n", 1)[0]
    if not is_top_header(first_line):
        missing = [c for c in REQUIRED_COLUMNS if c not in first_line.lower()]
        raise RecordError(path, f"not a TOP-format CSV: the header lacks {', '.join(missing)}")
    sep = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_filter=False, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, ValueError) as exc:
        raise RecordError(path, f"malformed CSV: {str(exc).strip()}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    dates = _dates_beside(Path(path))
    trials: list[Trial] = []
    top_columns: list[dict] = []
    for row_number, row in enumerate(frame.to_dict("records"), start=1):
        nctid = (row.get("nctid") or "").strip()
        try:
            trial, extra = _row_to_trial(row, nctid, path, dates)
        except (_RowProblem, RecordError) as exc:
            problem = exc.problem if isinstance(exc, RecordError) else exc
            error = RecordError(path, f"row {row_number} ({nctid or 'no nctid'}): {problem}")
            if errors is None:
                raise error from None
            errors.append(error)
            continue
        trials.append(trial)
        top_columns.append({"nctid": nctid, "row": row_number, **extra})
    return (trials, top_columns) if keep_top_columns else trials


def _row_to_trial(row: dict, nctid: str, path, dates: dict) -> tuple[Trial, dict]:
    if not nctid:
        raise _RowProblem("empty 'nctid'")
    label_text = (row.get("label") or "").strip()
    if label_text in ("", "nan"):
        label = None
    elif label_text in ("0", "1", "0.0", "1.0"):
        label = int(float(label_text))
    else:
        raise _RowProblem(f"label {label_text!r} should be 0, 1 or empty")
    start, completion = dates.get(nctid, ("", ""))
    trial = build_trial(
        nct_id=nctid,
        title="",
        raw_phase=row.get("phase") or "",
        status=row.get("status") or "",
        sponsor="",
        start_date=start,
        completion_date=completion,
        enrollment=None,
        study_type="",
        conditions=_literal_list(row.get("diseases"), "diseases"),
        drugs=_literal_list(row.get("drugs"), "drugs"),
        criteria_text=row.get("criteria") or "",
        source_path=str(path),
        source_format="top-csv",
        warnings=[],
        label=label,
    )
    icdcodes = []
    for entry in _literal_list(row.get("icdcodes"), "icdcodes"):
        try:
            inner = ast.literal_eval(entry) if len(entry) <= MAX_LITERAL_CHARS else entry
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            inner = entry
        icdcodes.append([str(c) for c in inner] if isinstance(inner, (list, tuple)) else [str(inner)])
    extra = {"icdcodes": icdcodes, "smiless": _literal_list(row.get("smiless"), "smiless")}
    return trial, extra


def _literal_list(raw: str | None, column: str) -> list[str]:
    """`"['a', 'b']"` → ["a", "b"] through `ast.literal_eval` (never `eval`)."""
    raw = (raw or "").strip()
    if not raw:
        return []
    if len(raw) > MAX_LITERAL_CHARS:
        raise _RowProblem(f"column '{column}' is over {MAX_LITERAL_CHARS} characters")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise _RowProblem(f"column '{column}' is not a Python list literal: {raw[:60]!r}") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _RowProblem(f"column '{column}' should be a list of strings: {raw[:60]!r}")
    return list(value)


def _dates_beside(csv_path: Path) -> dict[str, tuple[str, str]]:
    table = csv_path.parent / DATES_FILE
    try:
        stat = table.stat()
    except OSError:
        return {}
    return _read_dates(str(table), stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _read_dates(path: str, _mtime_ns: int) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            sample = handle.readline()
            sep = "\t" if "\t" in sample else ","
            handle.seek(0)
            for row in csv.DictReader(handle, delimiter=sep):
                nctid = (row.get("nctid") or "").strip()
                if nctid:
                    out[nctid] = ((row.get("start_date") or "").strip(), (row.get("completion_date") or "").strip())
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return out
