"""The open trials of one workspace, as Qt signals over the Qt-free engine state.

`Session` owns the `Workspace` file and one `TrialDraft` per trial. Views never write the
workspace themselves: they edit drafts through their command stacks, the session hears every
change, and autosaves the changed drafts a moment later (each in one transaction), so a crash
loses at most the last `AUTOSAVE_DELAY_MS` of typing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal

from engine.editing import TrialDraft
from engine.records.trial import Trial
from engine.workspace import Workspace, WorkspaceError


@dataclass
class TrialEntry:
    key: str
    record: Trial  # as loaded (before any correction)
    draft: TrialDraft
    #: latest (requested trial hash, Prediction) by role: "original", "edited", "scenario:<name>"
    predictions: dict = field(default_factory=dict)
    #: latest (requested trial hash, message) of a prediction that failed, by role
    failures: dict = field(default_factory=dict)


class Session(QObject):
    trialsAdded = Signal(list)  # keys
    trialRemoved = Signal(str)
    trialsReset = Signal()  # a different workspace was opened
    draftChanged = Signal(str, str)  # key, event ("do" | "undo" | "redo" | "clear" | "clean")
    predictionChanged = Signal(str, str)  # key, role
    saved = Signal(float)  # time.time() of the last successful autosave
    saveFailed = Signal(str)  # message naming the workspace file

    AUTOSAVE_DELAY_MS = 1000

    def __init__(self, workspace: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.entries: dict[str, TrialEntry] = {}
        self.order: list[str] = []
        self._dirty: set[str] = set()
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(self.AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self.save_now)
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
            entry.draft.stack.remove_listener(entry._listener)  # type: ignore[attr-defined]
        old = self.workspace
        self.entries.clear()
        self.order.clear()
        self.workspace = workspace
        self._restore()
        if old is not workspace:
            old.close()
        self.trialsReset.emit()
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
        self._autosave.stop()
        keys = [k for k in self._dirty if k in self.entries]
        self._dirty.intersection_update(self.entries)
        if not keys:
            return True
        try:
            self._write(self.workspace, keys)
        except Exception as exc:  # noqa: BLE001 — shown in the status bar, retried later
            self.saveFailed.emit(f"Could not save {self.workspace.path}: {exc}")
            self._autosave.start(self.AUTOSAVE_DELAY_MS * 5)
            return False
        self.saved.emit(self.workspace.last_saved or time.time())
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

    # -- trials ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.order)

    def entry(self, key: str) -> TrialEntry:
        return self.entries[key]

    def add_trials(self, trials: list[Trial]) -> list[str]:
        """Store the records (one transaction) and open a draft for each."""
        stored = store_trials(self.workspace, trials)
        return self.adopt_stored(self.workspace, stored)

    def adopt_stored(self, workspace: Workspace, stored: list[tuple[str, Trial, TrialDraft]]) -> list[str]:
        """Show trials a worker already stored with `store_trials` (cheap: no copying, no I/O).
        Trials stored into a workspace that is no longer the open one are ignored."""
        if workspace is not self.workspace or not stored:
            return []
        keys = []
        for key, trial, draft in stored:
            if key not in self.entries:
                self._adopt(key, trial, draft)
                keys.append(key)
        self.trialsAdded.emit(keys)
        if self.workspace.last_saved:
            self.saved.emit(self.workspace.last_saved)
        return keys

    def known_sources(self) -> dict[tuple[str, str, str], str]:
        """`desktop.loading.record_identities` → key of every open trial: what a re-opened file maps to."""
        from desktop.loading import record_identities

        return {identity: k for k, e in self.entries.items() for identity in record_identities(e.record)}

    def remove(self, key: str) -> None:
        entry = self.entries.pop(key)
        entry.draft.stack.remove_listener(entry._listener)  # type: ignore[attr-defined]
        self.order.remove(key)
        self._dirty.discard(key)
        self.workspace.remove(key)
        self.trialRemoved.emit(key)

    def _adopt(self, key: str, record: Trial, draft: TrialDraft) -> None:
        entry = TrialEntry(key, record, draft)

        def listener(event: str, command, key=key) -> None:
            if event != "clean":
                self._dirty.add(key)
                self._autosave.start()
            self.draftChanged.emit(key, event)

        entry._listener = listener  # type: ignore[attr-defined]
        draft.stack.add_listener(listener)
        self.entries[key] = entry
        self.order.append(key)

    # -- predictions -------------------------------------------------------------------------
    def set_prediction(self, key: str, role: str, prediction, trial_hash: str) -> None:
        """Keep a prediction of the trial whose content hash (as requested) is `trial_hash`."""
        entry = self.entries.get(key)
        if entry is None:
            return
        entry.predictions[role] = (trial_hash, prediction)
        entry.failures.pop(role, None)
        self.predictionChanged.emit(key, role)

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
                self.predictionChanged.emit(k, role)

    def set_failure(self, key: str, role: str, message: str, trial_hash: str) -> None:
        """Remember why the trial (as it was, `trial_hash`) could not be scored: shown until it changes."""
        entry = self.entries.get(key)
        if entry is None:
            return
        entry.failures[role] = (trial_hash, message)
        self.predictionChanged.emit(key, role)

    def current_failure(self, key: str, role: str = "original") -> str:
        entry = self.entries.get(key)
        stored = entry.failures.get(role) if entry else None
        if stored is None or stored[0] != self.trial_for(key, role).content_hash():
            return ""
        return stored[1]

    def current_prediction(self, key: str, role: str = "edited"):
        """The stored prediction for `role` if it matches the trial as it is now, else None."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        stored = entry.predictions.get(role)
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

    def set_ui(self, name: str, value) -> None:
        try:
            self.workspace.set_ui(name, value)
        except WorkspaceError as exc:
            self.saveFailed.emit(str(exc))

    def ui(self, name: str, default=None):
        return self.workspace.ui(name, default)


def store_trials(workspace: Workspace, trials: list[Trial]) -> list[tuple[str, Trial, TrialDraft]]:
    """Write records to the workspace (one transaction) and make their drafts. Thread-safe and
    Qt-free, so a worker does it: serialising and copying a thousand trials takes seconds."""
    if not trials:
        return []
    keys = workspace.add_trials(trials)
    # an unedited draft is the record itself: nothing to save until the first edit
    return [(key, trial, TrialDraft(trial)) for key, trial in zip(keys, trials)]


def now_hms(timestamp: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp or time.time()))
