"""Atomic file and folder writes: a crash leaves the old version or the new one, never half of one."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

#: test-only crash point (tests/test_hardening_kill.py): "<path suffix>" or "<path suffix>@<n>" makes the
#: process stop, right before its n-th (default first) swap of a finished file or folder whose path ends
#: with the suffix, after printing "cladmop-test: paused before replacing <path>" on stderr, so that a test
#: can SIGKILL it at the worst moment. Unset in normal use (one getenv per write).
PAUSE_ENV = "CLADMOP_TEST_PAUSE_BEFORE_REPLACE"
_pause_counts: dict[str, int] = {}


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask() is process-wide, racy under threads


def pause_point(target: Path) -> None:
    """The test-only crash point described at `PAUSE_ENV`; returns at once when it is not set."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted:
        return
    suffix, _, nth = wanted.partition("@")
    if str(target).endswith(suffix):
        _pause_counts[suffix] = _pause_counts.get(suffix, 0) + 1
        if _pause_counts[suffix] == int(nth or 1):
            print(f"cladmop-test: paused before replacing {target}", file=sys.stderr, flush=True)
            time.sleep(600)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", **open_kwargs):
    """A file to write (at once or piece by piece, for outputs too large to hold in memory); it replaces
    `path` only when the block completes, so readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the final file gets normal permissions
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        pause_point(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_text_writer(path: Path, newline: str | None = ""):
    """`atomic_file` for text (UTF-8)."""
    return atomic_file(path, "w", encoding="utf-8", newline=newline)


@contextlib.contextmanager
def atomic_directory(path: Path):
    """Yield a temporary folder; on success it replaces `path` whole (old copy removed after the swap)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        replace_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_directory(staging: Path, target: Path) -> None:
    """Put the finished folder `staging` at `target`; an old `target` is moved aside, then removed."""
    staging, target = Path(staging), Path(target)
    pause_point(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
