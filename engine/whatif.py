"""What-if on one trial, for the CLI as for the window: edits through the same undoable draft the editor
uses (engine/editing.py), the record and its what-if scored together, and the change read in words.

Items are numbered from 1 in record order, disabled ones included, as the criteria editor numbers them.
Drugs and conditions may be added (by name, the lookups resolve them; or NAME=SMILES, NAME=ICD10) and
removed (by number in the resolved record, `--list` numbers them, or by name: a regimen's name removes
all its drugs).
A numeric edit the model barely reacts to is said to be so: "no change" must not read as "no effect"
(the model reads thresholds, ages and counts in criteria weakly; benchmarks/bench_sensitivity.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from engine.editing import TrialDraft
from engine.errors import CladmopError
from engine.lookups.drug_names import compact
from engine.lookups.drug_regimens import regimen_lines
from engine.prediction import Prediction
from engine.records.trial import Condition, Drug, Trial
from engine.records.typed import typed_condition, typed_drug

#: a change smaller than this is "barely moved" (the display's own rounding is 0.01)
BARELY = 0.01
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass
class Edits:
    """What to change, by 1-based item number: leave out (disable), replace the text, add new items."""

    drop: list[int] = field(default_factory=list)
    edit: list[tuple[int, str]] = field(default_factory=list)
    add: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    add_drugs: list[tuple[str, str]] = field(default_factory=list)  # (name, SMILES or "")
    remove_drugs: list[str] = field(default_factory=list)  # item number or name
    add_conditions: list[tuple[str, str]] = field(default_factory=list)  # (name, ICD-10 code or "")
    remove_conditions: list[str] = field(default_factory=list)

    @property
    def touches_interventions(self) -> bool:
        """Drug or condition edits need the record resolved first (numbers refer to the resolved lists)."""
        return bool(self.add_drugs or self.remove_drugs or self.add_conditions or self.remove_conditions)

    def apply(self, trial: Trial, resolver=None) -> TrialDraft:
        """A draft of `trial` with the edits done (each one undoable, as in the editor); `resolver`
        (engine.lookups.resolve.Resolver) looks up added drugs and conditions."""
        draft = TrialDraft(trial)
        for number, text in self.edit:
            draft.edit_text(_index(trial, number), text)
        for number in self.drop:
            draft.set_enabled(_index(trial, number), False)
        for kind, text in self.add:
            draft.add(text, kind)
        self._apply_interventions(draft, resolver)
        return draft

    def _apply_interventions(self, draft: TrialDraft, resolver) -> None:
        """Removals first, all at once, so every number means the record's list; then the additions."""
        if self.remove_drugs:
            draft.remove_drugs([i for ref in self.remove_drugs for i in _matching(draft.edited.drugs, ref, "drug")])
        if self.remove_conditions:
            draft.remove_conditions([i for ref in self.remove_conditions
                                     for i in _matching(draft.edited.conditions, ref, "condition")])
        for name, smiles in self.add_drugs:
            draft.add_drugs(resolved_drugs(resolver, name, smiles), label=name)
        for name, code in self.add_conditions:
            draft.add_condition(resolved_condition(resolver, name, code))


def resolved_drugs(resolver, name: str, smiles: str = "") -> list[Drug]:
    """What a typed drug stands for (a regimen is several), as the record's drugs were resolved."""
    drug = typed_drug(name, smiles)
    return resolver.drugs_for(drug) if resolver is not None else [drug]


def resolved_condition(resolver, name: str, code: str = "") -> Condition:
    """A typed condition with its ICD-10 codes (the analyst's code, else the lookup's)."""
    condition = typed_condition(name, code)
    return resolver.condition_for(condition) if resolver is not None else condition


def _matching(items: Sequence, ref: str, what: str) -> list[int]:
    """Indexes `ref` names: a 1-based number, or a name (for drugs also a regimen's name: all its drugs)."""
    ref = ref.strip()
    if ref.isdigit() and 1 <= int(ref) <= len(items):
        return [int(ref) - 1]
    key = compact(ref)
    found = [i for i, x in enumerate(items) if key and key in (compact(x.name), compact(getattr(x, "regimen", "") or ""))]
    if not found:
        listed = ", ".join(f"{i}. {x.name}" for i, x in enumerate(items, 1)) or "none"
        raise CladmopError(f"no {what} {ref!r} in this trial (its {what}s: {listed})")
    return found


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
    if edits.touches_interventions:
        trial = predictor.prepare(trial)
    draft = edits.apply(trial, getattr(predictor, "resolver", None))
    if not draft.is_modified:
        raise CladmopError("no edit given: use --drop N, --edit N TEXT, --add TEXT, --add-exclusion TEXT, "
                           "--add-drug NAME, --remove-drug N, --add-condition NAME or --remove-condition N")
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


def numbered_interventions(trial: Trial) -> list[str]:
    """"drug 2. fluorouracil (small molecule, from FOLFOX)", then the regimens, then the conditions."""
    drugs = [f"drug {i}. {d.name} ({d.kind}{', from ' + d.regimen if d.regimen else ''})"
             for i, d in enumerate(trial.drugs, 1)]
    conditions = [f"condition {i}. {c.name} ({', '.join(c.icd10) or 'no ICD-10 code'})"
                  for i, c in enumerate(trial.conditions, 1)]
    return drugs + [f"regimen {line}" for line in regimen_lines(trial.drugs)] + conditions


def parse_edits(drop: Sequence[int] = (), edit: Sequence[Sequence[str]] = (), add: Sequence[str] = (),
                add_exclusion: Sequence[str] = (), add_drug: Sequence[str] = (), remove_drug: Sequence[str] = (),
                add_condition: Sequence[str] = (), remove_condition: Sequence[str] = ()) -> Edits:
    """The CLI's arguments as Edits (`edit`: pairs of item number and new text; NAME[=SMILES], NAME[=ICD10])."""
    pairs = []
    for number, text in edit:
        if not number.strip().isdigit():
            raise CladmopError(f"--edit takes an item number then the new text, not {number!r}")
        pairs.append((int(number), text))
    return Edits(list(drop), pairs, [("inclusion", t) for t in add] + [("exclusion", t) for t in add_exclusion],
                 _name_value(add_drug), list(remove_drug), _name_value(add_condition), list(remove_condition))


def _name_value(values: Sequence[str]) -> list[tuple[str, str]]:
    return [name_value(v) for v in values]


def name_value(text: str) -> tuple[str, str]:
    """"NAME=VALUE" (a drug and its SMILES, a condition and its ICD-10 code) → (NAME, VALUE); a plain
    name → (NAME, ""). How the CLI's flags and the window's dialogs read what the analyst typed."""
    name, _, value = text.partition("=")
    return name.strip(), value.strip()
