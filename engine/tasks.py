"""Progress and cancellation for long work, shared by the CLI (tqdm) and the GUI (worker threads).

Engine functions that take time accept a `TaskState`; they call `state.progress(done, total, text)`
and `state.check()` between units of work. `check()` raises `Cancelled` once `cancel()` was called.
"""
from __future__ import annotations

import threading
from typing import Callable

from engine.errors import Cancelled

ProgressCallback = Callable[[int, int, str], None]


class TaskState:
    def __init__(self, on_progress: ProgressCallback | None = None):
        self._cancel = threading.Event()
        self._on_progress = on_progress
        self.done = 0
        self.total = 0
        self.text = ""

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    def progress(self, done: int, total: int, text: str = "") -> None:
        self.done, self.total, self.text = done, total, text
        if self._on_progress is not None:
            self._on_progress(done, total, text)
        self.check()


class TqdmState(TaskState):
    """A TaskState drawing a terminal progress bar; Ctrl-C cancels cleanly."""

    def __init__(self, desc: str = "", disable: bool = False):
        super().__init__()
        from tqdm import tqdm

        self._bar = tqdm(desc=desc, disable=disable, dynamic_ncols=True, leave=False)

    def progress(self, done: int, total: int, text: str = "") -> None:
        if total and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        if text:
            self._bar.set_postfix_str(text, refresh=False)
        self._bar.refresh()
        super().progress(done, total, text)

    def write(self, text: str, err: bool = False) -> None:
        """A line printed above the bar (a plain print would run into it on a terminal)."""
        import sys

        self._bar.write(text, file=sys.stderr if err else sys.stdout)

    def close(self) -> None:
        self._bar.close()
