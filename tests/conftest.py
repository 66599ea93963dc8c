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

from engine.paths import shared_data_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Private user folders from import on, for the whole session: module- and session-scoped fixtures run
# before any per-test fixture, so they must not fall back on ~/.cladmop either.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="cladmop-tests-"))
SESSION_HOME = str(_SESSION_DIR / "cladmop-home")
SESSION_CACHE = os.environ.get("CLADMOP_TEST_CACHE") or str(_SESSION_DIR / "cladmop-cache")
os.environ["CLADMOP_HOME"], os.environ["CLADMOP_CACHE"] = SESSION_HOME, SESSION_CACHE
# Without the development data (whose lookups/ is the default reference folder) drug names resolve
# through the suite's own small name -> SMILES table, so the suite sees resolved drugs either way.
if shared_data_dir() is None:
    os.environ.setdefault("CLADMOP_LOOKUP_FOLDERS", str(Path(__file__).resolve().parent / "data" / "lookups"))
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


def pytest_runtest_setup(item):
    """`@pytest.mark.real_data` tests need the development data; everything else runs on tests/data too."""
    if item.get_closest_marker("real_data") is not None:
        if shared_data_dir() is None:
            from tests.data_sources import REAL_DATA_REASON

            pytest.skip(REAL_DATA_REASON)


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


# -- one fixture per concept: the tiny model, its predictor, main windows ------------------------------
@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory):
    """A model with phase I and II adapters trained on TOP-format rows (tests/gui_helpers.build_tiny_model),
    built once per session."""
    from tests.gui_helpers import build_tiny_model

    basetemp = tmp_path_factory.getbasetemp()
    return build_tiny_model(basetemp / "gui-tiny-model", basetemp)


@pytest.fixture
def tiny_model(tiny_model_files, monkeypatch):
    """The tiny model's files, with CLADMOP_RESOURCES pointing at its ICD table for this test."""
    monkeypatch.setenv("CLADMOP_RESOURCES", str(tiny_model_files["resources"]))
    return tiny_model_files


@pytest.fixture(scope="session")
def tiny_predictor(tiny_model_files, tmp_path_factory):
    """The tiny model loaded once per session (CPU)."""
    from engine.predict import Predictor
    from tests.gui_helpers import session_env

    with session_env(tmp_path_factory.getbasetemp(), tiny_model_files["resources"]):
        return Predictor.load(tiny_model_files["model"], device="cpu")


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Main windows on workspaces under tmp_path, each with settings of its own (or `settings`), shown.

    `predictor`: the model the window loads; it waits until the window says it is ready. Without one no
    model loads, unless `load_model`, `model_loader` or `model_factory` are given (then `wait_ready=True`
    waits for the load to end, ready or not)."""
    from desktop.main_window import MainWindow
    from tests.gui_helpers import make_settings

    def make(workspace=None, predictor=None, *, settings=None, wait_ready=None, **kwargs):
        if predictor is not None:
            kwargs["model_loader"] = lambda: predictor
        elif not {"load_model", "model_loader", "model_factory"} & kwargs.keys():
            kwargs["load_model"] = False
        window = MainWindow(workspace_path=workspace or tmp_path / "w.cladmop",
                            settings=settings if settings is not None else make_settings(tmp_path), **kwargs)
        qtbot.addWidget(window)
        window.show()
        if wait_ready if wait_ready is not None else predictor is not None:
            qtbot.waitUntil(lambda: window.predictions.status in ("ready", "failed", "unavailable"),
                            timeout=300000)
            assert window.predictions.ready, window.predictions.status_text
        return window
    return make


@pytest.fixture
def window(make_window, tiny_predictor, tiny_model):
    """A main window on a fresh workspace, with the tiny model loaded and ready."""
    return make_window(predictor=tiny_predictor)

