"""Reading a record file's bytes with a size cap and readable errors."""
from __future__ import annotations

import os
from pathlib import Path

from engine.records.errors import RecordError

MB = 1024 * 1024


def read_bytes(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The file's bytes; RecordError when it is missing, unreadable, empty or over `limit` bytes."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise RecordError(p, "is a folder, not a record file")
        if size > limit:
            raise RecordError(
                p, f"{size / MB:.1f} MB is over the {limit // MB} MB limit for a {what} file"
            )
        with p.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise RecordError(p, "no such file") from None
    except PermissionError:
        raise RecordError(p, "permission denied") from None
    except IsADirectoryError:
        raise RecordError(p, "is a folder, not a record file") from None
    except OSError as exc:
        raise RecordError(p, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:  # grew while we read it
        raise RecordError(p, f"is over the {limit // MB} MB limit for a {what} file")
    if not data.strip():
        raise RecordError(p, "is empty")
    return data


def looks_binary(data: bytes) -> bool:
    """True for data no text record can be: NUL bytes outside UTF-16, or mostly control bytes."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 1 and (head[0] == 0) != (head[1] == 0)):
        return False  # UTF-16 (with or without a byte-order mark)
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control > len(head) // 20
