"""`cladmop whatif` (engine/whatif.py): the editor's own draft operations, the record and its what-if
scored together, the same numbers the window shows, and the change read in words."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import CladmopError
from engine.records import read_record
from engine.whatif import Edits, insensitivity_note, numbered_items, parse_edits

EXAMPLE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "NCT09990001.xml"


def test_edits_are_the_editor_s_undoable_operations():
    trial = read_record(EXAMPLE)[0]
    draft = parse_edits(drop=[2], edit=[("3", "Body mass index of 25 to 45 kg/m2")], add=["Age 18 or older"],
                        add_exclusion=["Prior gene therapy"]).apply(trial)
    assert not draft.criteria[1].enabled and draft.criteria[2].text == "Body mass index of 25 to 45 kg/m2"
    assert [(c.kind, c.text) for c in draft.criteria[-2:]] == [("inclusion", "Age 18 or older"),
                                                               ("exclusion", "Prior gene therapy")]
    assert draft.diff().summary() == "1 edited, 2 added, 1 disabled"
    while draft.stack.can_undo:
        draft.stack.undo()
    assert not draft.is_modified


def test_item_numbers_are_the_editor_s_and_bad_ones_are_named():
    trial = read_record(EXAMPLE)[0]
    assert numbered_items(trial)[0].startswith("1. [inclusion] Adults aged 40 to 75")
    with pytest.raises(CladmopError, match=r"no criteria item 12 \(the record has 9"):
        Edits(drop=[12]).apply(trial)
    with pytest.raises(CladmopError, match="item number then the new text"):
        parse_edits(edit=[("three", "x")])


def test_a_change_the_model_barely_registers_is_said_in_words():
    trial = read_record(EXAMPLE)[0]
    numbers = Edits(edit=[(3, "Body mass index of 25 to 45 kg/m2")]).apply(trial)
    words = Edits(edit=[(3, "Body mass index above normal")]).apply(trial)
    assert "change of numbers" in insensitivity_note(numbers, -0.002)
    assert "this change" in insensitivity_note(words, 0.004)
    assert insensitivity_note(numbers, -0.05) == ""


def test_an_edited_threshold_the_thresholds_member_reads_is_said_to_be_read():
    trial = read_record(EXAMPLE)[0]
    age = Edits(edit=[(1, trial.criteria[0].text.replace("aged 40", "aged 18"))]).apply(trial)
    bmi = Edits(edit=[(3, "Body mass index of 25 to 45 kg/m2")]).apply(trial)
    unread = Edits(edit=[(7, trial.criteria[6].text.replace("within 3 months", "within 6 months"))]).apply(trial)
    four = ({"cladmop": 0.83, "thresholds": 0.862}, {"cladmop": 0.829, "thresholds": 0.846})
    three = ({"cladmop": 0.83}, {"cladmop": 0.829})
    assert "reads this threshold: its eligibility-thresholds member moved 0.862 → 0.846" in \
        insensitivity_note(age, -0.006, four)
    assert "member moved" in insensitivity_note(bmi, -0.006, four)
    assert "change of numbers" in insensitivity_note(unread, -0.001, four)  # a time window, not a threshold
    assert "change of numbers" in insensitivity_note(age, -0.006, three)  # a model without the member
    assert insensitivity_note(age, -0.02, four) == ""


def test_cli_whatif_gives_the_window_s_numbers(capsys):
    """The window predicts the draft's snapshot with the record's phase model; so does the CLI."""
    from engine.predict import Predictor

    assert main(["whatif", str(EXAMPLE), "--drop", "2", "--add", "Age 18 years or older", "--json",
                 "--no-ablation", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    predictor = Predictor.load(device="cpu")
    trial = read_record(EXAMPLE)[0]
    draft = Edits(drop=[2], add=[("inclusion", "Age 18 years or older")]).apply(trial)
    before = predictor.predict(trial, ablate=False).probability
    after = predictor.predict(draft.snapshot(), ablate=False).probability
    assert out["before"]["probability"] == pytest.approx(before, abs=1e-6)
    assert out["after"]["probability"] == pytest.approx(after, abs=1e-6)
    assert out["change"] == pytest.approx(after - before, abs=1e-6) and abs(out["change"]) > 0.01
    assert out["edits"] == "1 added, 1 disabled" and out["note"] == ""


def test_cli_whatif_lists_items_and_refuses_no_edit(capsys):
    assert main(["whatif", str(EXAMPLE), "--list"]) == 0
    assert capsys.readouterr().out.splitlines()[8].startswith("9. [exclusion] Pregnant")
    assert main(["whatif", str(EXAMPLE), "--device", "cpu"]) == 2
    assert "no edit given" in capsys.readouterr().err
