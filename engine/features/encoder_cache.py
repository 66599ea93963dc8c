"""On-disk caches of computed features: SQLite files under `engine.paths.cache_dir()`.

Encoding criteria is the slow step of featurization (a transformer pass per item); a what-if edit or
a second run should only pay for text it has not seen. Storage choices:

- SQLite in WAL mode: many readers (GUI, CLI, a training run) at once with one writer, and every
  `put_many` is one transaction, so an entry is there whole or not at all, even after a crash.
- Values carry an 8-byte BLAKE2 digest; an entry whose bytes do not match is dropped and recomputed.
  A file that is not a database any more is moved aside (`*.corrupt-<time>`) and started afresh; a
  folder that cannot be written degrades to an in-memory cache. The cache never stops the work.
- Encoder states are stored as float16 (half the size; the model reads them as float32).
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

log = logging.getLogger(__name__)

ENCODER_CACHE_FILE = "encoder_states.sqlite"
#: values are a few KB (one pooled criterion: 4 x hidden float16) to a few MB (a whole text's tokens);
#: 64 KiB pages store both at ~90% density (4 KiB pages: ~65% for 3 KB rows, one row per page)
_PAGE_SIZE = 65536
_FP16_MAX = float(np.finfo(np.float16).max)


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=8).digest()


class SqliteStore:
    """A `key -> bytes` table in one SQLite file (or in memory when `path` is None)."""

    def __init__(self, path: Path | str | None, table: str):
        if not table.isidentifier():
            raise ValueError(f"bad table name {table!r}")
        self.path = Path(path) if path is not None else None
        self.table = table
        self.problems: list[str] = []  # what went wrong with the file (shown by `cladmop cache`)
        self._lock = threading.Lock()
        self._conn = self._open()

    # -- opening and recovery ---------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            return self._connect(":memory:")
        for attempt in (1, 2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                return self._connect_waiting(str(self.path))
            except sqlite3.OperationalError as e:  # cannot open / write: not corruption
                return self._fall_back(f"cannot use {self.path} ({e}); caching in memory only")
            except (sqlite3.DatabaseError, OSError) as e:
                if attempt == 2 or isinstance(e, OSError):
                    return self._fall_back(f"cannot use {self.path} ({e}); caching in memory only")
                self._move_aside(e)
        raise AssertionError("unreachable")

    def _connect_waiting(self, target: str, patience_s: float = 30.0) -> sqlite3.Connection:
        """`_connect`, waiting (up to `patience_s` in all) while another connection holds the lock that
        turning on WAL needs: processes that start together (torchrun's ranks, the window and a CLI run)
        all open the cache at once, and SQLite reports that lock at once instead of waiting for it."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                return self._connect(target)
            except sqlite3.OperationalError as e:
                if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _connect(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            if target != ":memory:":
                conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # takes effect in a new file only
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back after checkpoints
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} "
                         "(key TEXT PRIMARY KEY, value BLOB NOT NULL, digest BLOB NOT NULL)")
            conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _fall_back(self, problem: str) -> sqlite3.Connection:
        self._note(problem)
        self.path = None
        return self._connect(":memory:")

    def _move_aside(self, error: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        self._note(f"{self.path} is damaged ({error}); moved to {aside.name} and started a new cache")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                try:
                    src.replace(Path(str(aside) + suffix))
                except OSError:
                    src.unlink(missing_ok=True)

    def _recover(self, error: sqlite3.DatabaseError) -> None:
        """A damaged file found while in use: start a new one (or go on in memory)."""
        if isinstance(error, sqlite3.OperationalError) or self.path is None:
            self._note(f"cache {self.path or 'in memory'}: {error}")
            return
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
        self._move_aside(error)
        self._conn = self._open()

    def _note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)
            log.warning(problem)

    # -- access -----------------------------------------------------------------------------------
    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored values of `keys` that are present and intact (damaged ones are dropped)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        damaged: list[str] = []
        with self._lock:
            try:
                for start in range(0, len(keys), 500):
                    chunk = keys[start:start + 500]
                    rows = self._conn.execute(
                        f"SELECT key, value, digest FROM {self.table} WHERE key IN "
                        f"({','.join('?' * len(chunk))})", chunk).fetchall()
                    for key, value, digest in rows:
                        value = bytes(value)
                        if _digest(value) == bytes(digest):
                            found[key] = value
                        else:
                            damaged.append(key)
            except sqlite3.DatabaseError as e:
                self._recover(e)
                return {}
        if damaged:
            self._note(f"cache {self.path}: {len(damaged)} damaged entries dropped; they are recomputed")
            self.delete(damaged)
        return found

    def put_many(self, items: dict[str, bytes]) -> None:
        """Store all `items` in one transaction: each entry is there whole or not at all."""
        if not items:
            return
        rows = [(k, v, _digest(v)) for k, v in items.items()]
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(
                        f"INSERT OR REPLACE INTO {self.table} (key, value, digest) VALUES (?, ?, ?)", rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as e:  # locked too long, disk full, damaged: work goes on
                self._recover(e)

    def delete(self, keys: Iterable[str]) -> None:
        with self._lock:
            try:
                self._conn.executemany(f"DELETE FROM {self.table} WHERE key = ?", [(k,) for k in keys])
            except sqlite3.DatabaseError as e:
                self._recover(e)

    def __len__(self) -> int:
        with self._lock:
            try:
                return int(self._conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])
            except sqlite3.DatabaseError:
                return 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# -- encoder states --------------------------------------------------------------------------------
@dataclass
class CachedStates:
    """Encoder output for one cache key: levels + final, and for token granularity the spans."""

    levels: np.ndarray  # (3, n, H) float32 values that are exactly representable in float16
    final: np.ndarray  # (n, H)
    offsets: np.ndarray | None  # (n, 2) int64 character spans (token granularity) or None
    n_text_tokens: int  # text tokens before truncation (for the truncation warning)


_HEADER = struct.Struct("<4sIIIq")  # magic, n, hidden, has offsets, n_text_tokens
_MAGIC = b"CE01"


def to_half_precision(values: np.ndarray) -> np.ndarray:
    """Round to the float16 values the cache stores, as float32: fresh and cached results agree."""
    return np.clip(values, -_FP16_MAX, _FP16_MAX).astype(np.float16).astype(np.float32)


def pack_states(states: CachedStates) -> bytes:
    n, hidden = states.final.shape
    stacked = np.concatenate([states.levels, states.final[None]], axis=0)
    blob = np.clip(stacked, -_FP16_MAX, _FP16_MAX).astype("<f2").tobytes()
    has_offsets = states.offsets is not None
    tail = states.offsets.astype("<i4").tobytes() if has_offsets else b""
    return _HEADER.pack(_MAGIC, n, hidden, int(has_offsets), states.n_text_tokens) + blob + tail


def unpack_states(value: bytes) -> CachedStates | None:
    """The states in `value`, or None when it is not a well-formed entry."""
    if len(value) < _HEADER.size:
        return None
    magic, n, hidden, has_offsets, n_text = _HEADER.unpack_from(value)
    size = 4 * n * hidden * 2
    expected = _HEADER.size + size + (n * 2 * 4 if has_offsets else 0)
    if magic != _MAGIC or len(value) != expected or hidden == 0:
        return None
    stacked = np.frombuffer(value, "<f2", count=4 * n * hidden, offset=_HEADER.size)
    stacked = stacked.reshape(4, n, hidden).astype(np.float32)
    offsets = None
    if has_offsets:
        offsets = np.frombuffer(value, "<i4", offset=_HEADER.size + size).reshape(n, 2).astype(np.int64)
    return CachedStates(stacked[:3], stacked[3], offsets, int(n_text))


class EncoderCache:
    """Encoder states keyed by backbone id + granularity + text hash."""

    def __init__(self, path: Path | str | None = None, *, in_memory: bool = False):
        if not in_memory and path is None:
            from engine.paths import cache_dir

            path = cache_dir() / ENCODER_CACHE_FILE
        self.store = SqliteStore(None if in_memory else path, "encoder_states_v1")

    @classmethod
    def in_memory(cls) -> "EncoderCache":
        return cls(in_memory=True)

    @property
    def path(self) -> Path | None:
        return self.store.path

    @staticmethod
    def key(backbone_id: str, granularity: str, text: str) -> str:
        h = hashlib.sha256(f"{backbone_id}\0{granularity}\0{text}".encode("utf-8"))
        return h.hexdigest()

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedStates]:
        out, bad = {}, []
        for key, value in self.store.get_many(keys).items():
            states = unpack_states(value)
            if states is None:
                bad.append(key)
            else:
                out[key] = states
        if bad:
            self.store._note(f"cache {self.path}: {len(bad)} malformed entries dropped; they are recomputed")
            self.store.delete(bad)
        return out

    def put_many(self, items: dict[str, CachedStates]) -> None:
        self.store.put_many({k: pack_states(v) for k, v in items.items()})

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.close()
