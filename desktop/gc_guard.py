"""Garbage collection on the GUI thread only.

Python's cyclic collector runs in whichever thread happens to allocate. When it runs in a worker thread
and frees a Qt object caught in a reference cycle, the C++ destructor runs there, takes Qt's locks and
waits for the GIL while the GUI thread holds the GIL and waits for those locks: a deadlock (seen in
the fine-tuning wizard's worker). The usual remedy (PyQt/PySide applications do the same): turn the
automatic collector off and collect from a timer on the GUI thread.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 500):
        super().__init__(parent)
        self._threshold = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)

    def check(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds, as gc would."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._threshold[generation]:
                gc.collect(generation)
                break


def install(app) -> MainThreadGarbageCollector:
    guard = getattr(app, "_cladmop_gc_guard", None)
    if guard is None:
        guard = MainThreadGarbageCollector(app)
        app._cladmop_gc_guard = guard
    return guard
