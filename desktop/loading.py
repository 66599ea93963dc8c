"""Open record files for the GUI: read them (engine.records) and fill drug structures and ICD codes
(engine.lookups) on a worker thread. Qt-free, so it runs in a `Task`; one bad file never stops the
others — it comes back as (path, problem)."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from engine.records.trial import Trial
from engine.tasks import TaskState

_resolver_lock = threading.Lock()
_resolver = None
_resolver_error: str | None = None


def prepare() -> None:
    """Warm-up at start-up, on a worker: build the lookups and import RDKit's drawing code, so the
    first file opened and the first molecule drawn do not wait for them."""
    default_resolver()
    from rdkit.Chem.Draw import rdMolDraw2D  # noqa: F401


def default_resolver():
    """`engine.lookups.resolve.Resolver.default()`, built once (it loads tables); None if unavailable."""
    global _resolver, _resolver_error
    with _resolver_lock:
        if _resolver is None and _resolver_error is None:
            try:
                from engine.lookups.resolve import Resolver

                _resolver = Resolver.default()
            except Exception as exc:  # noqa: BLE001 — records still open, unresolved
                _resolver_error = f"drug and disease lookups unavailable: {exc}"
        return _resolver


def cached_resolver():
    """The resolver if it was already built (never blocks to build one)."""
    return _resolver


def add_to_compound_library(name: str, smiles: str) -> None:
    """Store a user structure in the user's compound library (engine.lookups), so future records
    with this drug name resolve to it; the live resolver learns it at once."""
    resolver = cached_resolver()
    if resolver is not None:
        resolver.drugs.add(name, smiles)
        return
    from engine.lookups.drugs import DrugLookup, default_library_path

    DrugLookup(library_path=default_library_path()).add(name, smiles)


@dataclass
class LoadOutcome:
    trials: list[Trial] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)
    notes: list[str] = field(default_factory=list)
    #: filled by the window's worker: (key, trial, draft) stored in the workspace, and the keys of
    #: trials that were already open
    stored: list = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def load_and_resolve(paths: Iterable[str | Path], state: TaskState | None = None,
                     resolver_factory: Callable[[], object] | None = default_resolver) -> LoadOutcome:
    """Read every file (folders are expanded by the reader) and resolve each trial's lookups."""
    from engine.records import load_records

    state = state or TaskState()
    paths = [str(p) for p in paths]
    state.progress(0, 0, f"reading {len(paths)} file(s)")
    result = load_records(paths, state=state)
    outcome = LoadOutcome()
    for error in result.errors:
        path = getattr(error, "path", "") or ""
        outcome.errors.append((str(path), getattr(error, "problem", None) or str(error)))
    if getattr(result, "skipped", None):
        outcome.notes.append(f"{len(result.skipped)} file(s) in the folders were not records and were passed over")
    resolver = resolver_factory() if resolver_factory is not None and result.trials else None
    if resolver is None and result.trials and resolver_factory is default_resolver and _resolver_error:
        outcome.notes.append(_resolver_error)
    total = len(result.trials)
    for i, trial in enumerate(result.trials):
        state.progress(i, total, f"looking up drugs and conditions of {trial.nct_id}")
        if resolver is not None:
            try:
                trial = resolver.resolve(trial)
            except Exception as exc:  # noqa: BLE001 — keep the record, say what failed
                trial = trial.replace(warnings=list(trial.warnings) + [f"lookups failed: {exc}"])
        outcome.trials.append(trial)
    state.progress(total, total, "done")
    return outcome


def record_identities(trial: Trial) -> list[tuple[str, str, str]]:
    """What makes a re-opened record "the same trial": its NCT id with the file it came from (however
    the path was written: relative, absolute, through a link), or its NCT id with the same content."""
    identities = [("content", trial.nct_id, trial.content_hash())]
    if trial.source_path:
        identities.append(("path", trial.nct_id, os.path.normcase(os.path.realpath(trial.source_path))))
    return identities


def split_already_open(trials: list[Trial], known: dict) -> tuple[list[Trial], list[str]]:
    """(trials not open yet, keys of the open trials that others are copies of). `known` maps
    `record_identities` to keys; a record given twice in one go is kept once."""
    fresh, already, seen = [], [], set()
    for trial in trials:
        identities = record_identities(trial)
        key = next((known[i] for i in identities if i in known), None)
        if key is not None:
            if key not in already:
                already.append(key)
        elif not any(i in seen for i in identities):
            fresh.append(trial)
        seen.update(identities)
    return fresh, already
