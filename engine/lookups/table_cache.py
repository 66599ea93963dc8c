"""Reference tables kept keyed in the cache folder, so a session starts without keying them again.

Keying DrugBank's and PyTrial's 43,405 names took 0.44 s of every start (a third of `Predictor.load`
besides importing torch); reading the keyed table back takes 0.04 s. An entry is found by the CSV's
path, size and modification time and by the keying code itself, so an edited table or a changed
normalisation rule builds it afresh. A damaged or unwritable cache only costs the time.
"""
from __future__ import annotations

import hashlib
import pickle
from functools import cache
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")
FOLDER = "keyed_tables"


@cache
def _code_version() -> str:
    """The keying code's own fingerprint: a cached table is only as good as the rules that keyed it."""
    from engine.lookups import drug_names, drug_tables

    digest = hashlib.sha256()
    for module in (drug_names, drug_tables):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def entry_path(source: Path) -> Path | None:
    """Where `source`'s keyed table is kept; None when the file cannot be looked at."""
    from engine.paths import cache_dir

    try:
        stat = source.stat()
    except OSError:
        return None
    identity = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{_code_version()}"
    return cache_dir() / FOLDER / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.pickle"


def cached(source: Path, build: Callable[[], T]) -> T:
    """`build()`'s table for `source`, read from the cache when it was built from this very file."""
    path = entry_path(Path(source))
    if path is not None:
        try:
            return pickle.loads(path.read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError):
            pass
    table = build()
    if path is not None and table is not None:
        _store(path, table)
    return table


def _store(path: Path, table) -> None:
    from engine.atomic import atomic_write_bytes
    from engine.errors import CladmopError

    try:
        atomic_write_bytes(path, pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, CladmopError):
        pass  # a read-only cache folder: the next start keys the table again
