"""Command-line argument types, defined once: a bad value is refused by argparse at parse time (exit 2,
one line naming the option), before any model is loaded or any record scored."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import CladmopError


def positive_int(text: str) -> int:
    """1, 2, ...: counts of epochs, bootstrap samples, batch sizes (0 would do nothing or divide by 0)."""
    return _int_at_least(text, 1, "a whole number of 1 or more")


def non_negative_int(text: str) -> int:
    """0, 1, 2, ...: counts where 0 means "none" (items to list, epochs of a stage that may be skipped)."""
    return _int_at_least(text, 0, "a whole number of 0 or more")


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def output_file(text: str) -> Path:
    """A file to write: refused at once when it is a folder (the results would be lost after the work)."""
    from engine.atomic import check_file_target

    try:
        return check_file_target(Path(text))
    except CladmopError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
