"""What-if editing of a trial's criteria: an undo stack, the edit commands, diffs and scenarios.

Qt-free on purpose (the pattern of glue's `core/command.py`): the GUI, the CLI and the tests drive
the same `TrialDraft` through the same `CommandStack`, and the GUI only listens for changes.

A `TrialDraft` keeps two trials that differ in their criteria and, for a what-if beyond criteria, in
their drugs and conditions (added, removed, replaced: `AddDrugs`, `RemoveDrugs`, `ReplaceDrug` and
the condition commands):

- `original` — the record as loaded, plus corrections of its lookups (a SMILES pasted for an
  unresolved drug, an ICD code picked for a condition). Corrections are facts about the record,
  not what-ifs, so they apply to both trials and never show up in the criteria diff.
- `edited` — the what-if copy whose criteria, drugs and conditions the analyst edits. Drug and
  condition indexes in commands are indexes into the edited lists (what the trial view shows).

Every criterion carries a draft-wide item id, so a diff can tell an edited item from a removed one
plus an added one, and scenarios (named snapshots of the edited list) compare item by item.
"""
from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from engine.records.trial import Condition, Criterion, Drug, Trial

CRITERION_KINDS = ("inclusion", "exclusion")

#: (item id, criterion) — the unit diffs and scenarios work with.
Item = tuple[int, Criterion]


# -- the undo stack ----------------------------------------------------------------------------
class Command:
    """One reversible change. `do` validates before it mutates: a command that raises is not pushed."""

    #: short label for menus ("Undo Edit criterion 3")
    text = "edit"

    def do(self, target) -> None:
        raise NotImplementedError

    def undo(self, target) -> None:
        raise NotImplementedError

    def merge(self, newer: "Command") -> bool:
        """Absorb `newer` (already done) into this command; True if merged. Default: never."""
        return False


Listener = Callable[[str, "Command | None"], None]


class CommandStack:
    """Undo/redo history over one target (glue-style): `do`, `undo`, `redo`, a clean mark, listeners.

    Listeners are called as `listener(event, command)` with event one of "do", "undo", "redo",
    "clear", "clean" after the change happened.
    """

    def __init__(self, target=None, limit: int | None = 500):
        self.target = target
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean_depth: int | None = 0  # len(_done) at the clean mark; None = unreachable
        self._listeners: list[Listener] = []

    # state
    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    @property
    def is_clean(self) -> bool:
        return self._clean_depth == len(self._done)

    @property
    def top(self) -> "Command | None":
        """The command `undo` would take back (an editor cancelling its own edit checks it is that one)."""
        return self._done[-1] if self._done else None

    def __len__(self) -> int:
        return len(self._done)

    def __bool__(self) -> bool:
        return True  # an empty history is still a stack: `if stack:` must not mean "has commands"

    def history(self) -> list[str]:
        """Labels of the done commands, oldest first."""
        return [c.text for c in self._done]

    # changes
    def do(self, command: Command) -> Command:
        command.do(self.target)
        self._undone.clear()
        if self._clean_depth is not None and self._clean_depth > len(self._done):
            self._clean_depth = None  # the clean state was in the discarded redo branch
        top = self._done[-1] if self._done else None
        merged = top is not None and top.merge(command)
        if merged and self._clean_depth == len(self._done):
            self._clean_depth = None  # the saved state was inside the merged step: no longer reachable
        if not merged:
            self._done.append(command)
            if self.limit is not None and len(self._done) > self.limit:
                drop = len(self._done) - self.limit
                del self._done[:drop]
                if self._clean_depth is not None:
                    self._clean_depth = self._clean_depth - drop if self._clean_depth >= drop else None
        self._notify("do", command)
        return command

    def undo(self) -> Command | None:
        if not self._done:
            return None
        command = self._done.pop()
        try:
            command.undo(self.target)
        except Exception:
            self._done.append(command)
            raise
        self._undone.append(command)
        self._notify("undo", command)
        return command

    def redo(self) -> Command | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        try:
            command.do(self.target)
        except Exception:
            self._undone.append(command)
            raise
        self._done.append(command)
        self._notify("redo", command)
        return command

    def clear(self) -> None:
        """Forget the history (the target keeps its state, which becomes the clean state)."""
        self._done.clear()
        self._undone.clear()
        self._clean_depth = 0
        self._notify("clear", None)

    def mark_clean(self) -> None:
        self._clean_depth = len(self._done)
        self._notify("clean", None)

    # listeners
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, event: str, command: Command | None) -> None:
        for listener in list(self._listeners):
            listener(event, command)


# -- diffs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiffEntry:
    """How one item differs. `changes` ⊆ {added, removed, edited, kind, disabled, enabled, moved}."""

    item_id: int
    changes: frozenset[str]
    before: Criterion | None
    after: Criterion | None
    before_index: int | None
    after_index: int | None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class NameChanges:
    """Drugs or conditions added and removed between two trials, by name (a replacement is one of each)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @classmethod
    def between(cls, before: Sequence[str], after: Sequence[str]) -> "NameChanges":
        """Multiset difference in list order: a second "placebo" added is an addition too."""
        return cls(tuple(_minus(after, before)), tuple(_minus(before, after)))

    def phrases(self, what: str) -> list[str]:
        """"drug added: irinotecan", "drugs removed: a, b" — for diff summaries."""
        return [f"{what}{'s' if len(names) > 1 else ''} {verb}: {', '.join(names)}"
                for verb, names in (("added", self.added), ("removed", self.removed)) if names]


def _minus(a: Sequence[str], b: Sequence[str]) -> list[str]:
    left = list(b)
    out = []
    for name in a:
        if name in left:
            left.remove(name)
        else:
            out.append(name)
    return out


@dataclass
class CriteriaDiff:
    """Item-by-item comparison of two criteria lists, in display order (removed items where they were),
    with the drugs and conditions added or removed beside (a what-if beyond criteria)."""

    entries: list[DiffEntry]
    drugs: NameChanges = NameChanges()
    conditions: NameChanges = NameChanges()

    def _with(self, change: str) -> list[DiffEntry]:
        return [e for e in self.entries if change in e.changes]

    @property
    def added(self) -> list[DiffEntry]:
        return self._with("added")

    @property
    def removed(self) -> list[DiffEntry]:
        return self._with("removed")

    @property
    def edited(self) -> list[DiffEntry]:
        return self._with("edited")

    @property
    def moved(self) -> list[DiffEntry]:
        return self._with("moved")

    @property
    def disabled(self) -> list[DiffEntry]:
        return self._with("disabled")

    @property
    def enabled(self) -> list[DiffEntry]:
        return self._with("enabled")

    @property
    def kind_changed(self) -> list[DiffEntry]:
        return self._with("kind")

    @property
    def changed(self) -> list[DiffEntry]:
        return [e for e in self.entries if e.changes]

    @property
    def interventions_changed(self) -> bool:
        return self.drugs != NameChanges() or self.conditions != NameChanges()

    @property
    def is_empty(self) -> bool:
        return not self.changed and not self.interventions_changed

    def status_of(self, item_id: int) -> frozenset[str]:
        for e in self.entries:
            if e.item_id == item_id:
                return e.changes
        return frozenset()

    def summary(self) -> str:
        """"2 edited, 1 added, drug added: irinotecan" — or "no changes"."""
        order = ("edited", "added", "removed", "moved", "kind", "disabled", "enabled")
        names = {"kind": "kind changed"}
        parts = [f"{len(self._with(c))} {names.get(c, c)}" for c in order if self._with(c)]
        parts += self.drugs.phrases("drug") + self.conditions.phrases("condition")
        return ", ".join(parts) if parts else "no changes"


def _longest_common_subsequence(a: Sequence[int], b: Sequence[int]) -> set[int]:
    """Ids of one longest common subsequence of two id sequences. Ids are unique within a draft, so
    this is the longest increasing run of `b`'s positions in `a` (O(n log n): a record of thousands of
    criteria diffs in milliseconds); plain DP for sequences with repeats."""
    if len(set(a)) == len(a) and len(set(b)) == len(b):
        return _longest_increasing_run(a, b)
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    keep, i, j = set(), 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            keep.add(a[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return keep


def _longest_increasing_run(a: Sequence[int], b: Sequence[int]) -> set[int]:
    """LCS of two sequences of distinct ids: patience sorting over the positions in `a` of `b`'s ids."""
    import bisect

    where = {item_id: i for i, item_id in enumerate(a)}
    positions = [where[item_id] for item_id in b if item_id in where]
    ids = [item_id for item_id in b if item_id in where]
    tails: list[int] = []  # smallest tail position of an increasing run of each length
    tail_index: list[int] = []  # index into `positions` of that tail
    previous = [-1] * len(positions)
    for k, position in enumerate(positions):
        length = bisect.bisect_left(tails, position)
        if length == len(tails):
            tails.append(position)
            tail_index.append(k)
        else:
            tails[length], tail_index[length] = position, k
        previous[k] = tail_index[length - 1] if length else -1
    keep, k = set(), tail_index[-1] if tail_index else -1
    while k >= 0:
        keep.add(ids[k])
        k = previous[k]
    return keep


def diff_criteria(before: Sequence[Item], after: Sequence[Item]) -> CriteriaDiff:
    """Compare two item lists by item id (see module doc). Moves are items outside the LCS of order."""
    before_at = {item_id: (i, c) for i, (item_id, c) in enumerate(before)}
    after_ids = {item_id for item_id, _ in after}
    common_before = [item_id for item_id, _ in before if item_id in after_ids]
    common_after = [item_id for item_id, _ in after if item_id in before_at]
    in_order = _longest_common_subsequence(common_before, common_after)

    entries: list[DiffEntry] = []
    for j, (item_id, new) in enumerate(after):
        if item_id not in before_at:
            entries.append(DiffEntry(item_id, frozenset({"added"}), None, new, None, j))
            continue
        i, old = before_at[item_id]
        changes = set()
        if old.text != new.text:
            changes.add("edited")
        if old.kind != new.kind:
            changes.add("kind")
        if old.enabled and not new.enabled:
            changes.add("disabled")
        if new.enabled and not old.enabled:
            changes.add("enabled")
        if item_id not in in_order:
            changes.add("moved")
        entries.append(DiffEntry(item_id, frozenset(changes), old, new, i, j))

    # place each removed item right after the surviving item that preceded it in `before`
    for i, (item_id, old) in enumerate(before):
        if item_id in after_ids:
            continue
        entry = DiffEntry(item_id, frozenset({"removed"}), old, None, i, None)
        slot = 0
        for k in range(i - 1, -1, -1):
            prev_id = before[k][0]
            pos = next((p for p, e in enumerate(entries) if e.item_id == prev_id), None)
            if pos is not None:
                slot = pos + 1
                break
        while slot < len(entries) and "removed" in entries[slot].changes:
            slot += 1  # keep removed runs in their original order
        entries.insert(slot, entry)
    return CriteriaDiff(entries)


# -- scenarios ---------------------------------------------------------------------------------
@dataclass
class Scenario:
    """A named snapshot of the edited criteria list (with item ids, so scenarios compare per item) and,
    when the what-if changed them, of the drugs and conditions (None: the record's own, as in files
    saved before drug what-ifs existed)."""

    name: str
    items: list[Item]
    created: float = field(default_factory=time.time)
    note: str = ""
    drugs: list[Drug] | None = None
    conditions: list[Condition] | None = None

    @property
    def criteria(self) -> list[Criterion]:
        return [dataclasses.replace(c) for _, c in self.items]

    def to_dict(self) -> dict:
        """The drug and condition keys only when the scenario has its own (older readers never see them)."""
        data = {"name": self.name, "created": self.created, "note": self.note,
                "items": [_item_to_dict(i, c) for i, c in self.items]}
        data.update(_lists_to_dict(self.drugs, self.conditions))
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Scenario":
        drugs, conditions = _lists_from_dict(data)
        return cls(name=data["name"], items=[_item_from_dict(d) for d in data.get("items", [])],
                   created=float(data.get("created", 0.0)), note=data.get("note", ""),
                   drugs=drugs, conditions=conditions)


def _lists_to_dict(drugs: list[Drug] | None, conditions: list[Condition] | None) -> dict:
    """{"drugs": [...], "conditions": [...]} for the lists that are not None."""
    out = {}
    if drugs is not None:
        out["drugs"] = [dataclasses.asdict(d) for d in drugs]
    if conditions is not None:
        out["conditions"] = [dataclasses.asdict(c) for c in conditions]
    return out


def _lists_from_dict(data: dict) -> tuple[list[Drug] | None, list[Condition] | None]:
    """Read back `_lists_to_dict` through Trial.from_dict (one reader of drugs and conditions)."""
    lists = Trial.from_dict({"nct_id": "", "drugs": data.get("drugs") or [],
                             "conditions": data.get("conditions") or []})
    return (lists.drugs if "drugs" in data else None,
            lists.conditions if "conditions" in data else None)


def _own_list(edited: list, original: list) -> list | None:
    """A copy of the edited list when it differs from the record's, else None ("as the record")."""
    return None if edited == original else [_copy(x) for x in edited]


def _copy(x):
    """A drug or condition copy that shares no list with the original (icd10, candidates)."""
    if isinstance(x, Condition):
        return dataclasses.replace(x, icd10=list(x.icd10), candidates=list(x.candidates))
    return dataclasses.replace(x)


def _item_to_dict(item_id: int, c: Criterion) -> dict:
    return {"id": item_id, **dataclasses.asdict(c)}


def _item_from_dict(d: dict) -> Item:
    d = dict(d)
    item_id = int(d.pop("id"))
    return item_id, Criterion(**{k: v for k, v in d.items() if k in ("text", "kind", "enabled")})


def _copy_items(items: Iterable[Item]) -> list[Item]:
    return [(i, dataclasses.replace(c)) for i, c in items]


# -- the draft ---------------------------------------------------------------------------------
class TrialDraft:
    """The original trial, its what-if copy, the scenarios, and the undo stack that edits them."""

    ORIGINAL = "Original"  # reserved name: compare() accepts it for the record's own criteria

    def __init__(self, trial: Trial, undo_limit: int | None = 500):
        self.original: Trial = trial.replace()
        self._original_ids: list[int] = list(range(len(trial.criteria)))
        self.edited: Trial = trial.replace()
        self._ids: list[int] = list(self._original_ids)
        self._next_id = len(self._ids)
        self.scenarios: list[Scenario] = []
        self.stack = CommandStack(self, limit=undo_limit)

    # -- views
    @property
    def criteria(self) -> list[Criterion]:
        """The edited criteria list (live; change it only through commands)."""
        return self.edited.criteria

    def item_ids(self) -> list[int]:
        return list(self._ids)

    def items(self) -> list[Item]:
        return list(zip(self._ids, self.edited.criteria))

    def original_items(self) -> list[Item]:
        return list(zip(self._original_ids, self.original.criteria))

    def snapshot(self) -> Trial:
        """An independent copy of the what-if trial (hand this to worker threads)."""
        return self.edited.replace()

    def diff(self) -> CriteriaDiff:
        """The edited criteria, drugs and conditions against the original record's."""
        return self.compare(self.ORIGINAL, "")

    @property
    def is_modified(self) -> bool:
        """Same as `not diff().is_empty`, in linear time (the trial list asks this per row)."""
        return (self.items() != self.original_items() or self.edited.drugs != self.original.drugs
                or self.edited.conditions != self.original.conditions)

    # -- convenience wrappers: each pushes one command
    def edit_text(self, index: int, text: str, merge=None):
        """`merge`: any value shared by the commits of one typing session (they undo as one step)."""
        return self.stack.do(EditCriterionText(index, text, merge=merge))

    def set_kind(self, index: int, kind: str):
        return self.stack.do(SetCriterionKind(index, kind))

    def set_enabled(self, index: int, enabled: bool):
        return self.stack.do(SetCriterionEnabled(index, enabled))

    def add(self, text: str = "", kind: str = "inclusion", index: int | None = None):
        return self.stack.do(AddCriterion(Criterion(text=text, kind=kind), index))

    def add_drugs(self, drugs: Sequence[Drug], label: str = "", index: int | None = None):
        """One mention (resolved: "FOLFOX" is three drugs) added as one undo step."""
        return self.stack.do(AddDrugs(drugs, label, index))

    def remove_drugs(self, indexes: Sequence[int]):
        return self.stack.do(RemoveDrugs(indexes))

    def replace_drug(self, index: int, drugs: Sequence[Drug], label: str = ""):
        return self.stack.do(ReplaceDrug(index, drugs, label))

    def add_condition(self, condition: Condition, index: int | None = None):
        return self.stack.do(AddCondition(condition, index))

    def remove_conditions(self, indexes: Sequence[int]):
        return self.stack.do(RemoveConditions(indexes))

    def replace_condition(self, index: int, condition: Condition):
        return self.stack.do(ReplaceCondition(index, condition))

    def delete(self, index: int):
        return self.stack.do(DeleteCriterion(index))

    def move(self, source: int, destination: int):
        return self.stack.do(MoveCriterion(source, destination))

    def revert_all(self):
        """Criteria, drugs and conditions back to the record's, as one step."""
        return self.stack.do(ApplySnapshot(self.original_items(), None, None, "Revert to original"))

    def set_drug_structure(self, drug_index: int, smiles: str | None, kind: str = "small_molecule",
                           source: str = "user"):
        return self.stack.do(SetDrugStructure(drug_index, smiles, kind, source))

    def set_condition_codes(self, condition_index: int, codes: Sequence[str], match: str = "user"):
        return self.stack.do(SetConditionCodes(condition_index, codes, match))

    def save_scenario(self, name: str, overwrite: bool = False, note: str = ""):
        return self.stack.do(SaveScenario(name, overwrite=overwrite, note=note))

    def rename_scenario(self, old: str, new: str):
        return self.stack.do(RenameScenario(old, new))

    def delete_scenario(self, name: str):
        return self.stack.do(DeleteScenario(name))

    def apply_scenario(self, name: str):
        scenario = self.scenario(name)
        return self.stack.do(ApplySnapshot(scenario.items, scenario.drugs, scenario.conditions,
                                           f"Apply scenario “{name}”"))

    # -- scenarios (read-only helpers)
    def scenario_names(self) -> list[str]:
        return [s.name for s in self.scenarios]

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(f"no scenario named “{name}”")

    def scenario_trial(self, name: str) -> Trial:
        """The trial as the scenario would have it (for predicting a scenario without applying it)."""
        drugs, conditions = self._lists_of(name)
        return self.original.replace(criteria=[dataclasses.replace(c) for _, c in self._items_of(name)],
                                     drugs=[_copy(d) for d in drugs],
                                     conditions=[_copy(c) for c in conditions])

    def compare(self, a: str, b: str) -> CriteriaDiff:
        """Diff between two scenarios; either may be `TrialDraft.ORIGINAL` or "" for the edited list."""
        (drugs_a, conditions_a), (drugs_b, conditions_b) = self._lists_of(a), self._lists_of(b)
        diff = diff_criteria(self._items_of(a), self._items_of(b))
        diff.drugs = NameChanges.between([d.name for d in drugs_a], [d.name for d in drugs_b])
        diff.conditions = NameChanges.between([c.name for c in conditions_a], [c.name for c in conditions_b])
        return diff

    def _items_of(self, name: str) -> list[Item]:
        """Criteria items of the record (ORIGINAL), of the edited list ("") or of a scenario."""
        if name == self.ORIGINAL:
            return self.original_items()
        return self.items() if name == "" else self.scenario(name).items

    def _lists_of(self, name: str) -> tuple[list[Drug], list[Condition]]:
        """Drugs and conditions as `_items_of` names them; a scenario without its own has the record's."""
        if name in (self.ORIGINAL, ""):
            trial = self.original if name == self.ORIGINAL else self.edited
            return trial.drugs, trial.conditions
        scenario = self.scenario(name)
        return (self.original.drugs if scenario.drugs is None else scenario.drugs,
                self.original.conditions if scenario.conditions is None else scenario.conditions)

    # -- low-level mutations used by the commands
    def _check_index(self, index: int, allow_end: bool = False) -> None:
        upper = len(self._ids) + (1 if allow_end else 0)
        if not 0 <= index < upper:
            raise IndexError(f"criterion {index} does not exist (the list has {len(self._ids)} items)")

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _insert(self, index: int, item_id: int, criterion: Criterion) -> None:
        self._ids.insert(index, item_id)
        self.edited.criteria.insert(index, criterion)
        self._next_id = max(self._next_id, item_id + 1)

    def _pop(self, index: int) -> Item:
        return self._ids.pop(index), self.edited.criteria.pop(index)

    def _set_items(self, items: Sequence[Item]) -> None:
        self._ids = [i for i, _ in items]
        self.edited.criteria = [dataclasses.replace(c) for _, c in items]
        if items:
            self._next_id = max(self._next_id, max(self._ids) + 1)

    def _set_lists(self, drugs: list[Drug] | None, conditions: list[Condition] | None) -> None:
        """The edited drugs and conditions (None: the record's), their lookup notes brought up to date."""
        self.edited.drugs = [_copy(d) for d in (self.original.drugs if drugs is None else drugs)]
        self.edited.conditions = [_copy(c) for c in (self.original.conditions if conditions is None else conditions)]
        self.edited.unresolved = _lookup_notes(self.edited, self.original.unresolved)

    # -- persistence
    def to_dict(self) -> dict:
        """Everything but the undo history: the original (with corrections), edits and scenarios; the
        edited drugs and conditions only when the what-if changed them (older files have neither)."""
        return {
            "original": self.original.to_dict(),
            "original_ids": list(self._original_ids),
            "items": [_item_to_dict(i, c) for i, c in self.items()],
            "next_id": self._next_id,
            "scenarios": [s.to_dict() for s in self.scenarios],
            **_lists_to_dict(_own_list(self.edited.drugs, self.original.drugs),
                             _own_list(self.edited.conditions, self.original.conditions)),
        }

    @classmethod
    def from_dict(cls, data: dict, undo_limit: int | None = 500) -> "TrialDraft":
        draft = cls(Trial.from_dict(data["original"]), undo_limit=undo_limit)
        draft._original_ids = [int(i) for i in data.get("original_ids", draft._original_ids)]
        if len(draft._original_ids) != len(draft.original.criteria):
            raise ValueError("draft data is inconsistent: original ids do not match the criteria")
        draft._set_items([_item_from_dict(d) for d in data.get("items", [])])
        draft._next_id = max(draft._next_id, int(data.get("next_id", 0)), len(draft._original_ids))
        draft.scenarios = [Scenario.from_dict(s) for s in data.get("scenarios", [])]
        draft._set_lists(*_lists_from_dict(data))
        return draft


# -- criterion commands ------------------------------------------------------------------------
class EditCriterionText(Command):
    def __init__(self, index: int, text: str, merge=None):
        # merge: a key shared by the commits of one typing session (None: never merge); the GUI
        # commits while the analyst types, so a crash loses seconds, not a paragraph
        self.index, self.new_text, self.merge_key = index, text, merge
        self.old_text: str | None = None
        self.text = f"Edit criterion {index + 1}"

    def do(self, draft: TrialDraft) -> None:
        draft._check_index(self.index)
        criterion = draft.criteria[self.index]
        if self.old_text is None:
            self.old_text = criterion.text
        criterion.text = self.new_text

    def undo(self, draft: TrialDraft) -> None:
        draft.criteria[self.index].text = self.old_text

    def merge(self, newer: Command) -> bool:
        """Typing: consecutive commits of one typing session of one item undo as one step."""
        if (isinstance(newer, EditCriterionText) and self.merge_key is not None
                and newer.merge_key == self.merge_key and newer.index == self.index):
            self.new_text = newer.new_text
            return True
        return False


class SetCriterionKind(Command):
    def __init__(self, index: int, kind: str):
        if kind not in CRITERION_KINDS:
            raise ValueError(f"criterion kind must be one of {CRITERION_KINDS}, not {kind!r}")
        self.index, self.kind = index, kind
        self.old_kind: str | None = None
        self.text = f"Make criterion {index + 1} {kind}"

    def do(self, draft: TrialDraft) -> None:
        draft._check_index(self.index)
        criterion = draft.criteria[self.index]
        if self.old_kind is None:
            self.old_kind = criterion.kind
        criterion.kind = self.kind

    def undo(self, draft: TrialDraft) -> None:
        draft.criteria[self.index].kind = self.old_kind


class SetCriterionEnabled(Command):
    def __init__(self, index: int, enabled: bool):
        self.index, self.enabled = index, bool(enabled)
        self.was_enabled: bool | None = None
        self.text = f"{'Enable' if enabled else 'Disable'} criterion {index + 1}"

    def do(self, draft: TrialDraft) -> None:
        draft._check_index(self.index)
        criterion = draft.criteria[self.index]
        if self.was_enabled is None:
            self.was_enabled = criterion.enabled
        criterion.enabled = self.enabled

    def undo(self, draft: TrialDraft) -> None:
        draft.criteria[self.index].enabled = self.was_enabled


class AddCriterion(Command):
    """Insert at `index` (None: at the end). Redo reuses the same item id."""

    def __init__(self, criterion: Criterion, index: int | None = None):
        if criterion.kind not in CRITERION_KINDS:
            raise ValueError(f"criterion kind must be one of {CRITERION_KINDS}, not {criterion.kind!r}")
        self.criterion, self.index = dataclasses.replace(criterion), index
        self.item_id: int | None = None
        self.text = f"Add {criterion.kind} criterion"

    def do(self, draft: TrialDraft) -> None:
        if self.index is None:
            self.index = len(draft.criteria)
        draft._check_index(self.index, allow_end=True)
        if self.item_id is None:
            self.item_id = draft._new_id()
        draft._insert(self.index, self.item_id, dataclasses.replace(self.criterion))

    def undo(self, draft: TrialDraft) -> None:
        draft._pop(self.index)


class DeleteCriterion(Command):
    def __init__(self, index: int):
        self.index = index
        self.removed: Item | None = None
        self.text = f"Delete criterion {index + 1}"

    def do(self, draft: TrialDraft) -> None:
        draft._check_index(self.index)
        self.removed = draft._pop(self.index)

    def undo(self, draft: TrialDraft) -> None:
        draft._insert(self.index, *self.removed)


class MoveCriterion(Command):
    """Move the item at `source` so that it ends up at index `destination`."""

    def __init__(self, source: int, destination: int):
        self.source, self.destination = source, destination
        self.text = f"Move criterion {source + 1} to {destination + 1}"

    def do(self, draft: TrialDraft) -> None:
        draft._check_index(self.source)
        draft._check_index(self.destination)
        draft._insert(self.destination, *draft._pop(self.source))

    def undo(self, draft: TrialDraft) -> None:
        draft._insert(self.source, *draft._pop(self.destination))


class ReplaceCriteria(Command):
    """Swap the whole edited list (apply a scenario, revert to the original)."""

    def __init__(self, items: Sequence[Item], text: str = "Replace criteria"):
        self.items = _copy_items(items)
        self.previous: list[Item] | None = None
        self.text = text

    def do(self, draft: TrialDraft) -> None:
        self.previous = _copy_items(draft.items())
        draft._set_items(self.items)

    def undo(self, draft: TrialDraft) -> None:
        draft._set_items(self.previous)


class ApplySnapshot(Command):
    """Swap criteria, drugs and conditions at once (apply a scenario, revert to the original);
    `drugs`/`conditions` None mean the record's."""

    def __init__(self, items: Sequence[Item], drugs: Sequence[Drug] | None, conditions: Sequence[Condition] | None,
                 text: str = "Replace criteria"):
        self.items = _copy_items(items)
        self.drugs = None if drugs is None else [_copy(d) for d in drugs]
        self.conditions = None if conditions is None else [_copy(c) for c in conditions]
        self.previous = None
        self.text = text

    def do(self, draft: TrialDraft) -> None:
        edited = draft.edited
        self.previous = (_copy_items(draft.items()), [_copy(d) for d in edited.drugs],
                         [_copy(c) for c in edited.conditions], list(edited.unresolved))
        draft._set_items(self.items)
        draft._set_lists(self.drugs, self.conditions)

    def undo(self, draft: TrialDraft) -> None:
        items, drugs, conditions, notes = self.previous
        draft._set_items(items)
        draft.edited.drugs, draft.edited.conditions, draft.edited.unresolved = drugs, conditions, list(notes)


# -- drug and condition what-ifs (the edited trial only) -------------------------------------------
class _EditList(Command):
    """Base of the drug and condition what-ifs: `changed` builds the new list or raises before anything
    changes (so a refused command is not pushed); undo puts back the list and its lookup notes."""

    field = "drugs"

    def changed(self, current: list) -> list:
        raise NotImplementedError

    def do(self, draft: TrialDraft) -> None:
        current = getattr(draft.edited, self.field)
        new = self.changed(list(current))
        self.previous = ([_copy(x) for x in current], list(draft.edited.unresolved))
        setattr(draft.edited, self.field, new)
        draft.edited.unresolved = _lookup_notes(draft.edited, draft.original.unresolved)

    def undo(self, draft: TrialDraft) -> None:
        items, notes = self.previous
        setattr(draft.edited, self.field, [_copy(x) for x in items])
        draft.edited.unresolved = list(notes)

    def _check(self, index: int, size: int) -> None:
        if not 0 <= index < size:
            raise IndexError(f"{self.field[:-1]} {index + 1} does not exist (the trial lists {size})")


class _Insert(_EditList):
    def __init__(self, items: Sequence, index: int | None, text: str):
        if not items:
            raise ValueError(f"nothing to add: no {self.field}")
        self.items, self.index, self.text = [_copy(x) for x in items], index, text

    def changed(self, current: list) -> list:
        index = len(current) if self.index is None else self.index
        self._check(index, len(current) + 1)
        return current[:index] + [_copy(x) for x in self.items] + current[index:]


class _Remove(_EditList):
    def __init__(self, indexes: Sequence[int]):
        self.indexes = sorted(set(indexes))
        if not self.indexes:
            raise ValueError(f"nothing to remove: no {self.field} named")
        self.text = f"Remove {self.field[:-1]}"

    def changed(self, current: list) -> list:
        for index in self.indexes:
            self._check(index, len(current))
        self.text = f"Remove {self.field[:-1]} {', '.join(current[i].name for i in self.indexes)}"
        return [x for i, x in enumerate(current) if i not in self.indexes]


class _Replace(_EditList):
    def __init__(self, index: int, items: Sequence, label: str):
        if not items:
            raise ValueError(f"nothing to put in its place: no {self.field}")
        self.index, self.items, self.label = index, [_copy(x) for x in items], label
        self.text = f"Replace {self.field[:-1]}"

    def changed(self, current: list) -> list:
        self._check(self.index, len(current))
        self.text = f"Replace {current[self.index].name} by {self.label or self.items[0].name}"
        return current[:self.index] + [_copy(x) for x in self.items] + current[self.index + 1:]


class AddDrugs(_Insert):
    """One mention added: several Drugs when it resolved to a regimen or combination (one undo step)."""

    def __init__(self, drugs: Sequence[Drug], label: str = "", index: int | None = None):
        super().__init__(drugs, index, f"Add drug {label or ', '.join(d.name for d in drugs)}")


class RemoveDrugs(_Remove):
    """Several at once: a regimen's drugs leave in one undo step."""


class ReplaceDrug(_Replace):
    def __init__(self, index: int, drugs: Sequence[Drug], label: str = ""):
        super().__init__(index, drugs, label)


class AddCondition(_Insert):
    field = "conditions"

    def __init__(self, condition: Condition, index: int | None = None):
        super().__init__([condition], index, f"Add condition {condition.name}")


class RemoveConditions(_Remove):
    field = "conditions"


class ReplaceCondition(_Replace):
    field = "conditions"

    def __init__(self, index: int, condition: Condition):
        super().__init__(index, [condition], condition.name)


_NOTE = re.compile(r"^(?:drug|condition) '(.*)':")


def _lookup_notes(trial: Trial, base: Sequence[str]) -> list[str]:
    """The lookup notes `trial` should show: the record's (`base`) about names it still lists, and one
    for each unresolved drug or condition the what-if brought in (the window lists them as warnings)."""
    names = {d.name for d in trial.drugs} | {c.name for c in trial.conditions}
    kept = [n for n in base if not _NOTE.match(n) or _NOTE.match(n).group(1) in names]
    noted = {_NOTE.match(n).group(1) for n in kept if _NOTE.match(n)}
    fresh = [f"drug '{d.name}': no structure found" for d in trial.drugs if d.kind == "unresolved"]
    fresh += [f"condition '{c.name}': no ICD-10 code" for c in trial.conditions if c.match == "unresolved"]
    return kept + [n for n in dict.fromkeys(fresh) if _NOTE.match(n).group(1) not in noted]


# -- corrections of the record's lookups (apply to original, edited and scenarios alike) -----------
def _capture(draft: TrialDraft) -> tuple:
    """Copies of every drug and condition list and note list a correction may touch (undo puts them back)."""
    trials = [([_copy(d) for d in t.drugs], [_copy(c) for c in t.conditions], list(t.unresolved))
              for t in (draft.original, draft.edited)]
    scenarios = [(s, s.drugs and [_copy(d) for d in s.drugs], s.conditions and [_copy(c) for c in s.conditions])
                 for s in draft.scenarios]
    return trials, scenarios


def _restore(draft: TrialDraft, state: tuple) -> None:
    trials, scenarios = state
    for trial, (drugs, conditions, notes) in zip((draft.original, draft.edited), trials):
        trial.drugs, trial.conditions, trial.unresolved = drugs, conditions, notes
    for scenario, drugs, conditions in scenarios:
        scenario.drugs, scenario.conditions = drugs, conditions


def _lists_named(draft: TrialDraft, field_name: str) -> list[list]:
    """The record's, the what-if's and each scenario's own list of drugs or conditions."""
    lists = [getattr(draft.original, field_name), getattr(draft.edited, field_name)]
    return lists + [getattr(s, field_name) for s in draft.scenarios if getattr(s, field_name) is not None]


def _correct(draft: TrialDraft, field_name: str, name: str, fix: Callable) -> None:
    """Apply `fix` to every drug or condition called `name`, wherever it is listed, and drop its note."""
    for items in _lists_named(draft, field_name):
        items[:] = [fix(x) if x.name == name else x for x in items]
    for trial in (draft.original, draft.edited):
        trial.unresolved = [u for u in trial.unresolved if f"'{name}'" not in u]


class SetDrugStructure(Command):
    """A structure for a drug (pasted SMILES), or none (`smiles=None`, e.g. kind="biologic"). A fact about
    the drug: every drug of that name gets it, in the record, the what-if and the scenarios."""

    def __init__(self, drug_index: int, smiles: str | None, kind: str = "small_molecule",
                 source: str = "user"):
        smiles = (smiles or "").strip() or None
        if smiles is not None:
            _check_smiles(smiles)
        self.drug_index, self.smiles, self.kind, self.source = drug_index, smiles, kind, source
        self.previous = None
        self.text = "Set drug structure"

    def do(self, draft: TrialDraft) -> None:
        if not 0 <= self.drug_index < len(draft.edited.drugs):
            raise IndexError(f"drug {self.drug_index} does not exist")
        name = draft.edited.drugs[self.drug_index].name
        self.text = f"Set structure of {name}"
        self.previous = _capture(draft)
        _correct(draft, "drugs", name, lambda d: dataclasses.replace(
            d, smiles=self.smiles, kind=self.kind, source=self.source))

    def undo(self, draft: TrialDraft) -> None:
        _restore(draft, self.previous)


def _check_smiles(smiles: str) -> None:
    """Raise ValueError naming the problem when RDKit cannot read `smiles`."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise ValueError(f"not a valid SMILES: {smiles!r}")


class SetConditionCodes(Command):
    """ICD-10 codes the analyst picked or typed for a condition (every condition of that name)."""

    def __init__(self, condition_index: int, codes: Sequence[str], match: str = "user"):
        self.condition_index = condition_index
        self.codes = [c.strip().upper() for c in codes if c.strip()]
        self.match = match
        self.previous = None
        self.text = "Set ICD-10 codes"

    def do(self, draft: TrialDraft) -> None:
        if not 0 <= self.condition_index < len(draft.edited.conditions):
            raise IndexError(f"condition {self.condition_index} does not exist")
        name = draft.edited.conditions[self.condition_index].name
        self.text = f"Set ICD-10 codes of {name}"
        self.previous = _capture(draft)
        match = self.match if self.codes else "unresolved"
        _correct(draft, "conditions", name, lambda c: dataclasses.replace(
            c, icd10=list(self.codes), match=match, candidates=list(c.candidates)))

    def undo(self, draft: TrialDraft) -> None:
        _restore(draft, self.previous)


# -- scenario commands -------------------------------------------------------------------------
def _check_scenario_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("a scenario needs a name")
    if name == TrialDraft.ORIGINAL:
        raise ValueError(f"“{TrialDraft.ORIGINAL}” is reserved for the record's own criteria")
    return name


class SaveScenario(Command):
    """Snapshot the edited list under `name` (replacing a same-named one only with `overwrite`)."""

    def __init__(self, name: str, overwrite: bool = False, note: str = ""):
        self.name, self.overwrite, self.note = _check_scenario_name(name), overwrite, note
        self.replaced: tuple[int, Scenario] | None = None
        self.scenario: Scenario | None = None
        self.text = f"Save scenario “{self.name}”"

    def do(self, draft: TrialDraft) -> None:
        existing = [i for i, s in enumerate(draft.scenarios) if s.name == self.name]
        if existing and not self.overwrite:
            raise ValueError(f"a scenario named “{self.name}” already exists")
        if self.scenario is None:
            self.scenario = Scenario(self.name, _copy_items(draft.items()), note=self.note,
                                     drugs=_own_list(draft.edited.drugs, draft.original.drugs),
                                     conditions=_own_list(draft.edited.conditions, draft.original.conditions))
        if existing:
            self.replaced = (existing[0], draft.scenarios[existing[0]])
            draft.scenarios[existing[0]] = self.scenario
        else:
            self.replaced = None
            draft.scenarios.append(self.scenario)

    def undo(self, draft: TrialDraft) -> None:
        if self.replaced is not None:
            draft.scenarios[self.replaced[0]] = self.replaced[1]
        else:
            draft.scenarios.remove(self.scenario)


class RenameScenario(Command):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, _check_scenario_name(new)
        self.text = f"Rename scenario “{old}” to “{self.new}”"

    def do(self, draft: TrialDraft) -> None:
        scenario = draft.scenario(self.old)
        if self.new != self.old and self.new in draft.scenario_names():
            raise ValueError(f"a scenario named “{self.new}” already exists")
        scenario.name = self.new

    def undo(self, draft: TrialDraft) -> None:
        draft.scenario(self.new).name = self.old


class DeleteScenario(Command):
    def __init__(self, name: str):
        self.name = name
        self.removed: tuple[int, Scenario] | None = None
        self.text = f"Delete scenario “{name}”"

    def do(self, draft: TrialDraft) -> None:
        scenario = draft.scenario(self.name)
        index = draft.scenarios.index(scenario)
        self.removed = (index, draft.scenarios.pop(index))

    def undo(self, draft: TrialDraft) -> None:
        draft.scenarios.insert(*self.removed)


__all__ = [
    "Command", "CommandStack", "TrialDraft", "Scenario", "CriteriaDiff", "DiffEntry", "diff_criteria",
    "EditCriterionText", "SetCriterionKind", "SetCriterionEnabled", "AddCriterion", "DeleteCriterion",
    "MoveCriterion", "ReplaceCriteria", "SetDrugStructure", "SetConditionCodes", "SaveScenario",
    "RenameScenario", "DeleteScenario", "CRITERION_KINDS", "ApplySnapshot", "AddDrugs", "RemoveDrugs",
    "ReplaceDrug", "AddCondition", "RemoveConditions", "ReplaceCondition", "NameChanges",
]
