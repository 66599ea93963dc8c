"""Deleting a runner (with its window) while a job still runs never blocks the GUI thread."""
from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject

from desktop.workers import TaskRunner

pytestmark = pytest.mark.gui


def test_deleting_a_runner_with_a_running_job_returns_at_once(qtbot):
    owner = QObject()
    runner = TaskRunner(parent=owner)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(state=None):
        started.set()
        release.wait(10)  # a job between two cancellation checks
        finished.set()
        return "done"

    runner.start(slow)
    assert started.wait(5)
    start = time.monotonic()
    owner.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    assert time.monotonic() - start < 1.0  # the old layout waited here for the job
    release.set()
    assert finished.wait(5)  # the job still ends normally; its report finds no runner and is dropped
    qtbot.wait(50)
