"""The Qt-free studio (engine/studio.py), driven as the CLI drives it: opening records (resolved, copies
left out, bad files named), drafts autosaved through the schedule it is given, a refused save keeping
the edits, and events for any front end. Records: the examples we wrote (resources/examples)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.studio import Lookups, Studio
from engine.workspace import Workspace

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
RECORDS = [EXAMPLES / "NCT09990001.xml", EXAMPLES / "NCT09990002.json"]


class Resolver:
    """Marks every trial it resolves, so a test sees that the lookups ran (the real tables take seconds)."""

    def __init__(self):
        self.seen: list[str] = []

    def resolve(self, trial):
        self.seen.append(trial.nct_id)
        return trial.replace(warnings=[*trial.warnings, "resolved"])


@pytest.fixture
def studio(tmp_path):
    resolver = Resolver()
    saves: list[float] = []
    s = Studio(Workspace.open(tmp_path / "w.cladmop"), Lookups(lambda: resolver), schedule_save=saves.append)
    s.resolver, s.saves = resolver, saves
    yield s
    s.workspace.close()


def events_of(studio: Studio) -> list[tuple]:
    seen: list[tuple] = []
    for name in ("trials_added", "draft_changed", "saved", "save_failed", "trial_removed"):
        studio.events.connect(name, lambda *args, name=name: seen.append((name, *args)))
    return seen


def test_records_are_read_resolved_and_stored_and_a_bad_file_is_named(studio, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    seen = events_of(studio)
    opened = studio.reader()([*RECORDS, bad])
    assert [e[0] for e in opened.errors] == [str(bad)] and "JSON" in opened.errors[0][1]
    assert len(studio) == 0  # stored, not shown yet: the window adopts on its own thread
    keys = studio.adopt_stored(opened.workspace, opened.stored)
    assert keys == ["NCT09990001", "NCT09990002"] and ("trials_added", keys) in seen
    assert all("resolved" in studio.entry(k).record.warnings for k in keys)
    assert [stored.key for stored in studio.workspace.load_trials()] == keys  # in the file


def test_a_file_opened_again_selects_the_open_trial_instead_of_a_copy(studio):
    opened = studio.reader()(RECORDS[:1])
    studio.adopt_stored(opened.workspace, opened.stored)
    again = studio.reader()([str(RECORDS[0]), str(RECORDS[0])])
    assert again.stored == [] and again.already == ["NCT09990001"] and len(studio) == 1


def test_an_edit_schedules_an_autosave_and_the_save_reaches_the_file(studio, tmp_path):
    opened = studio.reader()(RECORDS[:1])
    (key,) = studio.adopt_stored(opened.workspace, opened.stored)
    seen = events_of(studio)
    studio.entry(key).draft.edit_text(0, "Age 65 or older")
    assert studio.saves == [Studio.AUTOSAVE_DELAY_S] and studio.has_unsaved_changes
    assert ("draft_changed", key, "do") in seen
    assert studio.save_now() and not studio.has_unsaved_changes and seen[-1][0] == "saved"
    studio.workspace.close()
    reopened = Studio(Workspace.open(tmp_path / "w.cladmop"), Lookups(Resolver))
    assert reopened.entry(key).draft.criteria[0].text == "Age 65 or older"
    reopened.close()


def test_a_refused_save_keeps_the_edits_says_so_and_retries_and_blocks_a_switch(studio, tmp_path, monkeypatch):
    opened = studio.reader()(RECORDS[:1])
    (key,) = studio.adopt_stored(opened.workspace, opened.stored)
    studio.entry(key).draft.edit_text(0, "changed")
    seen = events_of(studio)

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(studio.workspace, "save_draft", full_disk)
    assert not studio.save_now()
    assert seen[-1][0] == "save_failed" and "No space left" in seen[-1][1] and str(studio.workspace.path) in seen[-1][1]
    assert studio.saves[-1] == 5 * Studio.AUTOSAVE_DELAY_S and studio.has_unsaved_changes
    other = Workspace.open(tmp_path / "other.cladmop")
    assert not studio.switch_workspace(other)  # switching would drop the unsaved edit
    assert studio.entry(key).draft.criteria[0].text == "changed"
    other.close()


def test_a_typed_in_trial_is_looked_up_like_an_opened_one(studio):
    from engine.records.typed import typed_trial

    trial = typed_trial("In-house study", "Phase 2", [("metformin", "")], [("type 2 diabetes", "")],
                        "Inclusion Criteria:\n- Adults\nExclusion Criteria:\n- Pregnancy")
    (key,) = studio.add_trials([trial], resolve=True)
    assert studio.resolver.seen == [trial.nct_id] and "resolved" in studio.entry(key).record.warnings


def test_lookups_that_cannot_be_built_leave_records_unresolved_and_say_why(tmp_path):
    def broken():
        raise OSError("drug table missing")

    studio = Studio(Workspace.open(tmp_path / "w.cladmop"), Lookups(broken))
    opened = studio.reader()(RECORDS[:1])
    assert len(opened.stored) == 1 and opened.notes == ["drug and disease lookups unavailable: drug table missing"]
    studio.close()


def test_an_unknown_event_is_refused_by_name(studio):
    with pytest.raises(KeyError, match="no event 'trial_added'"):
        studio.events.connect("trial_added", print)


def test_a_phase_choice_is_kept_in_the_workspace_binds_only_a_model_with_that_phase_and_drops_old_numbers(
        studio, tmp_path):
    opened = studio.reader()(RECORDS[1:])  # a Phase 1/2 record
    (key,) = studio.adopt_stored(opened.workspace, opened.stored)
    studio.set_prediction(key, "original", object(), studio.trial_for(key, "original").content_hash())
    changed = []
    studio.events.connect("prediction_changed", lambda *args: changed.append(args))
    assert studio.set_phase_choice(key, "I") and not studio.set_phase_choice(key, "I")
    assert studio.current_prediction(key, "original") is None and changed == [(key, "original")]
    assert studio.usable_phase_choice(key, ["I", "II"]) == "I" and studio.usable_phase_choice(key, ["II"]) is None
    assert studio.workspace.phase_choice(key) == "I"


def test_what_score_all_takes_carries_the_what_if_the_scenarios_and_the_phase(studio):
    opened = studio.reader()(RECORDS)
    first, second = studio.adopt_stored(opened.workspace, opened.stored)
    draft = studio.entry(first).draft
    draft.edit_text(0, "Age 70 or older")
    draft.save_scenario("older")
    studio.set_phase_choice(second, "I")
    items = studio.to_score()
    assert [i.key for i in items] == [first, second] and [i.phase for i in items] == [None, "I"]
    assert items[0].what_if.criteria[0].text == "Age 70 or older" and items[1].what_if is None
    assert [name for name, _ in items[0].scenarios] == ["older"]
    assert items[0].trial.criteria[0].text != "Age 70 or older"  # the record as recorded
    only = studio.to_score(lambda key, trial: (None, "no phase model fits"), keys=[second])
    assert [(i.key, i.phase, i.phase_problem) for i in only] == [(second, None, "no phase model fits")]
