"""Errors a user can read: each names the file and the problem, never a bare traceback."""
from __future__ import annotations

from engine.errors import InputError


class RecordError(InputError):
    """A record file that cannot be read. `str()` is the message shown to the user."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class NotADrugTrial(RecordError):
    """A readable record the model cannot score (observational study, no drug intervention)."""
