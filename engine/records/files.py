"""Reading a record file's bytes with a size cap and readable errors."""
from __future__ import annotations

import os
from pathlib import Path

from engine.records.errors import RecordError

from engine.records.limits import MB
#: bytes that text holds: tab, newline, carriage return, form feed, printable ASCII, and any
#: byte of a multi-byte or legacy 8-bit encoding
_TEXT_BYTES = bytes([9, 10, 11, 12, 13, *range(32, 127), *range(128, 256)])
_ASCII_TEXT = bytes([9, 10, 13, *range(32, 127)])


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
            # read(n) reserves n bytes up front: ask for the file's size, not the limit
            data = handle.read(size + 1)
            if len(data) > size:  # it grew since stat(): read on, up to the limit
                data += handle.read(limit + 1 - len(data))
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
    if looks_utf16(head):
        return False
    if b"\x00" in head:
        return True
    control = len(head.translate(None, _TEXT_BYTES))  # what is left: control bytes
    return control > len(head) // 20


def looks_utf16(head: bytes) -> bool:
    """A byte-order mark, or ASCII text with every other byte zero (UTF-16 without a mark)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    sample = head[:256]
    if len(sample) < 8:
        return False
    for zeros, chars in ((sample[0::2], sample[1::2]), (sample[1::2], sample[0::2])):
        printable = len(chars) - len(chars.translate(None, _ASCII_TEXT))
        if zeros.count(0) >= 0.9 * len(zeros) and printable >= 0.9 * len(chars):
            return True
    return False
