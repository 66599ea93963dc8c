"""What-if on one trial, for the CLI as for the window: edits through the same undoable draft the editor
uses (engine/editing.py), the record and its what-if scored together, and the change read in words.

Items are numbered from 1 in record order, disabled ones included, as the criteria editor numbers them.
Drugs and conditions may be added (by name, the lookups resolve them; or NAME=SMILES, NAME=ICD10),
removed or replaced (by number in the resolved record, `--list` numbers them, or by name: a regimen's name
removes all its drugs). Every number means the record's own list, whatever else is edited.
A numeric edit the model barely reacts to is said to be so: "no change" must not read as "no effect"
(the language model reads thresholds, ages and counts in criteria weakly; benchmarks/bench_sensitivity.py).
Where the model's eligibility-thresholds member reads the edited threshold, the note says so, and how far
that member moved.
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
    replace_drugs: list[tuple[str, str, str]] = field(default_factory=list)  # (number or name, name, SMILES)
    replace_conditions: list[tuple[str, str, str]] = field(default_factory=list)  # (number or name, name, ICD-10)

    @property
    def touches_interventions(self) -> bool:
        """Drug or condition edits need the record resolved first (numbers refer to the resolved lists)."""
        return bool(self.add_drugs or self.remove_drugs or self.add_conditions or self.remove_conditions
                    or self.replace_drugs or self.replace_conditions)

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
        """Removals and replacements, each list's numbers read against the record's list; then additions."""
        _remove_and_replace(draft, "drug", self.remove_drugs, self.replace_drugs, resolver)
        _remove_and_replace(draft, "condition", self.remove_conditions, self.replace_conditions, resolver)
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


def _remove_and_replace(draft: TrialDraft, what: str, removals: Sequence[str],
                        replacements: Sequence[tuple[str, str, str]], resolver) -> None:
    """Removals leave at once, then replacements go in from the last item up: a regimen put in one's place
    moves no item another edit names."""
    items = draft.edited.drugs if what == "drug" else draft.edited.conditions
    replaced = _replacements(items, replacements, what)
    removed = sorted({i for ref in removals for i in _matching(items, ref, what)})
    if both := sorted(set(replaced) & set(removed)):
        raise CladmopError(f"{what} {both[0] + 1} is both replaced and removed; keep one of the two edits")
    if removed:
        (draft.remove_drugs if what == "drug" else draft.remove_conditions)(removed)
    for index, (name, value) in sorted(replaced.items(), reverse=True):
        index -= sum(r < index for r in removed)
        if what == "drug":
            draft.replace_drug(index, resolved_drugs(resolver, name, value), label=name)
        else:
            draft.replace_condition(index, resolved_condition(resolver, name, value))


def _replacements(items: Sequence, replace: Sequence[tuple[str, str, str]], what: str) -> dict[int, tuple[str, str]]:
    """{index in the record's list: (new name, its SMILES or ICD-10 code)}; a name naming several items
    (a regimen) is refused: which of them to replace is the analyst's to say."""
    out: dict[int, tuple[str, str]] = {}
    for ref, name, value in replace:
        found = _matching(items, ref, what)
        if len(found) > 1:
            raise CladmopError(f"{ref!r} names {len(found)} {what}s of this trial; replace one of them by number")
        if found[0] in out:
            raise CladmopError(f"{what} {found[0] + 1} is replaced twice")
        out[found[0]] = (name, value)
    return out


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
        note = insensitivity_note(self.draft, self.change, (self.before.members, self.after.members))
        return f"{line}\n{note}" if note else line


def what_if(predictor, trial: Trial, edits: Edits, phase: str | None = None, ablate: bool = True) -> WhatIf:
    """The record and its what-if, scored in one batch with the same phase model."""
    if edits.touches_interventions:
        trial = predictor.prepare(trial)
    draft = edits.apply(trial, getattr(predictor, "resolver", None))
    if not draft.is_modified:
        raise CladmopError("no edit given: use --drop N, --edit N TEXT, --add TEXT, --add-exclusion TEXT, "
                           "--add-drug NAME, --remove-drug N, --replace-drug N NAME, --add-condition NAME, "
                           "--remove-condition N or --replace-condition N NAME")
    chosen = phase or predictor.choose_phase(trial)[0]
    before, after = predictor.predict_many([trial, draft.snapshot()], phase=chosen, ablate=ablate)
    for result in (before, after):
        if isinstance(result, Exception):
            raise result
    return WhatIf(before, after, draft)


def insensitivity_note(draft: TrialDraft, change: float, members: tuple[dict, dict] | None = None) -> str:
    """Words for a change the model barely registers. `members`: the recorded and the what-if predictions'
    member probabilities; an edited threshold that the eligibility-thresholds member reads is said to be
    read, with that member's move; other numbers and words are said to be read weakly."""
    if abs(change) >= BARELY:
        return ""
    if moved := _threshold_member_move(draft, members):
        return (f"The model reads this threshold: its eligibility-thresholds member moved {moved}. The combined "
                f"number moved {change:+.3f}: its other members read the criteria's words, which barely changed.")
    edited = draft.diff().edited
    numbers_only = bool(edited) and all(_NUMBER.sub("#", e.before.text) == _NUMBER.sub("#", e.after.text)
                                        for e in edited if e.before is not None and e.after is not None)
    what = "a change of numbers (thresholds, ages, counts)" if numbers_only else "this change"
    return (f"The model barely reacts to {what} (Δ {change:+.3f}): it reads such details of the criteria "
            f"weakly, so a small change here does not mean the edit has no effect on a real trial.")


def _threshold_member_move(draft: TrialDraft, members: tuple[dict, dict] | None) -> str:
    """"0.862 → 0.846" when the model has a thresholds member and the edits changed a threshold it reads."""
    from engine.model.ensemble import THRESHOLDS

    if not members or any(THRESHOLDS not in m for m in members):
        return ""
    from engine.features.thresholds import eligibility_thresholds

    if eligibility_thresholds(draft.original) == eligibility_thresholds(draft.snapshot()):
        return ""
    before, after = (m[THRESHOLDS] for m in members)
    return f"{before:.3f} → {after:.3f}"


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
                add_condition: Sequence[str] = (), remove_condition: Sequence[str] = (),
                replace_drug: Sequence[Sequence[str]] = (), replace_condition: Sequence[Sequence[str]] = ()) -> Edits:
    """The CLI's arguments as Edits (`edit`: pairs of item number and new text; `replace_*`: pairs of number
    or name and NAME[=SMILES] / NAME[=ICD10])."""
    pairs = []
    for number, text in edit:
        if not number.strip().isdigit():
            raise CladmopError(f"--edit takes an item number then the new text, not {number!r}")
        pairs.append((int(number), text))
    return Edits(list(drop), pairs, [("inclusion", t) for t in add] + [("exclusion", t) for t in add_exclusion],
                 _name_value(add_drug), list(remove_drug), _name_value(add_condition), list(remove_condition),
                 [(ref, *name_value(new)) for ref, new in replace_drug],
                 [(ref, *name_value(new)) for ref, new in replace_condition])


def _name_value(values: Sequence[str]) -> list[tuple[str, str]]:
    return [name_value(v) for v in values]


def name_value(text: str) -> tuple[str, str]:
    """"NAME=VALUE" (a drug and its SMILES, a condition and its ICD-10 code) → (NAME, VALUE); a plain
    name → (NAME, ""). How the CLI's flags and the window's dialogs read what the analyst typed."""
    name, _, value = text.partition("=")
    return name.strip(), value.strip()
