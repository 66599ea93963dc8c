"""Suite-wide guards: no test may open a network connection (nothing leaves the analyst's machine),
and nothing in the suite writes to the user's real ~/.cladmop (SECURITY.md)."""
from __future__ import annotations

import atexit
import gc
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Private user folders from import on, for the whole session: module- and session-scoped fixtures run
# before any per-test fixture, so they must not fall back on ~/.cladmop either.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="cladmop-tests-"))
SESSION_HOME = str(_SESSION_DIR / "cladmop-home")
SESSION_CACHE = os.environ.get("CLADMOP_TEST_CACHE") or str(_SESSION_DIR / "cladmop-cache")
os.environ["CLADMOP_HOME"], os.environ["CLADMOP_CACHE"] = SESSION_HOME, SESSION_CACHE
# Qt's settings and any other per-user configuration: never the user's ~/.config (issue 20.2: a GUI test
# once left the shared settings pointing the analyst's workspace into a pytest folder); children inherit it
os.environ["XDG_CONFIG_HOME"] = str(_SESSION_DIR / "config")
atexit.register(shutil.rmtree, _SESSION_DIR, True)

REAL_USER_DIR = str(Path.home() / ".cladmop")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
real_home_writes: list[str] = []


def writes_real_user_dir(event: str, args: tuple) -> str | None:
    """The path, when audit event `event` writes under the real ~/.cladmop (else None)."""
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None))[:3]
        writing = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & _WRITE_FLAGS)
    elif event in ("sqlite3.connect", "os.mkdir", "os.rename", "os.replace", "os.remove", "shutil.rmtree"):
        path, writing = args[0] if args else None, True
    else:
        return None
    if not writing or not isinstance(path, (str, bytes, os.PathLike)):
        return None
    text = os.fsdecode(path)
    return text if text == REAL_USER_DIR or text.startswith(REAL_USER_DIR + os.sep) else None


def _audit(event: str, args: tuple) -> None:
    if event in ("open", "sqlite3.connect", "os.mkdir", "os.rename", "os.replace", "os.remove", "shutil.rmtree"):
        path = writes_real_user_dir(event, args)
        if path:
            real_home_writes.append(f"{event} {path}")


sys.addaudithook(_audit)  # audit hooks cannot be removed: it lives as long as the test process


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when any test wrote under the real ~/.cladmop (checked in this process)."""
    if real_home_writes:
        sys.stderr.write("\nThe suite wrote under the real " + REAL_USER_DIR + ":\n  "
                         + "\n  ".join(sorted(set(real_home_writes))[:20]) + "\n")
        session.exitstatus = 1

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


_real_sendto = socket.socket.sendto
_real_getaddrinfo = socket.getaddrinfo


def _guard_sendto(self, data, *args):
    if self.family == getattr(socket, "AF_UNIX", None):
        return _real_sendto(self, data, *args)
    raise NetworkAccessError(f"a test tried to send a datagram to {args[-1]!r}")


def _guard_getaddrinfo(host, *args, **kwargs):
    """Name lookups (DNS) leave the machine; local names and literal addresses do not."""
    name = host.decode() if isinstance(host, bytes) else host
    if name not in (None, "", "localhost") and not _is_address(name):
        raise NetworkAccessError(f"a test tried to look up the host name {name!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _is_address(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    socket.socket.connect, socket.socket.connect_ex = _guard, _guard_ex
    socket.socket.sendto, socket.getaddrinfo = _guard_sendto, _guard_getaddrinfo
    yield
    socket.socket.connect, socket.socket.connect_ex = _real_connect, _real_connect_ex
    socket.socket.sendto, socket.getaddrinfo = _real_sendto, _real_getaddrinfo


@pytest.fixture(autouse=True)
def _private_user_dirs(monkeypatch):
    """Tests never touch the real ~/.cladmop; the encoder cache is shared across the session (speed).
    Set again per test so that a test changing them does not leak into the next."""
    monkeypatch.setenv("CLADMOP_HOME", SESSION_HOME)
    monkeypatch.setenv("CLADMOP_CACHE", SESSION_CACHE)


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread(request):
    """As the application does (desktop/gc_guard.py): never let the cyclic collector run in a worker
    thread, where freeing a Qt object deadlocks against the GUI thread."""
    if "qtbot" in request.fixturenames or "qapp" in request.fixturenames:
        from desktop import gc_guard

        gc_guard.install(request.getfixturevalue("qapp"))
    yield
    gc.collect()
