"""The undo stack, criterion commands, diffs and scenarios of engine.editing."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.editing import (AddCriterion, Command, CommandStack, EditCriterionText, TrialDraft,
                            diff_criteria)
from engine.records.trial import Criterion
from tests.builders import make_trial


def texts(draft: TrialDraft) -> list[str]:
    return [c.text for c in draft.criteria]


# -- CommandStack ------------------------------------------------------------------------------
class Append(Command):
    def __init__(self, value):
        self.value = value
        self.text = f"append {value}"

    def do(self, target):
        target.append(self.value)

    def undo(self, target):
        target.pop()


class Failing(Command):
    def do(self, target):
        raise ValueError("refused")


def test_stack_do_undo_redo_and_texts():
    log = []
    stack = CommandStack(log)
    assert not stack.can_undo and not stack.can_redo and stack.undo() is None and stack.redo() is None
    stack.do(Append(1))
    stack.do(Append(2))
    assert log == [1, 2] and stack.undo_text == "append 2" and len(stack) == 2
    stack.undo()
    assert log == [1] and stack.can_redo and stack.redo_text == "append 2"
    stack.redo()
    assert log == [1, 2] and not stack.can_redo
    stack.undo()
    stack.do(Append(3))  # a new command discards the redo branch
    assert log == [1, 3] and not stack.can_redo and stack.history() == ["append 1", "append 3"]


def test_stack_failed_command_is_not_pushed():
    log = []
    stack = CommandStack(log)
    stack.do(Append(1))
    with pytest.raises(ValueError):
        stack.do(Failing())
    assert stack.history() == ["append 1"] and log == [1]


def test_stack_clean_state_follows_undo_redo_and_lost_branches():
    stack = CommandStack([])
    assert stack.is_clean
    stack.do(Append(1))
    assert not stack.is_clean
    stack.mark_clean()
    assert stack.is_clean
    stack.do(Append(2))
    assert not stack.is_clean
    stack.undo()
    assert stack.is_clean
    stack.undo()
    assert not stack.is_clean
    stack.do(Append(9))  # the clean state (after Append(1)) is now unreachable
    assert not stack.is_clean
    stack.undo()
    assert not stack.is_clean
    stack.clear()
    assert stack.is_clean and not stack.can_undo


def test_stack_listeners_and_limit():
    events = []
    stack = CommandStack([], limit=3)
    listener = lambda event, command: events.append((event, command.text if command else None))
    stack.add_listener(listener)
    for i in range(5):
        stack.do(Append(i))
    assert len(stack) == 3 and stack.history() == ["append 2", "append 3", "append 4"]
    stack.undo()
    stack.redo()
    stack.mark_clean()
    assert events[-3:] == [("undo", "append 4"), ("redo", "append 4"), ("clean", None)]
    stack.remove_listener(listener)
    stack.do(Append(7))
    assert len(events) == 8


def test_stack_limit_drops_the_clean_mark_when_it_falls_off():
    stack = CommandStack([], limit=2)
    stack.mark_clean()  # depth 0
    for i in range(3):
        stack.do(Append(i))
    while stack.can_undo:
        stack.undo()
    assert not stack.is_clean  # the saved state is older than the oldest undoable command


def test_one_typing_session_is_one_undo_step_even_across_an_autosave():
    draft = TrialDraft(make_trial())
    for text in ("A", "Ag", "Age"):
        draft.edit_text(0, text, merge="session-1")
    assert len(draft.stack) == 1 and texts(draft)[0] == "Age"
    draft.stack.mark_clean()  # autosaved mid-typing
    draft.edit_text(0, "Age ≥ 18", merge="session-1")
    assert len(draft.stack) == 1 and not draft.stack.is_clean  # the saved state is gone from history
    draft.edit_text(0, "Age ≥ 21", merge="session-2")  # a new session is a new step
    draft.edit_text(1, "FEV1", merge="session-2")  # another item is a new step
    assert len(draft.stack) == 3
    draft.stack.undo()
    draft.stack.undo()
    assert texts(draft)[0] == "Age ≥ 18"
    draft.stack.undo()
    assert texts(draft)[0] == "Age 18 to 65 years"


# -- criterion commands and diff ---------------------------------------------------------------
def test_each_criterion_command_undoes_exactly():
    trial = make_trial()
    draft = TrialDraft(trial)
    before = copy.deepcopy(draft.items())
    draft.edit_text(1, "FEV1 30-80% of predicted")
    draft.set_kind(0, "exclusion")
    draft.set_enabled(3, False)
    draft.add("Able to use an inhaler", "inclusion", index=2)
    draft.delete(3)  # "Current smoker"
    draft.move(0, 3)
    assert texts(draft) == ["FEV1 30-80% of predicted", "Able to use an inhaler", "Pregnancy",
                            "Age 18 to 65 years"]
    assert [c.kind for c in draft.criteria] == ["inclusion", "inclusion", "exclusion", "exclusion"]
    assert draft.criteria[2].enabled is False
    while draft.stack.can_undo:
        draft.stack.undo()
    assert draft.items() == before and not draft.is_modified
    assert trial.criteria[1].text == "FEV1 40-80% of predicted"  # the source Trial never changes


def test_invalid_commands_raise_clear_errors_and_change_nothing():
    draft = TrialDraft(make_trial())
    with pytest.raises(IndexError, match="criterion 9 does not exist"):
        draft.edit_text(9, "x")
    with pytest.raises(ValueError, match="kind"):
        draft.set_kind(0, "maybe")
    with pytest.raises(IndexError):
        draft.move(0, 4)
    assert not draft.stack.can_undo and not draft.is_modified


def test_diff_lists_added_removed_edited_moved_disabled():
    draft = TrialDraft(make_trial())
    draft.edit_text(1, "FEV1 30-80% of predicted")
    draft.set_enabled(3, False)
    draft.delete(2)  # Current smoker
    draft.add("Able to use an inhaler", index=0)
    draft.move(3, 1)  # Pregnancy up, before Age
    draft.set_kind(2, "exclusion")  # Age becomes an exclusion
    diff = draft.diff()
    assert [e.after.text for e in diff.added] == ["Able to use an inhaler"]
    assert [e.before.text for e in diff.removed] == ["Current smoker"]
    assert [e.after.text for e in diff.edited] == ["FEV1 30-80% of predicted"]
    assert [e.after.text for e in diff.disabled] == ["Pregnancy"]
    assert [e.after.text for e in diff.kind_changed] == ["Age 18 to 65 years"]
    assert [e.after.text for e in diff.moved] == ["Pregnancy"]
    assert diff.summary() == "1 edited, 1 added, 1 removed, 1 moved, 1 kind changed, 1 disabled"
    # display order: the edited list, with the removed item where it used to be (after FEV1)
    order = [(e.after or e.before).text for e in diff.entries]
    assert order == ["Able to use an inhaler", "Pregnancy", "Age 18 to 65 years",
                     "FEV1 30-80% of predicted", "Current smoker"]
    assert diff.status_of(draft.item_ids()[0]) == frozenset({"added"})


def test_edit_back_to_the_original_text_is_no_change():
    draft = TrialDraft(make_trial())
    draft.edit_text(0, "Age over 18")
    draft.edit_text(0, "Age 18 to 65 years")
    assert draft.diff().is_empty and draft.stack.can_undo


def test_redo_of_add_reuses_the_item_id():
    draft = TrialDraft(make_trial())
    command = draft.stack.do(AddCriterion(Criterion("New"), None))
    new_id = command.item_id
    draft.stack.undo()
    draft.stack.redo()
    assert draft.item_ids()[-1] == new_id and draft.diff().added[0].item_id == new_id


def test_revert_all_is_one_undoable_step():
    draft = TrialDraft(make_trial())
    draft.edit_text(0, "Age 21+")
    draft.delete(3)
    draft.revert_all()
    assert draft.diff().is_empty
    draft.stack.undo()
    assert draft.diff().summary() == "1 edited, 1 removed"


def test_snapshot_is_independent_of_later_edits():
    draft = TrialDraft(make_trial())
    snap = draft.snapshot()
    draft.edit_text(0, "changed")
    assert snap.criteria[0].text == "Age 18 to 65 years"
    assert draft.snapshot().content_hash() != snap.content_hash()


def test_disabling_changes_the_prediction_hash_and_reenabling_restores_it():
    draft = TrialDraft(make_trial())
    original_hash = draft.snapshot().content_hash()
    draft.set_enabled(2, False)
    assert draft.snapshot().content_hash() != original_hash
    draft.stack.undo()
    assert draft.snapshot().content_hash() == original_hash


# -- corrections of lookups --------------------------------------------------------------------
def test_pasted_smiles_corrects_original_and_edited_alike_and_undoes():
    draft = TrialDraft(make_trial())
    draft.edit_text(0, "Age ≥ 18")
    draft.set_drug_structure(1, "CC(=O)Oc1ccccc1C(=O)O")
    for trial in (draft.original, draft.edited):
        assert trial.drugs[1].smiles == "CC(=O)Oc1ccccc1C(=O)O" and trial.drugs[1].source == "user"
        assert trial.unresolved == []
    assert draft.diff().summary() == "1 edited"  # a correction is not a what-if
    draft.stack.undo()
    assert draft.original.drugs[1].smiles is None and draft.edited.unresolved == [
        "drug 'XYZ-123': no structure found"]


def test_bad_smiles_is_refused_with_the_smiles_named():
    draft = TrialDraft(make_trial())
    with pytest.raises(ValueError, match="not a valid SMILES: 'C1CC'"):
        draft.set_drug_structure(1, "C1CC")
    assert not draft.stack.can_undo


def test_condition_codes_picked_by_the_user():
    draft = TrialDraft(make_trial())
    draft.set_condition_codes(1, ["r06.2 "])
    assert draft.edited.conditions[1].icd10 == ["R06.2"] and draft.original.conditions[1].match == "user"
    assert len(draft.edited.conditions[1].candidates) == 2  # candidates stay available to re-pick
    draft.stack.undo()
    assert draft.original.conditions[1].icd10 == [] and draft.edited.conditions[1].match == "fuzzy"


# -- scenarios ---------------------------------------------------------------------------------
def test_scenarios_save_list_rename_delete_compare_apply():
    draft = TrialDraft(make_trial())
    draft.delete(2)
    draft.save_scenario("No smoking criterion")
    draft.revert_all()
    draft.edit_text(0, "Age 18 or over")
    draft.save_scenario("Older adults")
    assert draft.scenario_names() == ["No smoking criterion", "Older adults"]
    with pytest.raises(ValueError, match="already exists"):
        draft.save_scenario("Older adults")
    with pytest.raises(ValueError, match="reserved"):
        draft.save_scenario("Original")

    diff = draft.compare("No smoking criterion", "Older adults")
    assert diff.summary() == "1 edited, 1 added"  # smoking is back, age edited
    assert draft.compare(TrialDraft.ORIGINAL, "No smoking criterion").summary() == "1 removed"
    assert draft.compare("Older adults", "").is_empty  # "" = the list being edited

    draft.rename_scenario("Older adults", "Adults 18+")
    assert draft.scenario_names() == ["No smoking criterion", "Adults 18+"]
    draft.apply_scenario("No smoking criterion")
    assert texts(draft) == ["Age 18 to 65 years", "FEV1 40-80% of predicted", "Pregnancy"]
    assert draft.scenario_trial("Adults 18+").criteria[0].text == "Age 18 or over"
    draft.delete_scenario("No smoking criterion")
    assert draft.scenario_names() == ["Adults 18+"]

    for _ in range(3):  # undo delete, apply, rename
        draft.stack.undo()
    assert draft.scenario_names() == ["No smoking criterion", "Older adults"]
    assert texts(draft)[0] == "Age 18 or over"


def test_scenario_snapshot_does_not_follow_later_edits_and_overwrite_undoes():
    draft = TrialDraft(make_trial())
    draft.save_scenario("A")
    draft.edit_text(0, "changed")
    assert draft.scenario("A").items[0][1].text == "Age 18 to 65 years"
    draft.save_scenario("A", overwrite=True)
    assert draft.scenario("A").items[0][1].text == "changed"
    draft.stack.undo()
    assert draft.scenario("A").items[0][1].text == "Age 18 to 65 years"


def test_draft_round_trips_through_a_dict():
    draft = TrialDraft(make_trial())
    draft.set_drug_structure(1, "CCO")
    draft.add("Added item", "exclusion")
    draft.delete(0)
    draft.save_scenario("S1")
    draft.move(0, 2)
    restored = TrialDraft.from_dict(copy.deepcopy(draft.to_dict()))
    assert restored.items() == draft.items()
    assert restored.original_items() == draft.original_items()
    assert restored.original.drugs[1].smiles == "CCO"
    assert restored.diff() == draft.diff()
    assert [s.to_dict() for s in restored.scenarios] == [s.to_dict() for s in draft.scenarios]
    restored.add("after restore")  # new ids never collide with old ones
    assert len(set(restored.item_ids())) == len(restored.item_ids())
    assert restored.diff().added[-1].after.text == "after restore"


# -- property: any sequence of edits undoes to the original and redoes to the same state ---------
edit_ops = st.lists(st.tuples(st.sampled_from(["text", "kind", "enable", "add", "delete", "move"]),
                              st.integers(0, 10), st.integers(0, 10), st.text(max_size=8)),
                    max_size=25)


@settings(max_examples=60, deadline=None)
@given(edit_ops)
def test_random_edit_sequences_undo_and_redo_exactly(ops):
    draft = TrialDraft(make_trial())
    start = copy.deepcopy(draft.items())
    for op, a, b, text in ops:
        n = len(draft.criteria)
        if op == "add":
            draft.add(text, "exclusion" if a % 2 else "inclusion", index=a % (n + 1))
        elif n == 0:
            continue
        elif op == "text":
            draft.edit_text(a % n, text)
        elif op == "kind":
            draft.set_kind(a % n, "exclusion" if b % 2 else "inclusion")
        elif op == "enable":
            draft.set_enabled(a % n, bool(b % 2))
        elif op == "delete":
            draft.delete(a % n)
        elif op == "move":
            draft.move(a % n, b % n)
    end = copy.deepcopy(draft.items())
    diff = draft.diff()
    assert len(set(draft.item_ids())) == len(draft.item_ids())
    # every original item is either present or reported removed; every new one is reported added
    ids_now = set(draft.item_ids())
    assert {e.item_id for e in diff.removed} == set(range(4)) - ids_now
    assert {e.item_id for e in diff.added} == ids_now - set(range(4))
    while draft.stack.can_undo:
        draft.stack.undo()
    assert draft.items() == start
    while draft.stack.can_redo:
        draft.stack.redo()
    assert draft.items() == end


def test_diff_of_a_pure_permutation_reports_minimal_moves():
    items = [(i, Criterion(f"c{i}")) for i in range(6)]
    rotated = items[1:] + items[:1]
    diff = diff_criteria(items, rotated)
    assert [e.item_id for e in diff.moved] == [0]


def test_engine_modules_do_not_import_qt():
    code = ("import sys, engine.editing, engine.workspace, engine.depict; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
