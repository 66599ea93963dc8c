"""What-if on one trial, for the CLI as for the window: edits through the same undoable draft the editor
uses (engine/editing.py), the record and its what-if scored together, and the change read in words.

Items are numbered from 1 in record order, disabled ones included, as the criteria editor numbers them.
A numeric edit the model barely reacts to is said to be so: "no change" must not read as "no effect"
(the model reads thresholds, ages and counts in criteria weakly; benchmarks/bench_sensitivity.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from engine.editing import TrialDraft
from engine.errors import CladmopError
from engine.prediction import Prediction
from engine.records.trial import Trial

#: a change smaller than this is "barely moved" (the display's own rounding is 0.01)
BARELY = 0.01
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass
class Edits:
    """What to change, by 1-based item number: leave out (disable), replace the text, add new items."""

    drop: list[int] = field(default_factory=list)
    edit: list[tuple[int, str]] = field(default_factory=list)
    add: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)

    def apply(self, trial: Trial) -> TrialDraft:
        """A draft of `trial` with the edits done (each one undoable, as in the editor)."""
        draft = TrialDraft(trial)
        for number, text in self.edit:
            draft.edit_text(_index(trial, number), text)
        for number in self.drop:
            draft.set_enabled(_index(trial, number), False)
        for kind, text in self.add:
            draft.add(text, kind)
        return draft


def _index(trial: Trial, number: int) -> int:
    if not 1 <= number <= len(trial.criteria):
        raise CladmopError(f"{trial.nct_id or trial.source_path}: no criteria item {number} "
                           f"(the record has {len(trial.criteria)}; `cladmop whatif RECORD --list` numbers them)")
    return number - 1


@dataclass
class WhatIf:
    before: Prediction
    after: Prediction
    draft: TrialDraft

    @property
    def change(self) -> float:
        return self.after.probability - self.before.probability

    @property
    def summary(self) -> str:
        """"0.712 → 0.684 (−0.028)", then the note when the model barely reacted."""
        line = f"{self.before.probability:.3f} → {self.after.probability:.3f} ({self.change:+.3f})"
        note = insensitivity_note(self.draft, self.change)
        return f"{line}\n{note}" if note else line


def what_if(predictor, trial: Trial, edits: Edits, phase: str | None = None, ablate: bool = True) -> WhatIf:
    """The record and its what-if, scored in one batch with the same phase model."""
    draft = edits.apply(trial)
    if not draft.is_modified:
        raise CladmopError("no edit given: use --drop N, --edit N TEXT, --add TEXT or --add-exclusion TEXT")
    chosen = phase or predictor.choose_phase(trial)[0]
    before, after = predictor.predict_many([trial, draft.snapshot()], phase=chosen, ablate=ablate)
    for result in (before, after):
        if isinstance(result, Exception):
            raise result
    return WhatIf(before, after, draft)


def insensitivity_note(draft: TrialDraft, change: float) -> str:
    """Words for a change the model barely registers, naming numbers when only numbers were edited."""
    if abs(change) >= BARELY:
        return ""
    edited = draft.diff().edited
    numbers_only = bool(edited) and all(_NUMBER.sub("#", e.before.text) == _NUMBER.sub("#", e.after.text)
                                        for e in edited if e.before is not None and e.after is not None)
    what = "a change of numbers (thresholds, ages, counts)" if numbers_only else "this change"
    return (f"The model barely reacts to {what} (Δ {change:+.3f}): it reads such details of the criteria "
            f"weakly, so a small change here does not mean the edit has no effect on a real trial.")


def numbered_items(trial: Trial) -> list[str]:
    """"3. [exclusion] Pregnant or breast-feeding" for every item, "(off)" on disabled ones."""
    return [f"{i}. [{c.kind}]{' (off)' if not c.enabled else ''} {c.text}" for i, c in enumerate(trial.criteria, 1)]


def parse_edits(drop: Sequence[int] = (), edit: Sequence[Sequence[str]] = (), add: Sequence[str] = (),
                add_exclusion: Sequence[str] = ()) -> Edits:
    """The CLI's arguments as Edits (`edit`: pairs of item number and new text)."""
    pairs = []
    for number, text in edit:
        if not number.strip().isdigit():
            raise CladmopError(f"--edit takes an item number then the new text, not {number!r}")
        pairs.append((int(number), text))
    return Edits(list(drop), pairs, [("inclusion", t) for t in add] + [("exclusion", t) for t in add_exclusion])
