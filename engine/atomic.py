"""Atomic file and folder writes: a crash leaves the old version or the new one, never half of one."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask() is process-wide, racy under threads


def before_swap(target: Path) -> None:
    """Called right before a finished file or folder replaces `target`; does nothing. The moment a crash
    hurts most, so the kill tests replace this function in their child processes (tests/crash_point.py)."""


def check_file_target(path: Path) -> Path:
    """`path`, when a file can be written there; CladmopError naming it when it is a folder or lies
    under a file. Callers check before long work, so that its results are not lost at the end."""
    from engine.errors import CladmopError

    path = Path(path)
    if path.is_dir():
        raise CladmopError(f"{path}: is a folder; give the name of a file to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CladmopError(f"{path}: cannot be written: {parent} is a file, not a folder")
            break
    return path


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", **open_kwargs):
    """A file to write (at once or piece by piece, for outputs too large to hold in memory); it replaces
    `path` only when the block completes, so readers see the old file or the whole new one."""
    path = check_file_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # temp files are 0600; the final file gets normal permissions
        with os.fdopen(fd, mode, closefd=False, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        before_swap(path)
        tmp = tmp or _link_unnamed(fd, path)
        os.replace(tmp, path)
    except BaseException:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def _open_temp(path: Path) -> tuple[int, str | None]:
    """(fd, None) for an unnamed file in `path`'s folder (Linux O_TMPFILE): a writer killed at any
    moment leaves nothing behind. Elsewhere (fd, name) of a hidden `.<name>.*.tmp` file."""
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # a file system without unnamed files: a named one
            return os.open(path.parent, os.O_TMPFILE | os.O_RDWR, 0o600), None
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def _link_unnamed(fd: int, path: Path) -> str:
    """A hidden name beside `path` for the finished unnamed file `fd`, swapped in at once after.
    (A folder fd makes os.link call linkat(AT_SYMLINK_FOLLOW), which follows /proc/self/fd/N.)"""
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            name = f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            with contextlib.suppress(FileExistsError):
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=folder, follow_symlinks=True)
                return str(path.with_name(name))
    except OSError:  # a file system that makes unnamed files but cannot name them: copy
        return _copy_to_named(fd, path)
    finally:
        os.close(folder)


def _copy_to_named(fd: int, path: Path) -> str:
    """The contents of `fd` in a hidden named file beside `path` (synced), for the swap."""
    named, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(named, 0o666 & ~_UMASK)
    with open(fd, "rb", closefd=False) as source, os.fdopen(named, "wb") as copy:
        source.seek(0)
        shutil.copyfileobj(source, copy, 1 << 20)
        copy.flush()
        os.fsync(copy.fileno())
    return tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value, replacing: Iterable[Path] = ()) -> None:
    """Compact UTF-8 JSON: what the caches keep (data only; nothing read back can run code). Once it is
    written, the files in `replacing` (older versions of the same entry) other than `path` are removed."""
    import json

    atomic_write_text(path, json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    for older in replacing:
        if older != path:
            older.unlink(missing_ok=True)


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
    before_swap(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
