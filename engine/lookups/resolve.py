"""Fill a Trial's drugs (SMILES, kind, source) and conditions (ICD-10 codes) from the lookups.

The result is a copy (`Trial.replace`); the record as read stays untouched for diffs and undo.
What the user set by hand is kept: a drug whose source is the user's ("user", "user library"),
a condition whose match is "user". A named regimen ("FOLFOX") becomes its drugs, each remembering the
regimen (`Drug.regimen`, kept when the trial is resolved again). Everything the lookups could not resolve is listed in `trial.unresolved`.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable

from engine.lookups.conditions import ConditionLookup
from engine.lookups.drugs import USER_SOURCE, DrugLookup
from engine.records.trial import Condition, Drug, Trial

_LOOKUP_LINE_PREFIXES = ("drug '", "condition '")


def is_user_drug(drug: Drug) -> bool:
    """Set by the user (a pasted SMILES, or "biologic, no structure"): never overwritten."""
    return (drug.source or "").startswith(("user", USER_SOURCE))


class Resolver:
    def __init__(self, drugs: DrugLookup, conditions: ConditionLookup):
        self.drugs = drugs
        self.conditions = conditions

    @classmethod
    def default(cls, reference_folders: Iterable[Path] | None = None) -> "Resolver":
        """The user's compound library and condition map + the configured reference folders."""
        from engine.lookups.settings import reference_folders as configured

        folders = list(reference_folders) if reference_folders is not None else configured()
        return cls(DrugLookup.from_folders(folders), ConditionLookup.load())

    def prepare(self) -> None:
        """Build what the first lookups would otherwise wait for (the condition fuzzy-search index)."""
        if self.conditions is not None:
            self.conditions.prepare_fuzzy_search()

    def resolve(self, trial: Trial) -> Trial:
        notes = [line for line in trial.unresolved if not line.startswith(_LOOKUP_LINE_PREFIXES)]
        drugs: list[Drug] = []
        for drug in trial.drugs:
            for found in self.drugs_for(drug):
                drugs.append(found)
                if found.kind == "unresolved":
                    notes.append(f"drug '{found.name}': no structure found")
        conditions = [self._condition(c, notes) for c in trial.conditions]
        return trial.replace(drugs=drugs, conditions=conditions, unresolved=notes)

    def drugs_for(self, drug: Drug) -> list[Drug]:
        """What one drug mention stands for (several for a regimen or combination); the user's own is kept,
        and a regimen's drug resolved again keeps its regimen."""
        if is_user_drug(drug):
            return [drug]
        found = self.drugs.lookup(drug.name)
        return [d if d.regimen or not drug.regimen else replace(d, regimen=drug.regimen) for d in found]

    def condition_for(self, condition: Condition) -> Condition:
        """One condition as `resolve` gives it (a what-if adds conditions one at a time)."""
        return self._condition(condition, [])

    def resolve_many(self, trials: Iterable[Trial], state=None) -> list[Trial]:
        """Resolve a batch; `state` (engine.tasks.TaskState) gets progress and may cancel."""
        trials = list(trials)
        out = []
        for i, trial in enumerate(trials):
            out.append(self.resolve(trial))
            if state is not None and (i % 50 == 0 or i + 1 == len(trials)):
                state.progress(i + 1, len(trials), "resolving drugs and conditions")
        return out

    def _condition(self, condition: Condition, notes: list[str]) -> Condition:
        if condition.match == "user":
            return condition
        found = self.conditions.lookup(condition.name)
        if found.match != "unresolved":
            return found
        if condition.icd10 and condition.match == "record":
            # codes the record itself carried; better than nothing, and labelled as such
            return Condition(condition.name, list(condition.icd10), "record", found.candidates)
        notes.append(f"condition '{condition.name}': no ICD-10 code "
                     f"({self.conditions.unresolved_reason(condition.name)})")
        return found
