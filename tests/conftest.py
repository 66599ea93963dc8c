"""Suite-wide guards: no test may open a network connection (nothing leaves the analyst's machine)."""
from __future__ import annotations

import gc
import os
import socket

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkAccessError(AssertionError):
    pass


def _guard(self, address, *args):
    if self.family == getattr(socket, "AF_UNIX", None):
        return _real_connect(self, address, *args)
    raise NetworkAccessError(f"a test tried to open a network connection to {address!r}")


def _guard_ex(self, address, *args):
    if self.family == getattr(socket, "AF_UNIX", None):
        return _real_connect_ex(self, address, *args)
    raise NetworkAccessError(f"a test tried to open a network connection to {address!r}")


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    socket.socket.connect = _guard
    socket.socket.connect_ex = _guard_ex
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory, monkeypatch):
    """Tests never touch the real ~/.cladmop; the encoder cache is shared across the session (speed)."""
    monkeypatch.setenv("CLADMOP_HOME", str(tmp_path_factory.getbasetemp() / "cladmop-home"))
    monkeypatch.setenv("CLADMOP_CACHE", os.environ.get("CLADMOP_TEST_CACHE")
                       or str(tmp_path_factory.getbasetemp() / "cladmop-cache"))


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread(request):
    """As the application does (desktop/gc_guard.py): never let the cyclic collector run in a worker
    thread, where freeing a Qt object deadlocks against the GUI thread."""
    if "qtbot" in request.fixturenames or "qapp" in request.fixturenames:
        from desktop import gc_guard

        gc_guard.install(request.getfixturevalue("qapp"))
    yield
    gc.collect()
