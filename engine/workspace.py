"""The analyst's workspace: one SQLite file with the open records, their edits, scenarios, added
compounds, cached predictions and UI state.

Why SQLite: every save is one transaction (WAL journal), so a crash leaves either the previous or
the next state, never half of one; writes are per trial and cheap, so the GUI can autosave every
edit within a second or two. The file opens with `Workspace.open(path)` on any machine.

Tables (schema version in `schema_version`; `PRAGMA application_id` marks the file as ours):
  records(key, nct_id, source_path, position, trial_json, added_at)  — the trial as loaded
  drafts(key, draft_json, updated_at)                                 — TrialDraft without scenarios
  scenarios(key, position, name, scenario_json)                       — per trial, in order
  compounds(name, smiles, source, added_at)                           — user-added structures
  predictions(trial_hash, model_name, phase, key, prediction_json, created_at)
  ui_state(name, value_json)
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from engine import atomic
from engine.editing import Scenario, TrialDraft
from engine.errors import CladmopError
from engine.records.trial import Trial

SCHEMA_VERSION = 1
APPLICATION_ID = 0x434C4144  # "CLAD"
SUFFIX = ".cladmop"


def default_workspace_path() -> Path:
    """The workspace a first start opens (and `cladmop workspace` reads without a FILE)."""
    from engine.paths import user_data_dir

    return user_data_dir() / f"workspace{SUFFIX}"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    nct_id TEXT NOT NULL,
    source_path TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL,
    trial_json TEXT NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS drafts (
    key TEXT PRIMARY KEY REFERENCES records(key) ON DELETE CASCADE,
    draft_json TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scenarios (
    key TEXT NOT NULL REFERENCES records(key) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    scenario_json TEXT NOT NULL,
    PRIMARY KEY (key, name)
);
CREATE TABLE IF NOT EXISTS compounds (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    smiles TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'user',
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS predictions (
    trial_hash TEXT NOT NULL,
    model_name TEXT NOT NULL,
    phase TEXT NOT NULL,
    key TEXT,
    prediction_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (trial_hash, model_name, phase)
);
CREATE TABLE IF NOT EXISTS ui_state (name TEXT PRIMARY KEY, value_json TEXT NOT NULL);
"""


class WorkspaceError(CladmopError):
    """A workspace file that cannot be opened or written; the message names the file."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class StoredTrial:
    """One trial as restored: the record as loaded and its draft (edits + scenarios)."""

    key: str
    record: Trial
    draft: TrialDraft
    source_path: str


class Workspace:
    """An open workspace file. Thread-safe (one connection behind a lock); every write method is
    one transaction, and `with ws.transaction():` groups several into one."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock=None):
        self.path = path
        self._conn = connection
        self._process_lock = lock  # the open lock file: held while this workspace is open
        self._lock = threading.RLock()
        self._depth = 0
        self.last_saved: float | None = None

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, path) -> "Workspace":
        """Open `path`, creating it (and its folder) when missing."""
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(path, f"cannot create the folder: {exc.strerror or exc}") from exc
        if path.is_dir():
            raise WorkspaceError(path, "is a folder, not a workspace file")
        lock = _lock_for_this_process(path)
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        except sqlite3.Error as exc:
            lock.close()
            raise WorkspaceError(path, f"cannot open: {exc}") from exc
        try:
            cls._prepare(path, conn)
        except BaseException:
            conn.close()
            lock.close()
            raise
        return cls(path, conn, lock)

    @classmethod
    def open_read_only(cls, path) -> "Workspace":
        """Read `path` without taking its lock, even while a window has it open (SQLite's WAL lets readers
        in beside one writer): what `cladmop workspace` reads. Any write raises."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise WorkspaceError(path, "no such workspace file")
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=10)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(path, "not a CLaDMoP workspace (not an SQLite database)") from exc
        if app_id != APPLICATION_ID or "records" not in tables:
            conn.close()
            raise WorkspaceError(path, "not a CLaDMoP workspace")
        return cls(path, conn)

    @staticmethod
    def _prepare(path: Path, conn: sqlite3.Connection) -> None:
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(path, "not a CLaDMoP workspace (not an SQLite database)") from exc
        if tables and app_id != APPLICATION_ID:
            raise WorkspaceError(path, "not a CLaDMoP workspace (an SQLite database of another program)")
        if tables:
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            version = row[0] if row else None
            if version is None:
                raise WorkspaceError(path, "damaged workspace: its schema version is missing")
            if version > SCHEMA_VERSION:
                raise WorkspaceError(path, f"made by a newer CLaDMoP Studio (workspace version {version}, "
                                           f"this program reads up to {SCHEMA_VERSION}); please update")
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: atomic, at most the last commit lost
            conn.execute("PRAGMA foreign_keys=ON")
            if not tables:
                # one script, one transaction: a crash here leaves an empty file, not half a schema
                conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA application_id={APPLICATION_ID};"
                                   f"INSERT INTO schema_version(version) VALUES ({SCHEMA_VERSION});COMMIT;")
        except sqlite3.Error as exc:
            raise WorkspaceError(path, f"cannot initialise: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass  # (read-only: nothing to checkpoint)
                self._conn.close()
                self._conn = None
                if self._process_lock is not None:
                    self._process_lock.close()  # closing the file releases the lock

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together or not at all; nested calls join the outer one."""
        with self._lock:
            if self._conn is None:
                raise WorkspaceError(self.path, "the workspace is closed")
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise WorkspaceError(self.path, f"cannot write: {exc}") from exc
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._conn.execute("ROLLBACK")
                    raise WorkspaceError(self.path, f"cannot save: {exc}") from exc
                self.last_saved = time.time()
            finally:
                self._depth = 0

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            if self._conn is None:
                raise WorkspaceError(self.path, "the workspace is closed")
            return self._conn.execute(sql, params).fetchall()

    # -- records -------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return [r[0] for r in self._read("SELECT key FROM records ORDER BY position")]

    def has(self, key: str) -> bool:
        return bool(self._read("SELECT 1 FROM records WHERE key=?", (key,)))

    def find(self, nct_id: str) -> list[str]:
        """Keys of the records with this NCT id (a record opened twice from different files)."""
        return [r[0] for r in self._read("SELECT key FROM records WHERE nct_id=? ORDER BY position", (nct_id,))]

    def _unique_key(self, base: str) -> str:
        base = base or "trial"
        key, n = base, 1
        while self.has(key):
            n += 1
            key = f"{base} ({n})"
        return key

    def add_trials(self, trials: Iterable[Trial]) -> list[str]:
        """Store records as loaded (one transaction); returns their keys (the NCT id, made unique)."""
        keys = []
        with self.transaction() as conn:
            position = conn.execute("SELECT coalesce(max(position), -1) + 1 FROM records").fetchone()[0]
            for trial in trials:
                key = self._unique_key(trial.nct_id)
                conn.execute("INSERT INTO records(key, nct_id, source_path, position, trial_json, added_at) "
                             "VALUES (?,?,?,?,?,?)",
                             (key, trial.nct_id, trial.source_path, position, _dumps(trial.to_dict()),
                              time.time()))
                position += 1
                keys.append(key)
        return keys

    def add_trial(self, trial: Trial) -> str:
        return self.add_trials([trial])[0]

    def remove(self, key: str) -> None:
        """Forget a record with its edits and scenarios (its cached predictions stay, keyed by hash)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM records WHERE key=?", (key,))

    def record(self, key: str) -> Trial:
        rows = self._read("SELECT trial_json FROM records WHERE key=?", (key,))
        if not rows:
            raise KeyError(f"no record {key!r} in {self.path}")
        return Trial.from_dict(json.loads(rows[0][0]))

    # -- drafts and scenarios --------------------------------------------------------------------
    def save_draft(self, key: str, draft: TrialDraft) -> None:
        """Write one trial's edits and scenarios in one transaction."""
        data = draft.to_dict()
        scenarios = data.pop("scenarios")
        with self.transaction() as conn:
            if not conn.execute("SELECT 1 FROM records WHERE key=?", (key,)).fetchone():
                raise KeyError(f"no record {key!r} in {self.path}")
            conn.execute("INSERT INTO drafts(key, draft_json, updated_at) VALUES (?,?,?) "
                         "ON CONFLICT(key) DO UPDATE SET draft_json=excluded.draft_json, "
                         "updated_at=excluded.updated_at", (key, _dumps(data), time.time()))
            self._write_scenarios(conn, key, scenarios)

    def _write_scenarios(self, conn: sqlite3.Connection, key: str, scenarios: list[dict]) -> None:
        conn.execute("DELETE FROM scenarios WHERE key=?", (key,))
        conn.executemany("INSERT INTO scenarios(key, position, name, scenario_json) VALUES (?,?,?,?)",
                         [(key, i, s["name"], _dumps(s)) for i, s in enumerate(scenarios)])

    def load_draft(self, key: str) -> TrialDraft | None:
        rows = self._read("SELECT draft_json FROM drafts WHERE key=?", (key,))
        if not rows:
            return None
        draft = TrialDraft.from_dict(json.loads(rows[0][0]))
        draft.scenarios = [Scenario.from_dict(json.loads(r[0])) for r in self._read(
            "SELECT scenario_json FROM scenarios WHERE key=? ORDER BY position", (key,))]
        return draft

    def load_trials(self) -> list[StoredTrial]:
        """Every record in list order, each with its draft (a fresh one when none was saved)."""
        out = []
        for key, source_path, trial_json in self._read(
                "SELECT key, source_path, trial_json FROM records ORDER BY position"):
            record = Trial.from_dict(json.loads(trial_json))
            try:
                draft = self.load_draft(key)
            except (ValueError, KeyError, TypeError) as exc:
                raise WorkspaceError(self.path, f"the saved edits of {key} are damaged ({exc})") from exc
            out.append(StoredTrial(key, record, draft or TrialDraft(record), source_path))
        return out

    # -- compound library entries added in the GUI -------------------------------------------------
    def add_compound(self, name: str, smiles: str, source: str = "user") -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO compounds(name, smiles, source, added_at) VALUES (?,?,?,?) "
                         "ON CONFLICT(name) DO UPDATE SET smiles=excluded.smiles, source=excluded.source",
                         (name.strip(), smiles.strip(), source, time.time()))

    def compounds(self) -> dict[str, str]:
        return dict(self._read("SELECT name, smiles FROM compounds ORDER BY added_at"))

    # -- predictions ---------------------------------------------------------------------------
    def save_prediction(self, prediction, key: str | None = None, trial_hash: str | None = None) -> None:
        """Cache `prediction` under `trial_hash` (default: its own), the hash of the trial as it was
        asked for — the predictor may resolve lookups first, so its own hash can differ."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO predictions(trial_hash, model_name, phase, key, "
                         "prediction_json, created_at) VALUES (?,?,?,?,?,?)",
                         (trial_hash or prediction.trial_hash, prediction.model_name, prediction.phase, key,
                          _dumps(prediction_to_dict(prediction)), time.time()))

    def prediction(self, trial_hash: str, model_name: str, phase: str | None = None):
        """A cached Prediction for this exact trial content and model, or None."""
        sql = "SELECT prediction_json FROM predictions WHERE trial_hash=? AND model_name=?"
        params: tuple = (trial_hash, model_name)
        if phase is not None:
            sql, params = sql + " AND phase=?", params + (phase,)
        rows = self._read(sql + " ORDER BY created_at DESC LIMIT 1", params)
        return prediction_from_dict(json.loads(rows[0][0])) if rows else None

    # -- UI state ------------------------------------------------------------------------------
    def set_ui(self, name: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO ui_state(name, value_json) VALUES (?,?)", (name, _dumps(value)))

    def ui(self, name: str, default: Any = None) -> Any:
        rows = self._read("SELECT value_json FROM ui_state WHERE name=?", (name,))
        return json.loads(rows[0][0]) if rows else default

    def phase_choice(self, key: str) -> str | None:
        """The analyst's phase model for trial `key` (None: the record's own), as the window and the CLI
        read it."""
        value = self.ui(f"phase/{key}")
        return value if isinstance(value, str) and value else None

    def set_phase_choice(self, key: str, phase: str | None) -> None:
        self.set_ui(f"phase/{key}", phase)

    # -- copies --------------------------------------------------------------------------------
    def save_as(self, path) -> "Workspace":
        """Copy everything to `path` (SQLite online backup: consistent even mid-session) and open it."""
        path = Path(path).expanduser()
        if path.resolve() == self.path.resolve():
            return self
        # written beside `path`, then swapped in: a crash leaves the old file or the new one, never half
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            staging.unlink(missing_ok=True)
            target = sqlite3.connect(str(staging))
            try:
                with self._lock:
                    self._conn.backup(target)
            finally:
                target.close()
            for stale in ("-wal", "-shm"):  # an earlier file's journal must never be applied to the copy
                Path(f"{path}{stale}").unlink(missing_ok=True)
            atomic.before_swap(path)  # looked up at each call: the kill tests replace it
            os.replace(staging, path)
        except (sqlite3.Error, OSError) as exc:
            staging.unlink(missing_ok=True)
            raise WorkspaceError(path, f"cannot write the copy: {exc}") from exc
        return Workspace.open(path)


def lock_path(path: Path) -> Path:
    """The hidden file beside a workspace whose lock says a process has it open."""
    return path.with_name(f".{path.name}.lock")


def _lock_for_this_process(path: Path):
    """The open lock file of `path`, locked; WorkspaceError naming the process that holds it. Two
    processes on one workspace overwrite each other's committed edits, so a second one is refused
    (the lock dies with its process: a crash leaves nothing to clean up)."""
    try:
        handle = open(lock_path(path), "a+")
    except OSError as exc:
        raise WorkspaceError(path, f"cannot create its lock file: {exc.strerror or exc}") from exc
    try:
        _try_lock(handle)
    except OSError:
        holder = _holder(handle)
        handle.close()
        raise WorkspaceError(path, f"is open in another CLaDMoP Studio ({holder}); close it there, "
                                   f"or open a copy") from None
    handle.truncate(0)
    handle.write(f"process {os.getpid()}")
    handle.flush()
    return handle


def _holder(handle) -> str:
    try:
        handle.seek(0)
        return handle.read(100).strip() or "another process"
    except OSError:  # Windows: the holder's locked byte cannot be read
        return "another process"


def _try_lock(handle) -> None:
    """An exclusive lock on the open file, or OSError at once when another process holds one."""
    if os.name == "nt":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


# -- JSON helpers --------------------------------------------------------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def prediction_to_dict(prediction) -> dict:
    """A Prediction as JSON-able data (arrays become lists)."""
    data = asdict(prediction)
    for level in data["attention"]:
        for source in ("criteria", "molecules", "diseases"):
            level[source] = np.asarray(level[source], dtype=float).tolist()
    return data


def prediction_from_dict(data: dict):
    from engine.evidence.novelty import Novelty
    from engine.evidence.similar import SimilarTrial
    from engine.features.types import MoleculeSegment
    from engine.prediction import Ablation, LevelAttention, Prediction

    data = dict(data)
    data["attention"] = [LevelAttention(level=a["level"], criteria=np.asarray(a["criteria"], dtype=np.float32),
                                        molecules=np.asarray(a["molecules"], dtype=np.float32),
                                        diseases=np.asarray(a["diseases"], dtype=np.float32),
                                        previous=float(a.get("previous", 0.0)))
                         for a in data.get("attention", [])]
    data["ablations"] = [Ablation(**a) for a in data.get("ablations", [])]
    data["molecule_tokens"] = [None if t is None else MoleculeSegment(t["drug_index"], t["smiles"],
                                                                      tuple(t["atom_indices"]))
                               for t in data.get("molecule_tokens", [])]
    data["similar"] = [SimilarTrial(**s) for s in data.get("similar", [])]
    data["novelty"] = Novelty(**data["novelty"]) if data.get("novelty") else None
    data["interval"] = tuple(data["interval"]) if data.get("interval") else None
    return Prediction(**data)


__all__ = ["Workspace", "WorkspaceError", "StoredTrial", "SCHEMA_VERSION", "SUFFIX",
           "prediction_to_dict", "prediction_from_dict"]
