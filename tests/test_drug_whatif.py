"""What-if beyond criteria: add, remove or replace a drug or a condition; undoable, kept in scenarios and
workspaces (files saved before still load), in the diff's summary, in `cladmop whatif` and in the window."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.editing import Scenario, TrialDraft
from engine.errors import CladmopError
from engine.lookups.drug_tables import DrugTable
from engine.lookups.drugs import DrugLookup
from engine.lookups.resolve import Resolver
from engine.records.trial import Condition, Criterion, Drug, Trial
from engine.whatif import Edits, numbered_interventions, parse_edits

EXAMPLE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "NCT09990001.xml"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def _trial() -> Trial:
    return Trial("NCT00000042", title="t", phases=("II",),
                 drugs=[Drug("oxaliplatin", "CCN", "small_molecule", "t.csv"), Drug("XYZ-1", kind="unresolved")],
                 conditions=[Condition("Colon cancer", ["C18.9"], "exact"), Condition("Obesity", ["E66.9"], "exact")],
                 criteria=[Criterion("Adults"), Criterion("Pregnant", "exclusion")],
                 unresolved=["drug 'XYZ-1': no structure found"])


def _names(items) -> list[str]:
    return [x.name for x in items]


@pytest.fixture
def resolver(tmp_path):
    rows = [("leucovorin", "CCO"), ("fluorouracil", "FC1=CNC(=O)NC1=O"), ("oxaliplatin", "CCN"),
            ("irinotecan", "CCCC"), ("aspirin", ASPIRIN)]
    return Resolver(DrugLookup([DrugTable("t.csv", rows)], library_path=tmp_path / "lib.csv"), conditions=None)


# -- the draft's commands ----------------------------------------------------------------------------
def test_add_remove_replace_drugs_undo_and_redo():
    draft = TrialDraft(_trial())
    draft.add_drugs([Drug("irinotecan", "CCCC", "small_molecule")], label="irinotecan")
    draft.remove_drugs([0])
    draft.replace_drug(0, [Drug("aspirin", ASPIRIN, "small_molecule")])
    assert _names(draft.edited.drugs) == ["aspirin", "irinotecan"]
    assert _names(draft.original.drugs) == ["oxaliplatin", "XYZ-1"]  # the record stays as read
    assert draft.stack.history() == ["Add drug irinotecan", "Remove drug oxaliplatin", "Replace XYZ-1 by aspirin"]
    assert draft.edited.unresolved == []  # the note left with the unresolved drug
    assert draft.diff().summary() == "drugs added: aspirin, irinotecan, drugs removed: oxaliplatin, XYZ-1"
    while draft.stack.can_undo:
        draft.stack.undo()
    assert draft.edited.drugs == draft.original.drugs and not draft.is_modified
    assert draft.edited.unresolved == ["drug 'XYZ-1': no structure found"]
    draft.stack.redo()
    assert _names(draft.edited.drugs) == ["oxaliplatin", "XYZ-1", "irinotecan"] and draft.is_modified


def test_conditions_too():
    draft = TrialDraft(_trial())
    draft.remove_conditions([1])
    draft.add_condition(Condition("Rectal cancer", ["C20"], "user"))
    draft.replace_condition(0, Condition("Gastric cancer", [], "unresolved"))
    assert _names(draft.edited.conditions) == ["Gastric cancer", "Rectal cancer"]
    assert "condition 'Gastric cancer': no ICD-10 code" in draft.edited.unresolved
    assert "conditions removed: Colon cancer, Obesity" in draft.diff().summary()
    assert [c.icd10 for c in draft.snapshot().conditions] == [[], ["C20"]]


@pytest.mark.parametrize("bad", [lambda d: d.remove_drugs([5]), lambda d: d.replace_drug(-1, [Drug("a")]),
                                 lambda d: d.add_drugs([Drug("a")], index=9), lambda d: d.remove_conditions([2]),
                                 lambda d: d.add_drugs([]), lambda d: d.remove_drugs([])])
def test_a_refused_command_changes_nothing(bad):
    draft = TrialDraft(_trial())
    draft.add("Older adults")
    before = draft.to_dict()
    with pytest.raises((IndexError, ValueError)):
        bad(draft)
    assert draft.to_dict() == before and draft.stack.history() == ["Add inclusion criterion"]


def test_a_structure_pasted_after_a_removal_reaches_the_record_by_name():
    """Drug indexes are the what-if's (what the trial view shows); the record gets the same correction."""
    draft = TrialDraft(_trial())
    draft.remove_drugs([0])
    draft.set_drug_structure(0, ASPIRIN)
    assert draft.edited.drugs[0].smiles == ASPIRIN and draft.original.drugs[1].smiles == ASPIRIN
    assert draft.original.unresolved == [] and draft.diff().summary() == "drug removed: oxaliplatin"
    draft.stack.undo()
    assert draft.original.drugs[1].smiles is None and draft.original.unresolved


def test_revert_all_brings_drugs_and_conditions_back():
    draft = TrialDraft(_trial())
    draft.remove_drugs([0, 1])
    draft.remove_conditions([0])
    draft.edit_text(0, "Adults 18+")
    draft.revert_all()
    assert not draft.is_modified and draft.edited.unresolved == draft.original.unresolved
    draft.stack.undo()
    assert draft.edited.drugs == [] and len(draft.edited.conditions) == 1


# -- scenarios and saved files -------------------------------------------------------------------------
def test_scenarios_keep_their_drugs_and_conditions():
    draft = TrialDraft(_trial())
    draft.save_scenario("As recorded")
    draft.replace_drug(0, [Drug("irinotecan", "CCCC", "small_molecule")])
    draft.add_condition(Condition("Rectal cancer", ["C20"], "user"))
    draft.save_scenario("Irinotecan")
    assert draft.scenario("As recorded").drugs is None  # "as the record": stored as before
    assert _names(draft.scenario_trial("Irinotecan").drugs) == ["irinotecan", "XYZ-1"]
    assert _names(draft.scenario_trial("As recorded").drugs) == ["oxaliplatin", "XYZ-1"]
    summary = draft.compare("As recorded", "Irinotecan").summary()
    assert summary == "drug added: irinotecan, drug removed: oxaliplatin, condition added: Rectal cancer"
    draft.apply_scenario("As recorded")
    assert not draft.is_modified
    draft.apply_scenario("Irinotecan")
    assert _names(draft.edited.drugs) == ["irinotecan", "XYZ-1"]


def test_corrections_reach_scenarios_with_their_own_drugs():
    draft = TrialDraft(_trial())
    draft.remove_drugs([0])
    draft.save_scenario("No oxaliplatin")
    draft.set_drug_structure(0, ASPIRIN)
    assert draft.scenario_trial("No oxaliplatin").drugs[0].smiles == ASPIRIN
    draft.stack.undo()
    assert draft.scenario_trial("No oxaliplatin").drugs[0].smiles is None


def test_draft_round_trip_and_files_saved_before():
    draft = TrialDraft(_trial())
    draft.add_drugs([Drug("leucovorin", "CCO", "small_molecule", "t.csv", regimen="FOLFOX")], "FOLFOX")
    draft.remove_conditions([1])
    draft.save_scenario("S")
    data = json.loads(json.dumps(draft.to_dict()))
    restored = TrialDraft.from_dict(data)
    assert restored.edited.drugs == draft.edited.drugs and restored.edited.conditions == draft.edited.conditions
    assert restored.scenario("S").drugs == draft.scenario("S").drugs
    assert restored.edited.drugs[-1].regimen == "FOLFOX"
    old = {k: v for k, v in TrialDraft(_trial()).to_dict().items() if k not in ("drugs", "conditions")}
    assert "drugs" not in TrialDraft(_trial()).to_dict()  # unchanged drafts are written as before
    assert not TrialDraft.from_dict(old).is_modified
    old_scenario = {"name": "Old", "created": 1.0, "note": "", "items": [{"id": 0, "text": "x", "kind": "inclusion",
                                                                          "enabled": True}]}
    assert Scenario.from_dict(old_scenario).drugs is None and "drugs" not in Scenario.from_dict(old_scenario).to_dict()


def test_workspace_keeps_drug_what_ifs(tmp_path):
    from engine.workspace import Workspace

    with Workspace.open(tmp_path / "w.cladmop") as workspace:
        key = workspace.add_trial(_trial())
        draft = TrialDraft(_trial())
        draft.remove_drugs([0])
        draft.save_scenario("No oxaliplatin")
        workspace.save_draft(key, draft)
    with Workspace.open_read_only(tmp_path / "w.cladmop") as workspace:
        restored = workspace.load_trials()[0].draft
    assert _names(restored.edited.drugs) == ["XYZ-1"]
    assert _names(restored.scenario_trial("No oxaliplatin").drugs) == ["XYZ-1"]


# -- Edits (what the CLI parses) -----------------------------------------------------------------------
def test_edits_resolve_new_names_and_a_regimen_removes_all_its_drugs(resolver):
    trial = resolver.resolve(_trial().replace(conditions=[]))
    edits = parse_edits(add_drug=["FOLFIRI", "mystery=" + ASPIRIN], add_condition=["Rectal cancer=C20"])
    draft = edits.apply(trial, resolver)
    assert [(d.name, d.regimen) for d in draft.edited.drugs[2:5]] == [
        ("leucovorin", "FOLFIRI"), ("fluorouracil", "FOLFIRI"), ("irinotecan", "FOLFIRI")]
    assert draft.edited.drugs[5].smiles == ASPIRIN and draft.edited.drugs[5].source == "user"
    assert draft.edited.conditions[0].icd10 == ["C20"]
    assert draft.stack.history()[0] == "Add drug FOLFIRI"  # one mention, one undo step
    assert "regimen FOLFIRI → leucovorin, fluorouracil, irinotecan" in numbered_interventions(draft.edited)
    again = Edits(remove_drugs=["folfiri", "1"]).apply(draft.snapshot(), resolver)
    assert _names(again.edited.drugs) == ["XYZ-1", "mystery"]


def test_replacements_read_the_records_numbers_whatever_else_is_edited(resolver):
    trial = _trial().replace(drugs=_trial().drugs + [Drug("aspirin", ASPIRIN, "small_molecule", "t.csv")])
    # drug 1 leaves, drug 2 becomes a regimen (three drugs), drug 3 becomes another drug: numbers as listed
    draft = parse_edits(remove_drug=["1"], replace_drug=[("2", "FOLFIRI"), ("aspirin", "mystery=CCO")],
                        replace_condition=[("1", "Rectal cancer=C20")]).apply(trial, resolver)
    assert _names(draft.edited.drugs) == ["leucovorin", "fluorouracil", "irinotecan", "mystery"]
    assert [c.icd10 for c in draft.edited.conditions] == [["C20"], ["E66.9"]]
    assert "Replace XYZ-1 by FOLFIRI" in draft.stack.history()
    draft.stack.undo(), draft.stack.undo(), draft.stack.undo(), draft.stack.undo()
    assert _names(draft.edited.drugs) == _names(trial.drugs)


def test_a_replacement_that_is_ambiguous_or_clashes_is_refused(resolver):
    folfiri = parse_edits(add_drug=["FOLFIRI"]).apply(_trial(), resolver).snapshot()
    with pytest.raises(CladmopError, match="'FOLFIRI' names 3 drugs of this trial; replace one of them by number"):
        parse_edits(replace_drug=[("FOLFIRI", "aspirin")]).apply(folfiri, resolver)
    with pytest.raises(CladmopError, match="drug 1 is both replaced and removed"):
        parse_edits(remove_drug=["1"], replace_drug=[("oxaliplatin", "aspirin")]).apply(_trial(), resolver)


def test_a_name_or_number_not_in_the_trial_is_named():
    with pytest.raises(CladmopError, match=r"no drug '7' in this trial \(its drugs: 1. oxaliplatin, 2. XYZ-1\)"):
        parse_edits(remove_drug=["7"]).apply(_trial())
    with pytest.raises(CladmopError, match="no condition 'asthma'"):
        parse_edits(remove_condition=["asthma"]).apply(_trial())


def test_cli_whatif_with_drug_and_condition_edits(capsys):
    from engine.cli import main

    assert main(["whatif", str(EXAMPLE), "--remove-drug", "1", "--add-drug", f"aspirin={ASPIRIN}",
                 "--add-condition", "Hypertension=I10", "--remove-condition", "Obesity", "--json",
                 "--no-ablation", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["edits"] == ("drug added: aspirin, drug removed: Metformin hydrochloride, "
                            "condition added: Hypertension, condition removed: Obesity")
    assert 0 <= out["before"]["probability"] <= 1 and 0 <= out["after"]["probability"] <= 1
    assert out["change"] == pytest.approx(out["after"]["probability"] - out["before"]["probability"], abs=1e-5)


def test_cli_whatif_replaces_a_drug_and_a_condition(capsys):
    from engine.cli import main

    assert main(["whatif", str(EXAMPLE), "--replace-drug", "1", f"aspirin={ASPIRIN}",
                 "--replace-condition", "Obesity", "Hypertension=I10", "--json", "--no-ablation",
                 "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "drug added: aspirin" in out["edits"] and "drug removed: Metformin hydrochloride" in out["edits"]
    assert "condition added: Hypertension" in out["edits"] and "condition removed: Obesity" in out["edits"]


def test_cli_lists_the_drugs_to_remove_and_refuses_a_wrong_one(capsys):
    from engine.cli import main

    assert main(["whatif", str(EXAMPLE), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "drug 1. Metformin hydrochloride" in listed and "condition 2. Obesity" in listed
    assert main(["whatif", str(EXAMPLE), "--remove-drug", "ibuprofen", "--no-ablation", "--device", "cpu"]) != 0
    assert "no drug 'ibuprofen'" in capsys.readouterr().err


# -- the window ----------------------------------------------------------------------------------------
@pytest.mark.gui
def test_window_adds_and_removes_drugs_and_conditions_undoably(qtbot, make_window, resolver):
    """The trial view's + Drug… / ✕ / + Condition… go through the draft: Undo works, the view marks
    the what-if, the regimen is spelled out and the what-if is scored again."""
    from PySide6.QtCore import Qt

    from engine.records.typed import typed_trial
    from tests.gui_helpers import ActiveCriteriaPredictor

    predictor = ActiveCriteriaPredictor()
    window = make_window(predictor=predictor)
    key = window.add_typed_trial(typed_trial("Colon study", "II", [("oxaliplatin", "CCN")], [("Colon cancer", "C18.9")],
                                             "Inclusion Criteria:\n- Adults\nExclusion Criteria:\n- Pregnant"))
    draft, view, edits = window.session.entry(key).draft, window.trial_view, window.intervention_edits
    edits.resolver = lambda: resolver
    edits.ask = lambda *args: "FOLFOX"
    qtbot.mouseClick(view.add_drug_button, Qt.MouseButton.LeftButton)
    assert [d.regimen for d in draft.edited.drugs] == [None, "FOLFOX", "FOLFOX", "FOLFOX"]
    assert len(view.cards) == 4 and "added in this what-if" in _texts(view.cards[1])
    assert "added in this what-if" not in _texts(view.cards[0])
    qtbot.waitUntil(lambda: draft.snapshot().content_hash() in predictor.calls, timeout=20000)  # scored again

    qtbot.mouseClick(view.cards[0].remove_button, Qt.MouseButton.LeftButton)
    assert [d.name for d in draft.edited.drugs] == ["leucovorin", "fluorouracil", "oxaliplatin"]
    assert draft.edited.drugs[2].regimen == "FOLFOX" and draft.original.drugs[0].regimen is None
    edits.ask = lambda *args: "Rectal cancer=C20"
    qtbot.mouseClick(view.add_condition_button, Qt.MouseButton.LeftButton)
    view.conditionRemoveRequested.emit(0)
    assert [c.name for c in draft.edited.conditions] == ["Rectal cancer"]
    # by name, FOLFOX's oxaliplatin stands in for the record's
    assert draft.diff().summary() == ("drugs added: leucovorin, fluorouracil, condition added: Rectal cancer, "
                                      "condition removed: Colon cancer")
    assert "FOLFOX → leucovorin, fluorouracil, oxaliplatin" in _texts(view)
    assert "<s>Colon cancer</s>" in _texts(view)

    edits.ask = lambda *args: "mystery=not a smiles"  # refused: reported, nothing changes
    qtbot.mouseClick(view.add_drug_button, Qt.MouseButton.LeftButton)
    assert "not a valid SMILES" in window.last_error_dialog.text() and len(draft.edited.drugs) == 3
    for _ in range(4):
        window.criteria_editor.undo_action.trigger()
    assert not draft.is_modified and [c.drug.name for c in view.cards] == ["oxaliplatin"]


def _texts(widget) -> str:
    """Every label's text under `widget`, joined (what the analyst reads there)."""
    from PySide6.QtWidgets import QLabel

    return " ".join(label.text() for label in widget.findChildren(QLabel))
