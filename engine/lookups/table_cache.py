"""Reference tables kept keyed in the cache folder, so a session starts without keying them again.

Keying DrugBank's and PyTrial's 43,405 names took 0.44 s of every start (a third of `Predictor.load`
besides importing torch); reading the keyed JSON back takes 0.03 s. An entry is found by the CSV's
path, size and modification time and by the keying code itself, so an edited table or a changed
normalisation rule builds it afresh. Entries are plain JSON, never pickles: a file in the cache folder
can only be data, not code. A damaged or unwritable cache only costs the time.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterable, Protocol, TypeVar

FOLDER = "keyed_tables"


class KeyedTable(Protocol):
    def state(self) -> dict: ...

    @classmethod
    def from_state(cls, state: dict, path: Path | None = None): ...


T = TypeVar("T", bound=KeyedTable)


def entry_path(source: Path, keying_code: Iterable[Path]) -> Path | None:
    """Where `source`'s keyed table is kept; None when the file cannot be looked at."""
    from engine.paths import cache_dir

    try:
        stat = source.stat()
    except OSError:
        return None
    identity = hashlib.sha256(f"{stat.st_size}|{stat.st_mtime_ns}".encode())
    for module_file in keying_code:  # a cached table is only as good as the rules that keyed it
        identity.update(Path(module_file).read_bytes())
    return cache_dir() / FOLDER / f"{_source_tag(source)}-{identity.hexdigest()[:16]}.json"


def _source_tag(source: Path) -> str:
    """The part of an entry's name that only the source's path decides: its older entries share it."""
    return hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]


def cached(source: Path, kind: type[T], build: Callable[[], T | None], keying_code: Iterable[Path]) -> T | None:
    """`build()`'s table for `source`, read from the cache when it was built from this very file
    by this very `keying_code` (the source files of the code that keys it)."""
    source = Path(source)
    path = entry_path(source, keying_code)
    if path is not None:
        try:
            return kind.from_state(json.loads(path.read_bytes()), source)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass  # none yet, or damaged: built again
    table = build()
    if path is not None and table is not None:
        _store(path, table)
    return table


def _store(path: Path, table: KeyedTable) -> None:
    from engine.atomic import atomic_write_json
    from engine.errors import CladmopError

    try:
        tag = path.name.split("-")[0]  # the same CSV before an edit, or an entry from before entries were JSON
        atomic_write_json(path, table.state(),
                          replacing=[*path.parent.glob(f"{tag}-*.json"), *path.parent.glob("*.pickle")])
    except (OSError, CladmopError):
        pass  # a read-only cache folder: the next start keys the table again
