"""Background work for the GUI: engine calls run in a thread pool, report progress, can be cancelled.

The pattern of Orange3's ConcurrentWidgetMixin on top of `engine.tasks.TaskState`: the engine
function receives `state=` and calls `state.progress()` / `state.check()`; a `Task` relays
progress and the outcome to the GUI thread as Qt signals. Anything slower than ~50 ms goes here,
so the window never freezes.
"""
from __future__ import annotations

import itertools
import time
import traceback
import weakref
from typing import Any, Callable

from PySide6.QtCore import QObject, QThreadPool, Qt, Signal, Slot
from shiboken6 import isValid

from engine.errors import Cancelled
from engine.tasks import TaskState


class _Relay(QObject):
    """Carries reports from pool threads to the GUI thread. One per process, never deleted: a pool
    thread must never hold the last reference to a runner (or its owner), or that QObject would be
    destroyed on the wrong thread."""

    message = Signal(int, int, str, object)  # runner id, task id, kind, payload

    def __init__(self):
        super().__init__()
        self.runners: "weakref.WeakValueDictionary[int, TaskRunner]" = weakref.WeakValueDictionary()
        self.message.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)

    @Slot(int, int, str, object)
    def _dispatch(self, runner_id: int, task_id: int, kind: str, payload: Any) -> None:
        runner = self.runners.get(runner_id)
        if runner is not None and isValid(runner):  # a runner deleted with its window hears nothing
            runner._deliver(task_id, kind, payload)


_RELAY: _Relay | None = None
_RUNNER_IDS = itertools.count()
#: every runner's thread pool, kept for the life of the process. A QThreadPool's destructor waits for
#: its running jobs, so a runner deleted with its window while a job still runs (a training that has
#: not reached its next cancellation check) would freeze the GUI thread until the job ends. Idle pool
#: threads expire after a few seconds, so a kept pool costs nothing.
_POOLS: list[QThreadPool] = []


def _relay() -> _Relay:
    global _RELAY
    if _RELAY is None:
        _RELAY = _Relay()  # first runner is made in the GUI thread, so the relay lives there
    return _RELAY


class Task(QObject):
    """One call of `fn(*args, state=TaskState, **kwargs)` on a pool thread, seen from the GUI thread.

    Signals (all emitted in the GUI thread): `progressed(done, total, text)`, then exactly one of
    `succeeded(result)`, `failed(exception)`, `cancelled()`, and finally `finished()`.
    The pool thread never touches this QObject: it reports through its runner's relay, which lives
    as long as the pool, so a finished Task can be deleted at any time.
    """

    progressed = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, name: str, parent: QObject | None):
        super().__init__(parent)
        self.name = name
        self.state = TaskState()
        self.running = True
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.traceback = ""

    def cancel(self) -> None:
        self.state.cancel()

    def _deliver(self, kind: str, payload: Any) -> None:
        if kind == "progress":
            self.progressed.emit(*payload)
            return
        self.running, self.done = False, True
        if kind == "succeeded":
            self.result = payload
            self.succeeded.emit(payload)
        elif kind == "failed":
            self.error, self.traceback = payload
            self.failed.emit(self.error)
        else:
            self.cancelled.emit()
        self.finished.emit()


class TaskRunner(QObject):
    """Starts Tasks on its own pool and keeps them alive until they finish.

    `busyChanged(bool)` tells the status bar when work starts and stops; `activity(text, done,
    total)` carries the latest progress line. `max_threads=1` gives a serial queue (the predictor).
    """

    busyChanged = Signal(bool)
    activity = Signal(str, int, int)  # text, done, total
    taskFailed = Signal(object, object)  # task, exception (for a global error log)

    PROGRESS_INTERVAL_S = 0.05

    def __init__(self, max_threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool()  # no parent: see _POOLS
        self.pool.setMaxThreadCount(max_threads)
        self.pool.setExpiryTimeout(5000)
        _POOLS.append(self.pool)
        self._tasks: dict[int, Task] = {}
        self._next_id = 0
        self._id = next(_RUNNER_IDS)
        _relay().runners[self._id] = self

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    @property
    def tasks(self) -> list[Task]:
        return list(self._tasks.values())

    def start(self, fn: Callable[..., Any], *args, name: str = "", pass_state: bool = True,
              on_result: Callable[[Any], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              on_progress: Callable[[int, int, str], None] | None = None,
              on_cancel: Callable[[], None] | None = None, **kwargs) -> Task:
        task = Task(name or getattr(fn, "__name__", "task"), self)
        for signal, slot in ((task.succeeded, on_result), (task.failed, on_error),
                             (task.progressed, on_progress), (task.cancelled, on_cancel)):
            if slot is not None:
                signal.connect(slot)
        task_id = self._next_id
        self._next_id += 1
        was_busy = self.busy
        self._tasks[task_id] = task
        if not was_busy:
            self.busyChanged.emit(True)
        self.pool.start(self._job(task_id, fn, args, kwargs, task.state, pass_state))
        return task

    def _job(self, task_id: int, fn, args, kwargs, state: TaskState, pass_state: bool):
        """The callable the pool runs. It drops its references to `fn` and the arguments before it
        reports, so nothing it held can be finalised on the pool thread (see _Relay)."""
        emit = _relay().message.emit
        runner_id, interval = self._id, self.PROGRESS_INTERVAL_S
        last = [0.0]
        work = [fn, args, kwargs]

        def on_progress(done: int, total: int, text: str) -> None:
            now = time.monotonic()
            if now - last[0] >= interval or (total and done >= total):
                last[0] = now
                emit(runner_id, task_id, "progress", (done, total, text))

        state._on_progress = on_progress

        def job() -> None:
            fn_, args_, kwargs_ = work
            work.clear()
            try:
                result = fn_(*args_, state=state, **kwargs_) if pass_state else fn_(*args_, **kwargs_)
                kind, payload = "succeeded", result
                del result
            except Cancelled:
                kind, payload = "cancelled", None
            except BaseException as exc:  # noqa: BLE001 — reported to the GUI, never lost
                kind, payload = "failed", (exc, traceback.format_exc())
                del exc
            del fn_, args_, kwargs_
            emit(runner_id, task_id, kind, payload)

        return job

    def _deliver(self, task_id: int, kind: str, payload: Any) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
        if kind == "progress":
            self.activity.emit(payload[2] or task.name, payload[0], payload[1])
        elif kind == "failed":
            self.taskFailed.emit(task, payload[0])
        if kind != "progress":
            del self._tasks[task_id]
        task._deliver(kind, payload)
        if kind != "progress":
            task.deleteLater()
            if not self._tasks:
                self.busyChanged.emit(False)

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the pool is idle (shutdown, tests). Pending deliveries still need the event loop."""
        return self.pool.waitForDone(timeout_ms)
