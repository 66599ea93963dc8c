"""Engine-wide error types with messages meant for the analyst."""
from __future__ import annotations

from engine.records.errors import NotADrugTrial, RecordError


class CladmopError(RuntimeError):
    """A failure with a message the CLI prints and the GUI shows as is."""


class ModelError(CladmopError):
    """A checkpoint or backbone that cannot be loaded (missing file, bad checksum, wrong config)."""


class Cancelled(CladmopError):
    """Long work stopped on the user's request; partial results were saved where stated."""


__all__ = ["CladmopError", "ModelError", "Cancelled", "RecordError", "NotADrugTrial"]
