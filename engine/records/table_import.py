"""In-house trials from a plain CSV or Excel table: one trial a row, in columns the analyst names.

Nobody's sheet has TOP's columns, so the analyst says once which column holds what (a `ColumnMapping`;
`guess_mapping` proposes one from the header names) and the mapping is remembered for tables with the
same header (`remember_mapping`, a JSON file in the user's data folder). From then on the loader reads
such a table like any record file (`read_mapped_table`), so `cladmop predict`, `export`, `evaluate`,
`finetune` and File > Open all take it; readers never guess silently (docs/architecture.md §3), so a table
without a remembered mapping is refused with a message saying how to map it.

Each row becomes a `Trial` through engine/records/typed.py, exactly as File > New trial builds one. A row
that cannot be read is a `RowError` naming the file and the row as a spreadsheet numbers it (the header
is row 1); the other rows are still read. An optional label column (1/0, success/failure) gives the trials
their outcome, for fine-tuning and evaluation from the same file.
"""
from __future__ import annotations

import csv
import io
import json
import re
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable, Iterator

from engine.records.errors import RecordError
from engine.records.files import looks_binary, read_bytes
from engine.records.limits import MAX_CSV_BYTES, MAX_EXCEL_BYTES, MAX_EXCEL_UNPACKED_BYTES
from engine.records.trial import Trial
from engine.records.typed import typed_trial

CSV_SUFFIXES = (".csv", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
TABLE_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES
#: the remembered mappings, in the user's data folder (engine/paths.py)
MAPPINGS_FILE = "table_mappings.json"
_SEPARATORS = re.compile(r"[;|]")
_LABELS = {"1": 1, "1.0": 1, "success": 1, "successful": 1, "succeeded": 1, "yes": 1, "true": 1,
           "0": 0, "0.0": 0, "failure": 0, "failed": 0, "fail": 0, "no": 0, "false": 0}


@dataclass(frozen=True)
class TableField:
    """One thing a row can say about its trial, as the mapping dialog and `cladmop import` show it."""

    name: str
    label: str
    required: bool
    hint: str
    #: header names analysts use for it, lower case without spaces or punctuation
    synonyms: tuple[str, ...] = ()


FIELDS = (
    TableField("id", "Trial id", False, "an NCT number or your own id; none: an INHOUSE id from title and criteria",
               ("id", "nctid", "nctnumber", "nct", "trialid", "studyid", "protocolid", "protocol", "protocolnumber")),
    TableField("title", "Title", True, "the trial's title",
               ("title", "trialtitle", "studytitle", "brieftitle", "officialtitle", "name", "trialname", "studyname")),
    TableField("phase", "Phase", True, "I, II, III, IV, I/II or II/III (1, 2, 'Phase 2' too)",
               ("phase", "phases", "trialphase", "studyphase")),
    TableField("drugs", "Drugs", True, "drug names, separated by ; or |",
               ("drugs", "drug", "drugnames", "interventions", "intervention", "compounds", "compound",
                "treatments", "treatment")),
    TableField("smiles", "SMILES", False, "structures in the drugs' order, separated by ; or | (an empty one: "
               "looked up by name)", ("smiles", "smiless", "drugsmiles", "structures", "structure")),
    TableField("conditions", "Conditions", False, "condition names, separated by ; or |",
               ("conditions", "condition", "diseases", "disease", "indications", "indication")),
    TableField("icd", "ICD-10 codes", False, "codes in the conditions' order, separated by ; or |",
               ("icd", "icd10", "icdcodes", "icd10codes", "icdcode", "icd10code")),
    TableField("criteria", "Criteria", True, "the eligibility criteria as one block of text",
               ("criteria", "eligibility", "eligibilitycriteria", "inclusionexclusioncriteria", "inclusionexclusion")),
    TableField("label", "Outcome label", False, "1/0 or success/failure, for fine-tuning; empty: unknown",
               ("label", "outcome", "success", "result", "label01")),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
#: containment guesses go in this order, so "Drug SMILES" is taken for SMILES before "drug" claims it
_GUESS_ORDER = ("id", "smiles", "icd", "label", "criteria", "phase", "drugs", "conditions", "title")


class RowError(RecordError):
    """One row of a table that cannot become a trial; the others are read. `row` as a spreadsheet shows it."""

    def __init__(self, path, row: int, problem: str, trial_id: str = ""):
        self.row = row
        super().__init__(path, f"row {row}{f' ({trial_id})' if trial_id else ''}: {problem}")


@dataclass
class ColumnMapping:
    """Which column holds each field (a header name, or None when the table has no such column)."""

    id: str | None = None
    title: str | None = None
    phase: str | None = None
    drugs: str | None = None
    smiles: str | None = None
    conditions: str | None = None
    icd: str | None = None
    criteria: str | None = None
    label: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The mapped fields only, as stored and printed."""
        return {name: column for name, column in asdict(self).items() if column}

    @classmethod
    def from_dict(cls, data: dict) -> "ColumnMapping":
        """Unknown keys and non-text values (a hand-edited file) are dropped rather than trusted."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names and isinstance(v, str) and v})

    def problems(self, columns: list[str]) -> list[str]:
        """What keeps this mapping from reading a table with `columns`; empty when it can."""
        missing = [f.label.lower() for f in FIELDS if f.required and not getattr(self, f.name)]
        unknown = [c for c in self.as_dict().values() if c not in columns]
        return ([f"no column chosen for {', '.join(missing)}"] if missing else []) + \
               ([f"no column named {', '.join(map(repr, unknown))}"] if unknown else [])


@dataclass
class Table:
    """A sheet's header and rows as text, each row padded to the header's width."""

    path: Path
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    #: each row's number as a spreadsheet shows it (empty rows are left out, so numbers may skip)
    numbers: list[int] = field(default_factory=list)
    #: a workbook's sheet read, and its other sheets ("" and [] for a CSV)
    sheet: str = ""
    other_sheets: list[str] = field(default_factory=list)

    @property
    def signature(self) -> str:
        return signature(self.columns)

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        for number, row in zip(self.numbers, self.rows):
            yield number, dict(zip(self.columns, row))


def signature(columns: list[str]) -> str:
    """What identifies "the same table" next month: its column names, in order, case aside."""
    return "|".join(c.strip().lower() for c in columns)


# -- reading a table ------------------------------------------------------------------------------
def is_table(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def read_table(path: str | Path, max_rows: int | None = None, sheet: str | None = None) -> Table:
    """A CSV/TSV (comma, semicolon or tab) or a sheet of an Excel workbook (`sheet`: its name or number
    from 1; the first by default), as text; `max_rows` stops early for a preview. RecordError naming the
    file when it cannot be read."""
    path = Path(path)
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        if sheet:
            raise RecordError(path, "is a CSV table: it has no sheets to choose from")
        return _build_table(path, _csv_rows(path), max_rows)
    book = _open_workbook(path)
    try:
        chosen = _sheet(path, book.sheetnames, sheet)
        table = _build_table(path, _excel_rows(path, book[chosen]), max_rows)
        table.sheet, table.other_sheets = chosen, [n for n in book.sheetnames if n != chosen]
        return table
    finally:
        book.close()


def _sheet(path: Path, names: list[str], wanted: str | None) -> str:
    if not names:
        raise RecordError(path, "the workbook has no sheets")
    if not wanted:
        return names[0]
    if wanted in names:
        return wanted
    if wanted.strip().isdigit() and 1 <= int(wanted) <= len(names):
        return names[int(wanted) - 1]
    raise RecordError(path, f"has no sheet {wanted!r}; its sheets: {', '.join(names)}")


def _build_table(path: Path, rows: Iterable[list[str]], max_rows: int | None) -> Table:
    rows = iter(rows)
    header = next(rows, None)
    if not header or not any(c.strip() for c in header):
        raise RecordError(path, "has no header row (the first row names the columns)")
    table = Table(path, _column_names(header))
    for number, row in enumerate(rows, start=2):
        if max_rows is not None and len(table.rows) >= max_rows:
            break
        if any(c.strip() for c in row):
            table.rows.append((row + [""] * len(table.columns))[:len(table.columns)])
            table.numbers.append(number)
    return table


def _column_names(header: list[str]) -> list[str]:
    """Header cells made unique and non-empty, so every column can be named in a mapping."""
    while header and not header[-1].strip():
        header = header[:-1]
    names: list[str] = []
    for i, cell in enumerate(header, start=1):
        name = cell.strip() or f"column {i}"
        names.append(name if name not in names else f"{name} ({i})")
    return names


def _csv_rows(path: Path) -> Iterator[list[str]]:
    """Rows of a CSV/TSV in UTF-8 or, as Excel on Windows saves them, cp1252."""
    data = read_bytes(path, MAX_CSV_BYTES, "CSV")
    if looks_binary(data):
        raise RecordError(path, "is binary data, not a CSV table")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = max(("\t", ";", ","), key=lambda d: (first.count(d), d == ","))
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error as exc:
        raise RecordError(path, f"malformed CSV: {exc}") from None


def _excel_rows(path: Path, sheet) -> Iterator[list[str]]:
    """Rows of one sheet; cell values as text (12.0 reads as "12")."""
    try:
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a damaged sheet; named, not a trace
        raise RecordError(path, f"the workbook cannot be read ({type(exc).__name__}: {exc})") from None


def _open_workbook(path: Path):
    """openpyxl's read-only workbook, after the size checks that keep a hostile file from filling memory."""
    import zipfile

    from openpyxl import load_workbook

    read_bytes(path, MAX_EXCEL_BYTES, "Excel")  # missing, empty, too large: named
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(m.file_size for m in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise RecordError(path, f"is not an Excel workbook ({exc})") from None
    if unpacked > MAX_EXCEL_UNPACKED_BYTES:
        raise RecordError(path, f"unpacks to over {MAX_EXCEL_UNPACKED_BYTES // 2**20} MB: not read")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no default style" and the like mean nothing to the analyst
            return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - not a workbook, in whatever way: named
        raise RecordError(path, f"is not a readable Excel workbook ({type(exc).__name__}: {exc})") from None


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)


# -- the mapping: guessed, remembered ----------------------------------------------------------------
def guess_mapping(columns: list[str]) -> ColumnMapping:
    """A proposal from header names: exact names first, then names containing one (in `_GUESS_ORDER`);
    each column serves one field. The analyst confirms it, so a wrong guess costs a click, not a model."""
    keys = {c: re.sub(r"[^a-z0-9]", "", c.lower()) for c in columns}
    chosen: dict[str, str] = {}
    for exact in (True, False):
        for name in _GUESS_ORDER:
            taken = set(chosen.values())
            found = [c for c in columns if c not in taken and _names(keys[c], FIELD_BY_NAME[name].synonyms, exact)]
            if name not in chosen and found:
                chosen[name] = found[0]
    return ColumnMapping(**chosen)


def _names(key: str, synonyms: tuple[str, ...], exact: bool) -> bool:
    return key in synonyms if exact else any(len(s) >= 4 and s in key for s in synonyms)


def mappings_path() -> Path:
    from engine.paths import user_data_dir

    return user_data_dir() / MAPPINGS_FILE


def remembered_mapping(columns: list[str]) -> ColumnMapping | None:
    """The mapping last saved for a table with these column names, if any."""
    entry = _read_store().get(signature(columns))
    return ColumnMapping.from_dict(entry.get("mapping", {})) if isinstance(entry, dict) else None


def remember_mapping(columns: list[str], mapping: ColumnMapping) -> Path:
    """Save `mapping` for tables with these column names (other tables' mappings are kept); atomic."""
    from engine.atomic import atomic_write_text

    problems = mapping.problems(columns)
    if problems:
        raise RecordError(mappings_path(), "mapping not saved: " + "; ".join(problems))
    store = _read_store()
    store[signature(columns)] = {"columns": list(columns), "mapping": mapping.as_dict()}
    atomic_write_text(mappings_path(), json.dumps({"version": 1, "tables": store}, indent=2) + "\n")
    return mappings_path()


def _read_store() -> dict:
    """The saved mappings by table signature; a damaged file is named, never silently replaced."""
    path = mappings_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(path, f"the saved column mappings cannot be read ({exc}); fix or delete the file") from None
    tables = data.get("tables") if isinstance(data, dict) else None
    return tables if isinstance(tables, dict) else {}


def mapping_for(table: Table) -> tuple[ColumnMapping, bool]:
    """The mapping to propose for `table`, and whether it is a remembered one (else a guess)."""
    remembered = remembered_mapping(table.columns)
    return (remembered, True) if remembered is not None else (guess_mapping(table.columns), False)


# -- rows to trials --------------------------------------------------------------------------------
def rows_to_trials(table: Table, mapping: ColumnMapping) -> tuple[list[Trial], list[RowError]]:
    """A trial for every readable row, and a `RowError` for every other; a mapping that cannot read the
    table at all is one RecordError."""
    problems = mapping.problems(table.columns)
    if problems:
        raise RecordError(table.path, "column mapping: " + "; ".join(problems))
    trials: list[Trial] = []
    errors: list[RowError] = []
    for number, row in table.records():
        try:
            trials.append(_row_trial(table.path, row, mapping))
        except RecordError as exc:
            errors.append(RowError(table.path, number, exc.problem, row.get(mapping.id or "", "").strip()))
    return trials, errors


def _row_trial(path: Path, row: dict[str, str], mapping: ColumnMapping) -> Trial:
    """As File > New trial builds one (engine/records/typed.py), then marked as read from `path`."""
    cell = lambda name: (row.get(getattr(mapping, name) or "") or "").strip()  # noqa: E731
    drugs = _paired(cell("drugs"), cell("smiles"), "drug", "SMILES")
    conditions = _paired(cell("conditions"), cell("icd"), "condition", "ICD-10")
    trial = typed_trial(cell("title"), cell("phase"), drugs, conditions, cell("criteria"), cell("id"))
    trial.label = _label(cell("label"))
    trial.source_path = str(path)
    trial.source_format = "table-xlsx" if path.suffix.lower() in EXCEL_SUFFIXES else "table-csv"
    return trial


def _paired(names_text: str, extras_text: str, what: str, extra: str) -> list[tuple[str, str]]:
    """("aspirin", "CC(=O)...") pairs from two lists in the same order; the second may be empty."""
    names, extras = _split(names_text), _split(extras_text)
    if extras and len(extras) != len(names):
        raise RecordError("", f"{len(names)} {what}(s) but {len(extras)} in the {extra} column: give one per "
                              f"{what}, in the same order (leave one empty between separators for none)")
    return list(zip(names, extras or [""] * len(names)))


def _split(text: str) -> list[str]:
    """Items of "a; b | c", empty ones kept (they hold places) but not trailing ones."""
    items = [item.strip() for item in _SEPARATORS.split(text)] if text.strip() else []
    while items and not items[-1]:
        items.pop()
    return items


def _label(text: str) -> int | None:
    if not text:
        return None
    if text.lower() not in _LABELS:
        raise RecordError("", f"label {text!r} should be 1/0, success/failure or empty")
    return _LABELS[text.lower()]


# -- the loader's way in ---------------------------------------------------------------------------
def read_mapped_table(path: str | Path, errors: list[RecordError] | None = None,
                      mapping: ColumnMapping | None = None) -> list[Trial]:
    """The trials of a table read with `mapping` or the one remembered for its columns. Bad rows go to
    `errors` (without a list, the first raises); no mapping at all is a RecordError saying how to map it."""
    table = read_table(path)
    mapping = mapping or remembered_mapping(table.columns)
    if mapping is None:
        raise RecordError(path, unmapped_problem(table))
    trials, problems = rows_to_trials(table, mapping)
    if problems and errors is None:
        raise problems[0]
    (errors if errors is not None else []).extend(problems)
    return trials


def unmapped_problem(table: Table) -> str:
    """Why a table without a mapping is refused, and the one step that maps it."""
    from engine.records.top_csv import REQUIRED_COLUMNS

    if table.path.suffix.lower() in EXCEL_SUFFIXES:
        what = "an Excel table whose columns have no saved mapping"
    else:
        names = {c.strip().lower() for c in table.columns}
        what = f"not a TOP-format CSV: the header lacks {', '.join(c for c in REQUIRED_COLUMNS if c not in names)}"
    return (f"{what}. For a table of in-house trials, map its columns once: cladmop import '{table.path}' "
            "--save-mapping (or File > Open in the window)")


def needs_mapping(path: str | Path) -> bool:
    """A CSV/TSV or Excel file that is not in TOP format: opening it asks which column is what."""
    path = Path(path)
    if not (is_table(path) and path.is_file()):
        return False
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return True
    from engine.records.top_csv import is_top_header

    try:
        with path.open("rb") as handle:
            first = handle.read(8192).decode("utf-8-sig", errors="ignore").split("\n", 1)[0]
    except OSError:
        return False  # the reader names the problem
    return not is_top_header(first)


def has_remembered_mapping(path: str | Path) -> bool:
    """Whether a folder walk should read this table (it is passed over otherwise, as an index.csv is)."""
    try:
        return remembered_mapping(read_table(path, max_rows=0).columns) is not None
    except RecordError:
        return False
