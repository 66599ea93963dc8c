"""The attention view and the ablation chart on real predictions of a tiny trained model: every cell
and bar names what it is, colours follow the engine's scales, the window shows what the panel shows."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from engine.depict import highlight_color
from engine.records import read_record
from desktop.widgets.attention_view import (ABLATION_TITLE, ATTENTION_TITLE, AttentionView, attention_matrix, css,
                                            token_columns)

pytestmark = pytest.mark.gui
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "resources" / "examples"


@pytest.fixture(scope="module")
def scored(tiny_predictor):
    trial = tiny_predictor.prepare(read_record(EXAMPLES / "NCT09990001.xml")[0])
    return trial, tiny_predictor.predict(trial, phase="II")


def shown_view(qtbot, trial, prediction) -> AttentionView:
    view = AttentionView()
    qtbot.addWidget(view)
    view.resize(1000, 420)
    view.show()
    view.show_prediction(prediction, trial)
    return view


def test_heatmap_columns_are_the_inputs_grouped_by_source(qtbot, scored):
    trial, prediction = scored
    view = shown_view(qtbot, trial, prediction)
    columns = view.heatmap.columns
    n_c, n_m, n_d = (len(prediction.attention[0].criteria), len(prediction.attention[0].molecules),
                     len(prediction.attention[0].diseases))
    assert [c.source for c in columns] == ["criterion"] * n_c + ["molecule"] * n_m + ["disease"] * n_d
    matrix = view.heatmap.matrix
    assert matrix.shape == (3, n_c + n_m + n_d)
    for row, level in enumerate(prediction.attention):
        np.testing.assert_allclose(matrix[row, :n_c], level.criteria)
        np.testing.assert_allclose(matrix[row, n_c + n_m:], level.diseases)
        # what the heatmap leaves out is exactly the weight on the previous level
        assert matrix[row].sum() + level.previous == pytest.approx(1.0, abs=1e-4)
    assert ATTENTION_TITLE in view.attention_title.text() and "not attribution" in ATTENTION_TITLE
    assert view.heatmap.colorbar.levels() == pytest.approx((0.0, float(matrix.max())))


def test_hovering_a_cell_names_criterion_drug_segment_and_icd_code(qtbot, scored):
    trial, prediction = scored
    view = shown_view(qtbot, trial, prediction)
    qtbot.wait(50)
    heatmap = view.heatmap
    texts = []
    heatmap.hovered.connect(texts.append)

    def hover(column, row):
        scene = heatmap.plot.vb.mapViewToScene(QPointF(column + 0.5, row + 0.5))
        heatmap.scene().sigMouseMoved.emit(scene)
        return texts[-1]

    criterion = trial.active_criteria[2]
    text = hover(2, 2)
    assert text.startswith("fine · criterion 3 (") and criterion.text in text and criterion.kind in text
    assert f"weight {prediction.attention[2].criteria[2]:.4f}" in text
    assert view.readout.text().startswith("fine · criterion 3")

    first_molecule = next(i for i, c in enumerate(heatmap.columns) if c.source == "molecule")
    segment = prediction.molecule_tokens[0]
    text = hover(first_molecule, 0)
    drug = trial.drugs[segment.drug_index].name if segment is not None else trial.drugs[0].name
    assert text.startswith("coarse · drug ") and drug in text
    if segment is not None:
        assert f"segment {segment.smiles}" in text

    first_disease = next(i for i, c in enumerate(heatmap.columns) if c.source == "disease")
    code = prediction.disease_labels[0]
    condition = next(c.name for c in trial.conditions if code in c.icd10)
    text = hover(first_disease, 1)
    assert text.startswith(f"medium · ICD-10 {code} ({condition})")
    assert hover(-3, 1) == ""  # outside the map: nothing named


def test_criteria_text_is_highlighted_by_the_chosen_level(qtbot, scored):
    trial, prediction = scored
    view = AttentionView()
    qtbot.addWidget(view)
    view.show_prediction(prediction, trial)
    for level in ("fine", "coarse"):
        view.level_box.setCurrentText(level)
        html = view.criteria.toHtml()
        weights = next(a for a in prediction.attention if a.level == level).criteria
        assert f"{level}-level attention" in view.criteria.toPlainText()
        top = int(np.argmax(weights))
        # the most attended criterion carries the darkest colour of the scale (Qt rewrites colours as #rrggbb)
        assert css(highlight_color(float(weights[top]), 0.0, float(weights.max()))) in html
        assert f"{weights[top]:.3f}" in view.criteria.toPlainText()
    assert all(c.text.split()[0] in view.criteria.toPlainText() for c in trial.active_criteria)


def test_ablation_bars_are_exact_deltas_largest_first_on_a_diverging_scale(qtbot, scored):
    trial, prediction = scored
    view = AttentionView()
    qtbot.addWidget(view)
    view.show_prediction(prediction, trial)
    chart = view.ablation
    assert ABLATION_TITLE == "Ablation (exact leave-one-out)" and ABLATION_TITLE in view.ablation_title.text()
    deltas = [a.delta for a in chart.items]
    assert deltas == sorted(deltas, key=lambda d: -abs(d))
    assert len(chart.items) == min(len(prediction.ablations), chart.capacity())
    assert chart.all == sorted(prediction.ablations, key=lambda a: -abs(a.delta))
    np.testing.assert_allclose(chart.bars.opts["width"], np.abs(deltas))
    brushes = chart.bars.opts["brushes"]
    bound = max(abs(d) for d in deltas)
    for a, brush in zip(chart.items, brushes):
        color = brush.color()  # near zero the diverging scale is white; clear effects are coloured
        if a.delta < -0.25 * bound:
            assert color.blue() > color.red()  # leaving it out lowers the probability: blue
        elif a.delta > 0.25 * bound:
            assert color.red() > color.blue()
    top = chart.items[0]
    assert chart.describe(0).startswith(f"{top.kind} “") and f"{abs(top.delta):.4f}" in chart.describe(0)
    assert "Blue: leaving the item out lowers" in view.ablation_note.text()


def test_an_empty_view_says_what_will_appear(qtbot):
    view = AttentionView()
    qtbot.addWidget(view)
    view.show_prediction(None)
    assert "once the trial is scored" in view.attention_caption.text()
    assert view.heatmap.isHidden() and view.ablation.isHidden()
    assert token_columns.__doc__ and attention_matrix.__doc__


def test_the_window_docks_the_attention_of_the_prediction_in_view(qtbot, tmp_path, make_window, tiny_model):
    window = make_window(model_loader=lambda: tiny_predictor_for(tiny_model), wait_ready=True)  # loads on a worker
    window.open_files([EXAMPLES / "NCT09990001.xml"])
    qtbot.waitUntil(lambda: window.session.current_prediction(window.current_key or "", "original") is not None,
                    timeout=120000)
    key = window.current_key
    shown = window.session.current_prediction(key, "original")
    assert window.attention_view.prediction is shown
    assert window.attention_dock.windowTitle() == "Attention && ablation"
    # an edit: the view follows the what-if
    window.session.entry(key).draft.set_enabled(0, False)
    qtbot.waitUntil(lambda: window.session.current_prediction(key, "edited") is not None, timeout=120000)
    edited = window.session.current_prediction(key, "edited")
    assert window.attention_view.prediction is edited
    assert len(window.attention_view.heatmap.columns) == len(shown.attention[0].criteria) - 1 + \
        len(shown.attention[0].molecules) + len(shown.attention[0].diseases)
    window.grab().save(str(tmp_path / "window.png"))


def tiny_predictor_for(files):
    from engine.predict import Predictor

    return Predictor.load(files["model"], device="cpu")


def test_panels_number_criteria_as_the_editor_does_once_one_is_disabled(qtbot):
    """Issue 19: with criterion 1 disabled the panels called the editor's criterion 2 "criterion 1"."""
    from desktop.widgets.attention_view import ablation_label, criteria_html
    from desktop.widgets.insight_panel import insight_html
    from engine.editing import TrialDraft
    from tests.gui_helpers import ActiveCriteriaPredictor
    from tests.builders import make_trial

    draft = TrialDraft(make_trial())
    draft.set_enabled(0, False)  # the editor still shows it as row 1
    trial = draft.snapshot()
    prediction = ActiveCriteriaPredictor().predict(trial)
    columns = [c.label for c in token_columns(prediction, trial) if c.source == "criterion"]
    assert [c.split(" (")[0] for c in columns] == ["criterion 2", "criterion 3", "criterion 4"]
    view = shown_view(qtbot, trial, prediction)
    assert sorted(label.split(":")[0] for label in view.ablation.labels) == ["C2", "C3", "C4"]
    html = criteria_html(prediction, "fine", trial)
    assert all(f"color:#666'>{n}</td>" in html for n in (2, 3, 4)) and "color:#666'>1</td>" not in html
    assert "criterion 4" in insight_html(prediction, trial=trial) and "criterion 1" not in \
        insight_html(prediction, trial=trial)
    assert ablation_label(prediction.ablations[0]) == "C1: " + prediction.ablations[0].label[:34]  # no trial
    assert "color:#666'>1</td>" in criteria_html(prediction, "fine", None)  # unknown trial: 1..n
