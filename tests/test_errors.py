"""Errors and notes as data (engine/errors.py): the engine says what is wrong and names what the analyst
can do as a key; the CLI words it with its option, the window with its control, and neither reads the
other's words. A mixed-phase record and one with no phase, through the shipped model."""
from __future__ import annotations

import pickle
from pathlib import Path

from engine.errors import CHOOSE_PHASE, Advice, CladmopError, InputError, worded

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


def test_an_action_is_worded_by_each_front_end_and_plain_messages_are_left_alone():
    from desktop.prediction_service import WORDS as WINDOW
    from engine.cli import WORDS as CLI

    error = CladmopError("NCT1: the record states no phase", action=CHOOSE_PHASE)
    assert worded(error, CLI) == "NCT1: the record states no phase; choose one with --phase"
    assert worded(error, WINDOW) == "NCT1: the record states no phase; choose a phase model in the Prediction panel"
    assert worded(InputError("rows.csv: no header"), CLI) == "rows.csv: no header"
    assert worded("a plain note", WINDOW) == "a plain note" and worded(ValueError("x"), CLI) == "x"


def test_a_note_keeps_its_action_through_pickling_as_between_processes():
    note = pickle.loads(pickle.dumps(Advice("mixed-phase record", CHOOSE_PHASE)))
    assert note == "mixed-phase record" and note.action == CHOOSE_PHASE and isinstance(note, str)


def test_the_cli_names_its_option_for_a_record_without_a_phase_and_a_mixed_phase_one(tmp_path, capsys):
    from engine.cli import main

    text = (EXAMPLES / "NCT09990002.json").read_text(encoding="utf-8")
    unphased = tmp_path / "NCT09990002.json"
    unphased.write_text(text.replace('"phases": ["PHASE1", "PHASE2"],', '"phases": [],'), encoding="utf-8")
    assert main(["predict", str(unphased), "--no-ablation", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "the record states no phase" in err and "choose one with --phase" in err
    assert main(["predict", str(EXAMPLES / "NCT09990002.json"), "--no-ablation", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "warning: mixed-phase record (I/II): scored with the phase II model; choose one with --phase" in out
