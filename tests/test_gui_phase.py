"""Which phase model scores a trial, in the GUI: the record's phase by default (a mixed-phase record:
the later phase), the analyst's choice otherwise — passed to the predictor explicitly, kept in the
workspace, and explained without pointing GUI users at a command-line flag."""
from __future__ import annotations

from pathlib import Path

import pytest


pytestmark = pytest.mark.gui
EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
MIXED = EXAMPLES / "NCT09990002.json"  # Phase 1/Phase 2


@pytest.fixture
def window_with(make_window, tiny_predictor):
    return lambda workspace=None: make_window(workspace, predictor=tiny_predictor)


def wait_scored(qtbot, window, key, phase):
    qtbot.waitUntil(lambda: (p := window.session.current_prediction(key, "original")) is not None
                    and p.phase == phase, timeout=120000)
    return window.session.current_prediction(key, "original")


def test_a_mixed_phase_record_uses_the_later_phase_and_the_analyst_can_choose(qtbot, window_with, tmp_path,
                                                                              tiny_predictor):
    window = window_with()
    window.open_files([MIXED])
    qtbot.waitUntil(lambda: window.current_key is not None, timeout=60000)
    key = window.current_key
    trial = window.session.entry(key).draft.original
    assert trial.phases == ("I", "II")

    default = wait_scored(qtbot, window, key, "II")
    panel = window.prediction_panel
    assert panel.phase_row.isVisibleTo(window) and panel.chosen_phase is None
    assert panel.phase_box.currentText() == "Phase II — the record's (Phase I/II)"
    assert [panel.phase_box.itemData(i) for i in range(panel.phase_box.count())] == [None, "I", "II"]
    assert "mixed-phase record" in panel.phase_note.text() and "Prediction panel" in panel.phase_note.text()
    assert "--phase" not in panel.phase_note.text() + panel.detail.text()
    assert not any("--phase" in w for w in default.warnings)
    direct = tiny_predictor.predict(window.session.trial_for(key, "original"), phase="II")
    assert default.probability == pytest.approx(direct.probability, abs=1e-6)

    # the analyst picks the phase I model (as from the combo box)
    panel.phase_box.setCurrentIndex(1)
    panel.phaseChosen.emit(panel.phase_box.currentData())
    chosen = wait_scored(qtbot, window, key, "I")
    assert chosen.probability == pytest.approx(
        tiny_predictor.predict(window.session.trial_for(key, "original"), phase="I").probability, abs=1e-6)
    assert chosen.base_rate == pytest.approx(tiny_predictor.base_rate("I"))
    assert "phase I model (your choice)" in panel.phase_note.text()
    assert window.session.workspace.ui(f"phase/{key}") == "I"
    assert panel.probability.text() == f"{chosen.probability:.2f}"

    # back to the default: answered from the cache, no stale phase I number in between
    window.set_phase_override(None)
    assert window.session.current_prediction(key, "original").phase == "II"
    window.close()

    # the choice survives a restart (it lives in the workspace file)
    again = window_with(tmp_path / "w.cladmop")
    assert again.phase_override(key) is None
    again.set_phase_override("I", key)
    again.close()
    third = window_with(tmp_path / "w.cladmop")
    third.trial_list.select_key(key)
    assert wait_scored(qtbot, third, key, "I").phase == "I"
    assert third.prediction_panel.chosen_phase == "I"


def test_a_record_without_a_phase_asks_for_a_phase_model(qtbot, window_with, tmp_path):
    import json

    data = json.loads(MIXED.read_text())
    data["protocolSection"]["designModule"].pop("phases", None)
    unphased = tmp_path / "NCT09990002-no-phase.json"
    unphased.write_text(json.dumps(data))
    window = window_with()
    window.open_files([unphased])
    qtbot.waitUntil(lambda: window.current_key is not None, timeout=60000)
    key = window.current_key
    assert window.session.entry(key).draft.original.phases == ()
    qtbot.waitUntil(lambda: "choose a phase model" in window.prediction_panel.caption.text(), timeout=60000)
    assert "--phase" not in window.prediction_panel.caption.text()
    assert window.prediction_panel.phase_box.currentText() == "none — the record states no phase"
    window.set_phase_override("II")
    assert wait_scored(qtbot, window, key, "II").phase == "II"
