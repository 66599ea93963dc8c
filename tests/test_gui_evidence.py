"""The evidence panel: novelty in words and similar past trials beside the number; a double-click asks
for the record; predictions with evidence survive the workspace and reach the exports."""
from __future__ import annotations

import pytest

from engine.evidence.novelty import Novelty
from engine.evidence.similar import SimilarTrial

pytestmark = pytest.mark.gui


def with_evidence(prediction, unusual: bool):
    prediction.similar = [SimilarTrial("NCT00000011", 1, "II", 2012, 0.91, 0.88, ["aspirin"], []),
                          SimilarTrial("NCT00000012", 0, "I/II", 2010, 0.85, 0.85, [], ["stroke"]),
                          SimilarTrial("NCT00000013", 1, "II", 0, 0.80, 0.80)]
    reasons = ["the criteria carry no eligibility content"] if unusual else []
    prediction.novelty = Novelty(0.97 if unusual else 0.3, 0.6, reasons)
    prediction.interval, prediction.interval_level = (0.62, 0.79), 0.8
    return prediction


@pytest.fixture
def prediction():
    from tests.builders import make_prediction, stored_trial as make_trial

    return make_prediction(make_trial())


def test_the_panel_shows_novelty_the_neighbours_and_their_success_rate(qtbot, prediction):
    from desktop.widgets.prediction_panel import PredictionPanel

    panel = PredictionPanel()
    qtbot.addWidget(panel)
    panel.show_state(with_evidence(prediction, unusual=True), None, modified=False, model_status="ready",
                     model_text="")
    evidence = panel.evidence
    assert "Unusual trial" in evidence.novelty.text() and "no eligibility content" in evidence.novelty.text()
    assert "67% of these 3 succeeded" in evidence.heading.text()
    assert "similar past trials 67% succeeded" in panel.caption.text()
    assert "80%: 0.62–0.79" in panel.caption.text()
    table = evidence.table
    assert table.rowCount() == 3
    assert [table.item(0, c).text() for c in range(table.columnCount())] == [
        "NCT00000011", "success", "II", "2012", "0.91", "drug: aspirin"]
    assert table.item(2, 3).text() == "?" and table.item(2, 5).text() == "similar criteria"
    with qtbot.waitSignal(evidence.openRequested) as asked:
        table.cellDoubleClicked.emit(1, 2)
    assert asked.args == ["NCT00000012"]


def test_a_typical_trial_reads_calmly_and_a_model_without_an_index_shows_no_evidence(qtbot, prediction):
    from desktop.widgets.prediction_panel import PredictionPanel

    panel = PredictionPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_state(with_evidence(prediction, unusual=False), None, modified=False, model_status="ready",
                     model_text="")
    assert panel.evidence.novelty.text() == "<b>Novelty:</b> typical of the learning data"
    prediction.novelty = Novelty(0.3, 0.6, [], ["drug 'XYZ-123': no structure found"])
    panel.show_state(prediction, None, modified=False, model_status="ready", model_text="")
    assert "Unusual" not in panel.evidence.novelty.text()  # a note, in the calm colour: not a warning
    assert "note: drug &#x27;XYZ-123&#x27;: no structure found" in panel.evidence.novelty.text()
    prediction.similar, prediction.novelty = [], None
    panel.show_state(prediction, None, modified=False, model_status="ready", model_text="")
    assert not panel.evidence.novelty.isVisible() and not panel.evidence.table.isVisible()
    assert "similar past trials" not in panel.caption.text()


def test_evidence_survives_the_workspace_and_reaches_the_csv_and_html_exports(prediction):
    from engine.export import csv_rows, html_report
    from engine.scoring import ScoredTrial
    from engine.workspace import prediction_from_dict, prediction_to_dict
    from tests.builders import stored_trial as make_trial

    back = prediction_from_dict(prediction_to_dict(with_evidence(prediction, unusual=True)))
    assert back.similar == prediction.similar and back.novelty == prediction.novelty
    assert back.neighbour_success_rate == pytest.approx(2 / 3)
    row = csv_rows([ScoredTrial(make_trial(), back)])[0]
    assert row["novelty"].startswith("unlike the learning data: the criteria carry no eligibility content")
    assert row["similar_success_rate"] == "0.67" and row["interval"] == "80%: 0.62–0.79"
    assert back.interval == (0.62, 0.79)
    assert row["similar_trials"].split(" | ")[0] == "NCT00000011 success (0.91)"
    html = html_report([ScoredTrial(make_trial(), back)])
    assert "Similar past trials (67% succeeded)" in html and "NCT00000012" in html
