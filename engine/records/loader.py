"""Read record files of any supported format, one at a time or whole folders at once.

`read_record(path)` sniffs the content (first bytes) and falls back on the suffix; `load_records`
walks folders and globs, reads any mix, and never stops at a bad file: each problem becomes a
`RecordError` in the result, so one broken download does not hide a thousand good records. A CSV or
Excel table of in-house trials is read with the column mapping saved for its header
(engine/records/table_import.py); in a folder, a table without one is passed over.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from engine.records.errors import RecordError
from engine.records.files import looks_binary, looks_utf16
from engine.records.trial import Trial

if TYPE_CHECKING:  # engine.tasks imports engine.errors, which imports this package
    from engine.tasks import TaskState

#: suffixes a folder walk reads; other files (schemas, notes) are passed over
RECORD_SUFFIXES = (".xml", ".json", ".csv", ".tsv", ".zip", ".xlsx", ".xlsm")
FORMATS = ("ctgov-xml", "ctgov-json", "top-csv", "zip", "table")


@dataclass
class LoadResult:
    trials: list[Trial] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    #: files met in folders or globs that are not records (an index.csv beside the XML files),
    #: as "path: why"
    skipped: list[str] = field(default_factory=list)
    #: how many files were read (including those that failed)
    files: int = 0


def sniff_format(path: str | os.PathLike, head: bytes | None = None) -> str | None:
    """"ctgov-xml", "ctgov-json", "top-csv" or "zip" from the first bytes, else from the suffix ("table":
    an Excel workbook, or a CSV/TSV without TOP's columns); None for other binary data or text of no known kind."""
    p = Path(path)
    if head is None:
        with p.open("rb") as handle:
            head = handle.read(8192)
    from engine.records.zip_reader import ZIP_MAGIC

    if head.startswith(ZIP_MAGIC):
        return "table" if p.suffix.lower() in (".xlsx", ".xlsm") else "zip"
    if looks_binary(head):
        return None
    text = _decode_head(head).lstrip()
    if text.startswith("<"):
        return "ctgov-xml"
    if text.startswith(("{", "[")):
        return "ctgov-json"
    from engine.records.top_csv import is_top_header

    if is_top_header(text.split("\n", 1)[0]):
        return "top-csv"
    suffix = p.suffix.lower()
    return {".xml": "ctgov-xml", ".json": "ctgov-json", ".csv": "table", ".tsv": "table"}.get(suffix)


def read_record(path: str | os.PathLike, errors: list[RecordError] | None = None) -> list[Trial]:
    """The trials of one file (one for XML, one or more for JSON and CSV).

    RecordError when the file cannot be read; with an `errors` list, bad studies/rows of a
    multi-trial file go there and the good ones are still returned.
    """
    p = Path(path)
    try:
        with p.open("rb") as handle:
            head = handle.read(8192)
    except FileNotFoundError:
        raise RecordError(p, "no such file") from None
    except IsADirectoryError:
        raise RecordError(p, "is a folder: use load_records for folders") from None
    except OSError as exc:
        raise RecordError(p, f"cannot be read ({exc.strerror or exc})") from None
    if not head.strip():
        raise RecordError(p, "is empty")
    kind = sniff_format(p, head)
    if kind is None:
        if looks_binary(head):
            raise RecordError(p, "is binary data, not a trial record")
        raise RecordError(p, "is not a ClinicalTrials.gov XML/JSON record, a ZIP of them or a TOP-format CSV")
    if kind == "ctgov-xml":
        from engine.records.xml_reader import read_ctgov_xml

        return [read_ctgov_xml(p)]
    if kind == "ctgov-json":
        from engine.records.json_reader import read_ctgov_json

        return read_ctgov_json(p, errors)
    if kind == "zip":
        from engine.records.zip_reader import read_zip

        return read_zip(p, read_record, errors)
    if kind == "table":
        from engine.records.table_import import read_mapped_table

        return read_mapped_table(p, errors)
    from engine.records.top_csv import read_top_csv

    return read_top_csv(p, errors=errors)


def load_records(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    on_error: Callable[[RecordError], None] | None = None,
    state: "TaskState | None" = None,
) -> LoadResult:
    """Read files, folders (recursively) and glob patterns ("records/**/*.xml") in any mix.

    Every problem is collected as a RecordError (and passed to `on_error` as it happens, for a
    live log); reading goes on. `state` gets `progress(done, total, file name)` per file, and its
    cancellation stops the walk by raising `Cancelled` between files.
    """
    result = LoadResult()

    def report(error: RecordError) -> None:
        result.errors.append(error)
        if on_error is not None:
            on_error(error)

    files: list[tuple[Path, bool]] = []  # (path, named explicitly)
    seen: set[Path] = set()
    for source in [sources] if isinstance(sources, (str, os.PathLike)) else list(sources):
        for path, explicit in _expand(source, report):
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                files.append((path, explicit))
    total = len(files)
    if state is not None:
        state.progress(0, total, "")
    for done, (path, explicit) in enumerate(files, start=1):
        errors: list[RecordError] = []
        try:
            if not explicit and (why := _not_a_record(path)):
                result.skipped.append(f"{path}: {why}")
            else:
                result.files += 1
                result.trials.extend(read_record(path, errors))
        except RecordError as exc:
            errors.append(exc)
        except Exception as exc:  # noqa: BLE001 - a reader bug must not end the walk; it is reported
            errors.append(RecordError(path, f"could not be read ({type(exc).__name__}: {exc})"))
        for error in errors:
            report(error)
        if state is not None:
            state.progress(done, total, path.name)
    return result


def iter_records(sources: str | os.PathLike | Iterable[str | os.PathLike],
                 on_error: Callable[[RecordError], None] | None = None) -> Iterator[Trial]:
    """`load_records` one file at a time: trials are yielded as each file is read, so a caller that
    handles them one by one (streamed scoring) holds one file's trials, never the whole set."""
    report = on_error or (lambda error: None)
    seen: set[Path] = set()
    for source in [sources] if isinstance(sources, (str, os.PathLike)) else list(sources):
        for path, explicit in _expand(source, report):
            key = path.resolve()
            if key in seen or (not explicit and _not_a_record(path)):
                continue
            seen.add(key)
            errors: list[RecordError] = []
            trials: list[Trial] = []
            try:
                trials = read_record(path, errors)
            except RecordError as exc:
                errors.append(exc)
            except Exception as exc:  # noqa: BLE001 - as in load_records: reported, the walk goes on
                errors.append(RecordError(path, f"could not be read ({type(exc).__name__}: {exc})"))
            for error in errors:
                report(error)
            yield from trials


def _expand(source: str | os.PathLike, report: Callable[[RecordError], None]):
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if not name.startswith(".") and name.lower().endswith(RECORD_SUFFIXES):
                    yield Path(root) / name, False
    elif path.is_file():
        yield path, True
    elif glob.has_magic(text):
        matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
        if not matches:
            report(RecordError(text, "no file matches this pattern"))
        for match in matches:
            p = Path(match)
            if p.is_dir():
                yield from _expand(p, report)
            elif p.name.lower().endswith(RECORD_SUFFIXES):
                yield p, False
    elif path.exists():
        report(RecordError(text, "is not a regular file (a device, pipe or socket): not a record"))
    else:
        report(RecordError(text, "no such file or folder"))


def _not_a_record(path: Path) -> str | None:
    """Why a file met during a folder walk is passed over (None: read it)."""
    from engine.records.table_import import EXCEL_SUFFIXES, has_remembered_mapping

    if path.suffix.lower() in EXCEL_SUFFIXES:
        return None if has_remembered_mapping(path) else "an Excel table without a saved column mapping"
    if path.suffix.lower() not in (".csv", ".tsv"):
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError:
        return None  # let the reader report it
    from engine.records.top_csv import is_top_header

    first = _decode_head(head).lstrip().split("\n", 1)[0]
    if is_top_header(first) or has_remembered_mapping(path):
        return None
    return "a CSV/TSV without the TOP columns (nctid, phase, diseases, drugs, criteria)"


def _decode_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    if looks_utf16(head):
        return head.decode("utf-16-be" if head[0] == 0 else "utf-16-le", errors="ignore")
    return head.decode("utf-8-sig", errors="ignore")
