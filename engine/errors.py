"""Engine-wide error types with messages meant for the analyst: one root, `CladmopError`, which the CLI
prints and the window shows as is. Anything else that escapes is a bug and keeps its traceback
(`cladmop --debug` shows it for the errors here too)."""
from __future__ import annotations


class CladmopError(RuntimeError):
    """A failure with a message the CLI prints and the GUI shows as is."""


class InputError(CladmopError, ValueError):
    """Something the user gave that cannot be used (a record, a file, a setting, too few trials); the
    message names it and says why. A ValueError too, as callers in Python expect of bad input."""


class ModelError(CladmopError):
    """A checkpoint or backbone that cannot be loaded (missing file, bad checksum, wrong config)."""


class Cancelled(CladmopError):
    """Long work stopped on the user's request; partial results were saved where stated."""


__all__ = ["CladmopError", "InputError", "ModelError", "Cancelled"]
