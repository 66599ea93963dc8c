"""A ZIP of records, as ClinicalTrials.gov's website downloads a search (one JSON or XML file per study):
each record file inside is read by its own reader, as if it lay in a folder.

Bounded like every reader (engine/records/limits.py): the number of members, each member's unpacked size
against its reader's limit and the archive's total are checked from the archive's directory, and again
while unpacking (a directory can lie), before anything is parsed. Members are unpacked one at a time into
a private temporary folder under their base name only, so a name like ../../x cannot write elsewhere.
A trial's `source_path` is "archive.zip!member".
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable

from engine.records.errors import RecordError
from engine.records.limits import (MAX_CSV_BYTES, MAX_JSON_BYTES, MAX_XML_BYTES, MAX_ZIP_MEMBERS,
                                   MAX_ZIP_UNPACKED_BYTES)
from engine.records.trial import Trial

ZIP_MAGIC = b"PK\x03\x04"
_MEMBER_LIMIT = {".xml": MAX_XML_BYTES, ".json": MAX_JSON_BYTES, ".csv": MAX_CSV_BYTES, ".tsv": MAX_CSV_BYTES}


def read_zip(path: Path, read_record: Callable, errors: list[RecordError] | None = None) -> list[Trial]:
    """The trials of every record file in the archive, each read by `read_record` (the loader's, which
    dispatches on content); a bad member goes to `errors` and the others are still read."""
    errors = errors if errors is not None else []
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RecordError(path, f"is not a readable ZIP archive ({exc})") from None
    with archive, tempfile.TemporaryDirectory(prefix="cladmop-zip-") as tmp:
        members = _record_members(archive, path)
        trials: list[Trial] = []
        for member in members:
            trials.extend(_read_member(archive, member, path, Path(tmp), errors, read_record))
    if not members:
        raise RecordError(path, "holds no ClinicalTrials.gov XML/JSON record or TOP CSV")
    return trials


def _record_members(archive: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    members = [m for m in archive.infolist() if not m.is_dir() and _suffix(m) in _MEMBER_LIMIT
               and not PurePosixPath(m.filename).name.startswith(".")]
    if len(members) > MAX_ZIP_MEMBERS:
        raise RecordError(path, f"holds {len(members):,} record files (at most {MAX_ZIP_MEMBERS:,} are read)")
    if sum(m.file_size for m in members) > MAX_ZIP_UNPACKED_BYTES:
        raise RecordError(path, f"unpacks to more than {MAX_ZIP_UNPACKED_BYTES // 2**30} GB of records")
    return members


def _read_member(archive, member: zipfile.ZipInfo, path: Path, tmp: Path, errors: list[RecordError],
                 read_record: Callable) -> list[Trial]:
    name = f"{path}!{member.filename}"
    limit = _MEMBER_LIMIT[_suffix(member)]
    target = tmp / f"member{_suffix(member)}"
    try:
        if member.file_size > limit:
            raise RecordError(name, f"unpacks to {member.file_size:,} bytes, over the reader's limit of {limit:,}")
        _unpack(archive, member, target, limit, name)
        member_errors: list[RecordError] = []
        trials = read_record(target, member_errors)
        errors.extend(RecordError(name, e.problem) for e in member_errors)
    except RecordError as exc:
        errors.append(RecordError(name, exc.problem) if exc.path == str(target) else exc)
        return []
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a damaged member
        errors.append(RecordError(name, f"cannot be unpacked ({exc})"))
        return []
    for trial in trials:
        trial.source_path = name
    return trials


def _unpack(archive, member: zipfile.ZipInfo, target: Path, limit: int, name: str) -> None:
    """At most `limit` bytes, whatever the directory says the member holds."""
    with archive.open(member) as source, target.open("wb") as out:
        shutil.copyfileobj(_Bounded(source, limit, name), out, 1 << 20)


class _Bounded:
    def __init__(self, stream, limit: int, name: str):
        self.stream, self.left, self.name = stream, limit, name

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size if size >= 0 else self.left + 1)
        self.left -= len(chunk)
        if self.left < 0:
            raise RecordError(self.name, "unpacks to more bytes than its reader reads: refused")
        return chunk


def _suffix(member: zipfile.ZipInfo) -> str:
    return PurePosixPath(member.filename).suffix.lower()
