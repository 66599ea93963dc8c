"""The analyst's session, Qt-free: the open workspace, one draft per trial with its undo stack, the
predictions on show, autosave, the drug and disease lookups, and opening records.

As napari's `ViewerModel` sits under its Qt views, `Studio` sits under the window: `desktop/session.py`
relays its events as Qt signals and gives it a timer for the autosave; the CLI drives the same methods
(`cladmop workspace add` adds a trial as File > New trial does). Views never write the workspace: they
edit drafts through their command stacks, the studio hears every change and autosaves the changed
drafts a moment later (each round in one transaction), so a crash loses at most that moment of typing.
"""
from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from engine.editing import TrialDraft
from engine.prediction import has_ablation
from engine.records.trial import Trial
from engine.scoring import OpenTrial
from engine.tasks import TaskState
from engine.workspace import Workspace, WorkspaceError

#: what a Studio announces, with the arguments its listeners get
EVENTS = {
    "trials_added": "keys",
    "trial_removed": "key",
    "trials_reset": "",  # another workspace was opened
    "draft_changed": "key, event",  # event: "do" | "undo" | "redo" | "clear" | "clean"
    "prediction_changed": "key, role",
    "saved": "time.time() of the save",
    "save_failed": "message naming the workspace file",
}


class Events:
    """Plain callbacks by event name: what Qt signals are to the window, for any front end."""

    def __init__(self):
        self._listeners: dict[str, list[Callable]] = defaultdict(list)

    def connect(self, name: str, callback: Callable) -> None:
        if name not in EVENTS:
            raise KeyError(f"no event {name!r}; the events are {', '.join(EVENTS)}")
        self._listeners[name].append(callback)

    def emit(self, name: str, *args) -> None:
        for callback in list(self._listeners[name]):
            callback(*args)


class Lookups:
    """The drug and disease resolver, built once (it loads tables) and shared by every open and
    typed-in trial, and why it could not be built (records then open unresolved)."""

    def __init__(self, factory: Callable | None = None):
        self._factory = factory or _default_resolver
        self._lock = threading.Lock()
        self._resolver = None
        self.error = ""

    def resolver(self):
        """The resolver, built on first use (seconds; call it from a worker); None if unavailable."""
        with self._lock:
            if self._resolver is None and not self.error:
                try:
                    self._resolver = self._factory()
                except Exception as exc:  # noqa: BLE001 — records still open, unresolved
                    self.error = f"drug and disease lookups unavailable: {exc}"
            return self._resolver

    def built(self):
        """The resolver if it was already built (never blocks to build one)."""
        return self._resolver

    def resolve(self, trial: Trial) -> Trial:
        """`trial` with its drugs and conditions looked up; a failed lookup is kept as a warning."""
        resolver = self.resolver()
        if resolver is None:
            return trial
        try:
            return resolver.resolve(trial)
        except Exception as exc:  # noqa: BLE001 — keep the record, say what failed
            return trial.replace(warnings=list(trial.warnings) + [f"lookups failed: {exc}"])

    def add_compound(self, name: str, smiles: str) -> None:
        """Store a user structure in the user's compound library, so future records with this drug
        name resolve to it; the live resolver learns it at once."""
        if self._resolver is not None:
            self._resolver.drugs.add(name, smiles)
            return
        from engine.lookups.drugs import DrugLookup, default_library_path

        DrugLookup(library_path=default_library_path()).add(name, smiles)


def _default_resolver():
    from engine.lookups.resolve import Resolver

    return Resolver.default()


@dataclass
class TrialEntry:
    key: str
    record: Trial  # as loaded (before any correction)
    draft: TrialDraft
    #: latest (requested trial hash, Prediction) by role: "original", "edited", "scenario:<name>"
    predictions: dict = field(default_factory=dict)
    #: latest (requested trial hash, message) of a prediction that failed, by role
    failures: dict = field(default_factory=dict)
    listener: Callable | None = None  # the studio's listener on the draft's stack


@dataclass
class Opened:
    """What reading record files gave: trials stored in `workspace` (not shown yet), the open trials
    the files were copies of, and the files that could not be read, by name."""

    workspace: Workspace | None = None
    stored: list = field(default_factory=list)  # (key, trial, draft)
    already: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)
    notes: list[str] = field(default_factory=list)


class Studio:
    AUTOSAVE_DELAY_S = 1.0

    def __init__(self, workspace: Workspace, lookups: Lookups | None = None,
                 schedule_save: Callable[[float], None] | None = None):
        """`schedule_save(seconds)`: call `save_now` after that delay (the window's timer); without it
        the front end saves when it chooses (the CLI at the end of its command)."""
        self.workspace = workspace
        self.lookups = lookups or Lookups()
        self.events = Events()
        self.entries: dict[str, TrialEntry] = {}
        self.order: list[str] = []
        self._dirty: set[str] = set()
        self._phase_choices: dict[str, str | None] = {}  # read from the workspace once
        self._schedule = schedule_save or (lambda seconds: None)
        self._restore()

    # -- workspace ---------------------------------------------------------------------------
    def _restore(self) -> None:
        for stored in self.workspace.load_trials():
            self._adopt(stored.key, stored.record, stored.draft)

    def switch_workspace(self, workspace: Workspace) -> bool:
        """Save and close the current workspace, then show `workspace`'s trials. False, and nothing
        switched, when the current file refuses the save: switching would drop the unsaved edits."""
        if not self.save_now():
            return False
        for entry in self.entries.values():
            entry.draft.stack.remove_listener(entry.listener)
        old, self.workspace = self.workspace, workspace
        self.entries.clear()
        self.order.clear()
        self._phase_choices.clear()
        self._restore()
        if old is not workspace:
            old.close()
        self.events.emit("trials_reset")
        return True

    def save_as(self, path) -> Workspace:
        """A copy of the workspace at `path` holding every edit, also those the current file refused
        (a full disk, a lost share): the copy is then where they are saved. WorkspaceError when not."""
        self.save_now()
        copy = self.workspace.save_as(path)
        keys = [k for k in self._dirty if k in self.entries]
        if copy is not self.workspace and keys:
            try:
                self._write(copy, keys)
            except Exception as exc:  # noqa: BLE001 — any failure: the copy is not a safe place
                copy.close()
                raise WorkspaceError(copy.path, f"cannot save the unsaved edits into the copy: {exc}") from exc
        return copy

    def save_now(self) -> bool:
        """Write every changed draft in one transaction. False if the file refused the write (then
        nothing of this round was written, and it is retried a little later)."""
        keys = [k for k in self._dirty if k in self.entries]
        self._dirty.intersection_update(self.entries)
        if not keys:
            return True
        try:
            self._write(self.workspace, keys)
        except Exception as exc:  # noqa: BLE001 — shown to the analyst, retried later
            self.events.emit("save_failed", f"Could not save {self.workspace.path}: {exc}")
            self._schedule(self.AUTOSAVE_DELAY_S * 5)
            return False
        self.events.emit("saved", self.workspace.last_saved or time.time())
        return True

    def _write(self, workspace: Workspace, keys: list[str]) -> None:
        """The drafts `keys` into `workspace` in one transaction; then they count as saved."""
        with workspace.transaction():
            for key in keys:
                workspace.save_draft(key, self.entries[key].draft)
        for key in keys:
            self.entries[key].draft.stack.mark_clean()
            self._dirty.discard(key)

    @property
    def has_unsaved_changes(self) -> bool:
        return bool(self._dirty)

    def close(self) -> None:
        self.save_now()
        self.workspace.close()

    def set_ui(self, name: str, value) -> None:
        try:
            self.workspace.set_ui(name, value)
        except WorkspaceError as exc:
            self.events.emit("save_failed", str(exc))

    def ui(self, name: str, default=None):
        return self.workspace.ui(name, default)

    # -- trials ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.order)

    def entry(self, key: str) -> TrialEntry:
        return self.entries[key]

    def add_trials(self, trials: list[Trial], resolve: bool = False) -> list[str]:
        """Store the records (one transaction) and open a draft for each; `resolve`: look up their
        drugs and conditions first (a trial typed in, rather than read by `read_records`)."""
        if resolve:
            trials = [self.lookups.resolve(t) for t in trials]
        return self.adopt_stored(self.workspace, store_trials(self.workspace, trials))

    def reader(self) -> Callable[..., Opened]:
        """`read(paths, state=None)` for a worker: read, resolve and store record files into the
        workspace open now, leaving out the trials open now (both taken here, on the caller's thread).
        `adopt_stored(opened.workspace, opened.stored)` then shows them (ignored after a switch)."""
        workspace, known, lookups = self.workspace, self.known_sources(), self.lookups
        return lambda paths, state=None: read_records(paths, workspace, known, lookups, state)

    def adopt_stored(self, workspace: Workspace, stored: list[tuple[str, Trial, TrialDraft]]) -> list[str]:
        """Show trials already stored with `store_trials` (cheap: no copying, no I/O). Trials stored
        into a workspace that is no longer the open one are ignored."""
        if workspace is not self.workspace or not stored:
            return []
        keys = []
        for key, trial, draft in stored:
            if key not in self.entries:
                self._adopt(key, trial, draft)
                keys.append(key)
        self.events.emit("trials_added", keys)
        if self.workspace.last_saved:
            self.events.emit("saved", self.workspace.last_saved)
        return keys

    def known_sources(self) -> dict[tuple[str, str, str], str]:
        """`record_identities` → key of every open trial: what a re-opened file maps to."""
        return {identity: k for k, e in self.entries.items() for identity in record_identities(e.record)}

    def remove(self, key: str) -> None:
        entry = self.entries.pop(key)
        entry.draft.stack.remove_listener(entry.listener)
        self.order.remove(key)
        self._dirty.discard(key)
        self.workspace.remove(key)
        self.events.emit("trial_removed", key)

    def _adopt(self, key: str, record: Trial, draft: TrialDraft) -> None:
        entry = TrialEntry(key, record, draft)

        def listener(event: str, command, key=key) -> None:
            if event != "clean":
                self._dirty.add(key)
                self._schedule(self.AUTOSAVE_DELAY_S)
            self.events.emit("draft_changed", key, event)

        entry.listener = listener
        draft.stack.add_listener(listener)
        self.entries[key] = entry
        self.order.append(key)

    # -- phase models and batch scoring --------------------------------------------------------
    def phase_choice(self, key: str) -> str | None:
        """The analyst's phase model for trial `key` (kept in the workspace), or None for the default."""
        if key not in self._phase_choices:
            self._phase_choices[key] = self.workspace.phase_choice(key)
        return self._phase_choices[key]

    def usable_phase_choice(self, key: str, phases: Sequence[str]) -> str | None:
        """The analyst's choice if the loaded model (with `phases`; none known: any) has that phase: a
        choice made for another model that had it does not bind this one."""
        chosen = self.phase_choice(key)
        return chosen if chosen and (not phases or chosen in phases) else None

    def set_phase_choice(self, key: str, phase: str | None) -> bool:
        """Score `key` with `phase`'s model from now on (None: the record's); False when it was so
        already. Its predictions on show are dropped: another model made them."""
        if self.phase_choice(key) == phase:
            return False
        self._phase_choices[key] = phase
        try:
            self.workspace.set_phase_choice(key, phase)
        except WorkspaceError as exc:
            self.events.emit("save_failed", str(exc))
        self.forget_predictions(key)
        return True

    def to_score(self, phase_for: Callable[[str, Trial], tuple[str | None, str]] | None = None,
                 keys: Iterable[str] | None = None) -> list[OpenTrial]:
        """Every open trial (or those of `keys`) as Score all and Export take it: the record with the
        analyst's corrections, its what-if and scenarios, and its predictions already complete (with their
        ablation: reports list what moves each number). `phase_for(key, trial)` gives (phase model, why
        none fits); by default the analyst's choice, else the record's phase as the predictor picks it."""
        phase_for = phase_for or (lambda key, trial: (self.phase_choice(key), ""))
        return [self._to_score(key, phase_for) for key in (keys or self.order)]

    def _to_score(self, key: str, phase_for) -> OpenTrial:
        draft, original = self.entries[key].draft, self.trial_for(key, "original")
        phase, why = phase_for(key, original)
        edited = draft.is_modified
        complete = lambda p: p if has_ablation(p) else None  # noqa: E731
        return OpenTrial(key=key, trial=original, phase=phase, phase_problem=why if phase is None else "",
                         prediction=complete(self.current_prediction(key, "original")),
                         what_if=self.trial_for(key, "edited") if edited else None,
                         what_if_prediction=complete(self.current_prediction(key, "edited")) if edited else None,
                         scenarios=[(name, draft.scenario_trial(name)) for name in draft.scenario_names()])

    # -- predictions -------------------------------------------------------------------------
    def set_prediction(self, key: str, role: str, prediction, trial_hash: str) -> None:
        """Keep a prediction of the trial whose content hash (as requested) is `trial_hash`."""
        entry = self.entries.get(key)
        if entry is None:
            return
        entry.predictions[role] = (trial_hash, prediction)
        entry.failures.pop(role, None)
        self.events.emit("prediction_changed", key, role)

    def forget_predictions(self, key: str | None = None) -> None:
        """Drop the shown predictions of one trial (its phase model changed) or of all (another model):
        the views show "predicting…" until the new ones arrive instead of the old model's numbers."""
        for k in [key] if key is not None else list(self.order):
            entry = self.entries.get(k)
            if entry is None or not (entry.predictions or entry.failures):
                continue
            roles = set(entry.predictions) | set(entry.failures)
            entry.predictions.clear()
            entry.failures.clear()
            for role in roles:
                self.events.emit("prediction_changed", k, role)

    def set_failure(self, key: str, role: str, message: str, trial_hash: str) -> None:
        """Remember why the trial (as it was, `trial_hash`) could not be scored: shown until it changes."""
        entry = self.entries.get(key)
        if entry is None:
            return
        entry.failures[role] = (trial_hash, message)
        self.events.emit("prediction_changed", key, role)

    def current_failure(self, key: str, role: str = "original") -> str:
        entry = self.entries.get(key)
        stored = entry.failures.get(role) if entry else None
        if stored is None or stored[0] != self.trial_for(key, role).content_hash():
            return ""
        return stored[1]

    def current_prediction(self, key: str, role: str = "edited"):
        """The stored prediction for `role` if it matches the trial as it is now, else None."""
        entry = self.entries.get(key)
        stored = entry.predictions.get(role) if entry else None
        if stored is None:
            return None
        trial_hash, prediction = stored
        return prediction if trial_hash == self.trial_for(key, role).content_hash() else None

    def trial_for(self, key: str, role: str) -> Trial:
        draft = self.entries[key].draft
        if role == "original":
            return draft.scenario_trial(TrialDraft.ORIGINAL)
        if role.startswith("scenario:"):
            return draft.scenario_trial(role.split(":", 1)[1])
        return draft.snapshot()


def read_records(paths: Iterable[str | Path], workspace: Workspace, known: dict, lookups: Lookups,
                 state: TaskState | None = None) -> Opened:
    """Read and resolve record files and store the trials not in `known` (`Studio.reader`)."""
    state = state or TaskState()
    trials, opened = _read_and_resolve(paths, lookups, state)
    fresh, opened.already = split_already_open(trials, known)
    state.progress(0, 0, f"storing {len(fresh)} trial(s) in the workspace")
    opened.workspace, opened.stored = workspace, store_trials(workspace, fresh)
    return opened


def _read_and_resolve(paths: Iterable[str | Path], lookups: Lookups, state: TaskState) -> tuple[list[Trial], Opened]:
    """Every file read (one bad file never stops the others: it is listed by name), each trial resolved."""
    from engine.records import load_records

    paths = [str(p) for p in paths]
    state.progress(0, 0, f"reading {len(paths)} file(s)")
    result = load_records(paths, state=state)
    opened = Opened(errors=[(e.path, e.problem) for e in result.errors])
    if result.skipped:
        opened.notes.append(f"{len(result.skipped)} file(s) in the folders were not records and were passed over")
    trials = []
    for i, trial in enumerate(result.trials):
        state.progress(i, len(result.trials), f"looking up drugs and conditions of {trial.nct_id}")
        trials.append(lookups.resolve(trial))
    if trials and lookups.error:
        opened.notes.append(lookups.error)
    state.progress(len(trials), len(trials), "done")
    return trials, opened


def store_trials(workspace: Workspace, trials: list[Trial]) -> list[tuple[str, Trial, TrialDraft]]:
    """Write records to the workspace (one transaction) and make their drafts. Thread-safe, so a
    worker does it: serialising and copying a thousand trials takes seconds."""
    if not trials:
        return []
    keys = workspace.add_trials(trials)
    # an unedited draft is the record itself: nothing to save until the first edit
    return [(key, trial, TrialDraft(trial)) for key, trial in zip(keys, trials)]


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
