"""Background work for the GUI: engine calls run in a thread pool, report progress, can be cancelled.

The pattern of Orange3's ConcurrentWidgetMixin on top of `engine.tasks.TaskState`: the engine
function receives `state=` and calls `state.progress()` / `state.check()`; a `Task` relays
progress and the outcome to the GUI thread as Qt signals. Anything slower than ~50 ms goes here,
so the window never freezes.
"""
from __future__ import annotations

import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThreadPool, Qt, Signal, Slot

from engine.errors import Cancelled
from engine.tasks import TaskState


class Task(QObject):
    """One call of `fn(*args, state=TaskState, **kwargs)` on a pool thread.

    Public signals are emitted in the GUI thread: `progressed(done, total, text)`, then exactly one
    of `succeeded(result)`, `failed(exception)`, `cancelled()`, and finally `finished()`.
    """

    progressed = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()

    _relay = Signal(str, object)  # emitted on the pool thread, delivered queued to the GUI thread

    PROGRESS_INTERVAL_S = 0.05

    def __init__(self, fn: Callable[..., Any], *args, name: str = "", pass_state: bool = True,
                 parent: QObject | None = None, **kwargs):
        super().__init__(parent)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name or getattr(fn, "__name__", "task")
        self.pass_state = pass_state
        self.state = TaskState(on_progress=self._progress_on_thread)
        self.running = False
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.traceback = ""
        self._last_progress = 0.0
        self._relay.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def cancel(self) -> None:
        self.state.cancel()

    # -- pool thread
    def run(self) -> None:
        self.running = True
        try:
            if self.pass_state:
                result = self.fn(*self.args, state=self.state, **self.kwargs)
            else:
                result = self.fn(*self.args, **self.kwargs)
        except Cancelled:
            self._relay.emit("cancelled", None)
        except BaseException as exc:  # noqa: BLE001 — reported to the GUI, never lost
            self.traceback = traceback.format_exc()
            self._relay.emit("failed", exc)
        else:
            self._relay.emit("succeeded", result)

    def _progress_on_thread(self, done: int, total: int, text: str) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self.PROGRESS_INTERVAL_S or (total and done >= total):
            self._last_progress = now
            self._relay.emit("progress", (done, total, text))

    # -- GUI thread
    @Slot(str, object)
    def _deliver(self, kind: str, payload: Any) -> None:
        if kind == "progress":
            self.progressed.emit(*payload)
            return
        self.running, self.done = False, True
        if kind == "succeeded":
            self.result = payload
            self.succeeded.emit(payload)
        elif kind == "failed":
            self.error = payload
            self.failed.emit(payload)
        else:
            self.cancelled.emit()
        self.finished.emit()


class TaskRunner(QObject):
    """Starts Tasks on its own pool and keeps them alive until they finish.

    `busyChanged(bool)` tells the status bar when work starts and stops; `activity(text)` carries
    the latest progress line. `max_threads=1` gives a serial queue (the predictor).
    """

    busyChanged = Signal(bool)
    activity = Signal(str, int, int)  # text, done, total
    taskFailed = Signal(object, object)  # task, exception (for a global error log)

    def __init__(self, max_threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._tasks: list[Task] = []

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    @property
    def tasks(self) -> list[Task]:
        return list(self._tasks)

    def start(self, fn: Callable[..., Any], *args, name: str = "", pass_state: bool = True,
              on_result: Callable[[Any], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              on_progress: Callable[[int, int, str], None] | None = None,
              on_cancel: Callable[[], None] | None = None, **kwargs) -> Task:
        task = Task(fn, *args, name=name, pass_state=pass_state, parent=self, **kwargs)
        if on_result is not None:
            task.succeeded.connect(on_result)
        if on_error is not None:
            task.failed.connect(on_error)
        if on_progress is not None:
            task.progressed.connect(on_progress)
        if on_cancel is not None:
            task.cancelled.connect(on_cancel)
        task.progressed.connect(lambda done, total, text, t=task: self.activity.emit(text or t.name, done, total))
        task.failed.connect(lambda exc, t=task: self.taskFailed.emit(t, exc))
        task.finished.connect(lambda t=task: self._finished(t))
        was_busy = self.busy
        self._tasks.append(task)
        if not was_busy:
            self.busyChanged.emit(True)
        self.pool.start(task.run)
        return task

    def _finished(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        task.deleteLater()
        if not self._tasks:
            self.busyChanged.emit(False)

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the pool is idle (shutdown, tests). Pending deliveries still need the event loop."""
        return self.pool.waitForDone(timeout_ms)
