"""Resumable CSV export: `cladmop export --csv` journals every row beside the output as it is scored,
so a run that is killed (Ctrl-C, power cut, out of memory) continues where it stopped instead of
scoring thousands of records again.

    OUT.csv.partial   line 1: what the rows depend on (format, columns, inputs, model, options), JSON;
                      then one JSON line per scored record: {"key": record key, "row": {column: text}}

The journal is visible (a user who sees it knows a run stopped there) and appears whole with its first
line (engine.atomic), never as an empty file. Rows are flushed and fsynced after every batch, so a
kill loses at most the batch in flight; a line torn by the kill is cut off on reading. A run whose
description is the same reuses the row of every record whose key (source path, NCT id, content hash)
it meets again; any other description starts afresh. At the end the CSV is written atomically, rows
in input order, and the journal removed. Under a launcher (engine/distributed.py) rank 0 keeps the
journal and the other processes follow its keys, so a run resumes with any number of processes.
"""
from __future__ import annotations

import json
import os
from array import array
from collections import deque
from pathlib import Path
from typing import Callable, Iterable, Iterator

from engine import distributed
from engine.atomic import atomic_write_bytes
from engine.errors import CladmopError
from engine.export import CSV_COLUMNS, csv_rows, now_text, write_csv_rows
from engine.records.trial import Trial
from engine.scoring import ScoredTrial, stream_scores

SUFFIX = ".partial"
FORMAT = "cladmop-export-journal/1"


def journal_path(target: Path | str) -> Path:
    """The journal of the CSV `target`: beside it, so that it is found again and seen."""
    target = Path(target)
    return target.with_name(target.name + SUFFIX)


def record_key(trial: Trial) -> str:
    """Which record a row answers: the same file, NCT id and model-visible content (Trial.content_hash)
    get the same prediction, so the journaled row stands in for scoring it again."""
    return f"{trial.source_path}|{trial.nct_id}|{trial.content_hash()}"


class ExportJournal:
    """The rows scored so far for one CSV, an append-only file of JSON lines; use it in a `with` block,
    which syncs and closes it however the block ends (an interrupted run's rows are kept)."""

    def __init__(self, target: Path | str, description: dict, restart: bool = False):
        self.target, self.path = Path(target), journal_path(target)
        self.header = json.loads(json.dumps({"format": FORMAT, "columns": list(CSV_COLUMNS), **description}))
        self.discarded = ""  # why an earlier run's journal was not reused ("" when reused or none)
        self.index: dict[str, int] = {}  # record key -> offset of its row's line
        self._handle = None
        self._open(restart)
        self.resumed = len(self.index)  # rows found from an earlier run

    def __enter__(self) -> "ExportJournal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self, restart: bool) -> None:
        """Take over an earlier run's journal when it describes the same work; otherwise start a new one."""
        if self.path.exists():
            self._handle = _locked(open(self.path, "r+b"), self.path)
            self.discarded = "--restart was given" if restart else self._load()
        if self._handle is None or self.discarded:
            self.close()
            self.index = {}
            atomic_write_bytes(self.path, _line(self.header))
            self._handle = _locked(open(self.path, "r+b"), self.path)
            self._handle.seek(0, os.SEEK_END)

    def _load(self) -> str:
        """Index the rows of the journal found, cutting off a torn last line; or why it is not reused."""
        found = _parse(self._handle.readline())
        if found != self.header:
            return _difference(found, self.header)
        self.index, end = _index_rows(self._handle)
        self._handle.truncate(end)
        self._handle.seek(end)
        return ""

    def append(self, key: str, row: dict) -> int:
        """Journal the row of record `key` (durable at the next `sync`); the offset of its line."""
        offset = self._handle.tell()
        self._handle.write(_line({"key": key, "row": row}))
        self.index[key] = offset
        return offset

    def sync(self) -> None:
        """Make the rows appended so far survive a kill or a power cut."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def finish(self, order: Iterable[int]) -> tuple[int, int]:
        """Write the CSV atomically (the rows at the offsets in `order`), then drop the journal;
        (rows written, rows with a probability)."""
        scored = [0]

        def rows() -> Iterator[dict]:
            for offset in order:
                row = self._row_at(offset)
                scored[0] += bool(row.get("probability"))
                yield row

        written = write_csv_rows(rows(), self.target)
        self.close()
        self.path.unlink()
        return _shared((written, scored[0]))

    def _row_at(self, offset: int) -> dict:
        self._handle.seek(offset)
        return json.loads(self._handle.readline())["row"]

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self.sync()
            self._handle.close()


class FollowerJournal:
    """The journal of a process other than rank 0 under a launcher (engine/distributed.py): it writes
    nothing but knows rank 0's keys, so that it skips the same records and scores the same batches
    (every process takes its share of each batch, and the batches must match)."""

    discarded = ""

    def __init__(self, target: Path | str, keys: list[str]):
        self.path = journal_path(target)
        self.index = dict.fromkeys(keys, 0)
        self.resumed = len(self.index)

    def __enter__(self) -> "FollowerJournal":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def append(self, key: str, row: dict) -> int:
        self.index[key] = 0  # as rank 0 does: a repeat of the record later on is not scored again
        return 0

    def sync(self) -> None:
        pass

    def finish(self, order: Iterable[int]) -> tuple[int, int]:
        return distributed.from_writer(None)  # rank 0's counts: every process ends with the same status


def open_journal(target: Path | str, description: dict, restart: bool = False):
    """This process's journal: the file itself in one process, and on rank 0 under a launcher, whose
    other processes follow its keys (`FollowerJournal`)."""
    journal = ExportJournal(target, description, restart) if distributed.is_writer() else None
    keys = distributed.from_writer(list(journal.index) if journal is not None else None)
    return journal if journal is not None else FollowerJournal(target, keys)


def score_resumably(predictor, trials: Iterable[Trial], journal: ExportJournal, phase=None, ablate: bool = False,
                    top: int = 3, batch_size: int = 32,
                    on_row: Callable[[ScoredTrial], None] | None = None) -> array:
    """Score the trials the journal lacks, `batch_size` at a time (engine.scoring.stream_scores: memory
    stays flat), journaling each row and syncing after every batch. Returns, per trial in input order,
    the journal offset of its row: what `ExportJournal.finish` writes."""
    order, pending = array("q"), deque()
    fresh = _unjournaled(trials, journal, order, pending)
    for n, scored in enumerate(stream_scores(predictor, fresh, phase, ablate, batch_size), start=1):
        slot, key = pending.popleft()
        order[slot] = journal.append(key, csv_rows([scored], top, now_text())[0])
        if n % batch_size == 0:  # the end of a batch of stream_scores
            journal.sync()
        if on_row is not None:
            on_row(scored)
    journal.sync()
    return order


def _unjournaled(trials: Iterable[Trial], journal: ExportJournal, order: array, pending: deque) -> Iterator[Trial]:
    """The trials without a journaled row. Every trial takes its slot in `order` as it is read: its row's
    offset, or -1 with (slot, key) queued in `pending` until it is scored (in the same order)."""
    for trial in trials:
        key = record_key(trial)
        order.append(journal.index.get(key, -1))
        if order[-1] < 0:
            pending.append((len(order) - 1, key))
            yield trial


def _shared(counts: tuple[int, int]) -> tuple[int, int]:
    """`counts` told to the other processes under a launcher (FollowerJournal.finish waits for them)."""
    return distributed.from_writer(counts)


def _index_rows(handle) -> tuple[dict[str, int], int]:
    """key -> offset of every whole row line from the handle's position on, and where they end."""
    index, offset = {}, handle.tell()
    for line in iter(handle.readline, b""):
        entry = _parse(line)
        if not line.endswith(b"\n") or entry is None or "key" not in entry or "row" not in entry:
            break
        index[entry["key"]] = offset
        offset += len(line)
    return index, offset


def _difference(found: dict | None, wanted: dict) -> str:
    """In words, what the journal found was made for instead: "it was made with other options (top)"."""
    if found is None:
        return "its first line cannot be read"
    changed = [_changed(name, found.get(name), wanted.get(name))
               for name in sorted(wanted.keys() | found.keys()) if found.get(name) != wanted.get(name)]
    return "it was made with other " + ", ".join(changed)


def _changed(name: str, old, new) -> str:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return name
    return f"{name} ({', '.join(sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k)))})"


def _parse(line: bytes) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _line(value: dict) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _locked(handle, path: Path):
    """`handle`, locked for this process alone: a second export to the same CSV would interleave its
    rows with this one's. (Windows has no such advisory lock; there the user must not run two.)"""
    try:
        import fcntl
    except ImportError:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise CladmopError(f"{path}: another export is writing this CSV now; wait for it to end") from None
    return handle
