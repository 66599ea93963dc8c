"""Engine-wide error types with messages meant for the analyst: one root, `CladmopError`, which the CLI
prints and the window shows as is. Anything else that escapes is a bug and keeps its traceback
(`cladmop --debug` shows it for the errors here too)."""
from __future__ import annotations


#: what an analyst can do about an error or a note, as a key: each front end words it in its own terms
#: (the CLI names its option, the window its control), so engine messages name neither
CHOOSE_PHASE = "choose_phase"


class CladmopError(RuntimeError):
    """A failure with a message the CLI prints and the GUI shows as is; `action`, when given, is what
    the analyst can do about it (a key such as CHOOSE_PHASE, worded by each front end: `worded`)."""

    def __init__(self, *args, action: str = ""):
        super().__init__(*args)
        self.action = action


class Advice(str):
    """A note for the analyst (a plain str) that also names what they can do about it (`action`)."""

    action: str

    def __new__(cls, text: str, action: str = ""):
        note = super().__new__(cls, text)
        note.action = action
        return note


def worded(message, words: dict[str, str]) -> str:
    """`message` (an error or a note) with what the analyst can do, in a front end's `words`."""
    action = getattr(message, "action", "")  # a plain str or a foreign error names no action
    return f"{message}; {words[action]}" if action in words else str(message)


class InputError(CladmopError, ValueError):
    """Something the user gave that cannot be used (a record, a file, a setting, too few trials); the
    message names it and says why. A ValueError too, as callers in Python expect of bad input."""


class ModelError(CladmopError):
    """A checkpoint or backbone that cannot be loaded (missing file, bad checksum, wrong config)."""


class Cancelled(CladmopError):
    """Long work stopped on the user's request; partial results were saved where stated."""


__all__ = ["CladmopError", "InputError", "ModelError", "Cancelled", "Advice", "worded", "CHOOSE_PHASE"]
