"""The studio (engine/studio.py) for the window: its events as Qt signals, its autosave on a timer.

Everything the session decides — which trials are open, their drafts and undo stacks, what is saved
when, the predictions on show, opening records — is `engine.studio.Studio`'s, which the CLI drives too.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal

from engine.studio import Lookups, Studio
from engine.workspace import Workspace


class Session(QObject, Studio):
    trialsAdded = Signal(list)  # keys
    trialRemoved = Signal(str)
    trialsReset = Signal()  # a different workspace was opened
    draftChanged = Signal(str, str)  # key, event ("do" | "undo" | "redo" | "clear" | "clean")
    predictionChanged = Signal(str, str)  # key, role
    saved = Signal(float)  # time.time() of the last successful autosave
    saveFailed = Signal(str)  # message naming the workspace file

    def __init__(self, workspace: Workspace, parent: QObject | None = None, lookups: Lookups | None = None):
        # PySide6 passes the keywords QObject does not take on to Studio.__init__ (cooperative init)
        super().__init__(parent=parent, workspace=workspace, lookups=lookups, schedule_save=self._save_in)
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.timeout.connect(self.save_now)
        for event, signal in (("trials_added", self.trialsAdded), ("trial_removed", self.trialRemoved),
                              ("trials_reset", self.trialsReset), ("draft_changed", self.draftChanged),
                              ("prediction_changed", self.predictionChanged), ("saved", self.saved),
                              ("save_failed", self.saveFailed)):
            self.events.connect(event, signal.emit)

    def _save_in(self, seconds: float) -> None:
        self._autosave.start(int(seconds * 1000))

    def save_now(self) -> bool:
        self._autosave.stop()
        return Studio.save_now(self)


def warm_up(lookups: Lookups) -> None:
    """At start-up, on a worker: build the lookups (their fuzzy search included) and import RDKit's
    drawing code, so the first file opened and the first molecule drawn do not wait for them."""
    lookups.resolver().prepare()
    from rdkit.Chem.Draw import rdMolDraw2D  # noqa: F401


def now_hms(timestamp: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp or time.time()))
