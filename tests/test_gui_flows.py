"""The analyst's day in one test, with the shipped model (issue #3, "done when"): open a real
ClinicalTrials.gov XML, edit a criterion, see the probability change, undo, save a scenario, fine-tune
on a handful of labelled records in the wizard, use the new model, export the report.

Skips without the shipped model or the shared data."""
from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import Qt

from engine.prediction import has_ablation
from desktop.widgets.criteria_editor import COL_TEXT
from tests.gui_helpers import real_xml_files, top_rows_csv
from tests.builders import shipped_model_or_skip

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_open_edit_undo_scenario_finetune_export(qtbot, tmp_path, make_window):
    shipped_model_or_skip()
    xml = real_xml_files(1)[0]
    rows = top_rows_csv(tmp_path / "inhouse", "phase_I_train.csv", per_class=8)
    window = make_window(tmp_path / "day.cladmop", load_model=True, wait_ready=True)  # the shipped model
    assert window.device_label.text() == "device: CPU" or window.device_label.text().startswith("device: CUDA")

    # 1. open a real record: it is scored, then its ablation arrives
    window.open_files([xml])
    qtbot.waitUntil(lambda: window.current_key is not None, timeout=120000)
    key = window.current_key
    qtbot.waitUntil(lambda: has_ablation(window.session.current_prediction(key, "original")), timeout=300000)
    original = window.session.current_prediction(key, "original")
    panel = window.prediction_panel
    assert panel.probability.text() == f"{original.probability:.2f}"
    assert f"base rate {original.base_rate:.2f}" in panel.caption.text()

    # 2. edit the criterion whose removal moves the probability most: the what-if is re-scored
    top = original.top_by_ablation(1, kind="criterion")[0]
    editor = window.criteria_editor
    draft = window.session.entry(key).draft
    row = [i for i, c in enumerate(draft.criteria) if c.enabled and c.text.strip()][top.index]
    new_text = "age 18 years or older"
    assert editor.model.setData(editor.model.index(row, COL_TEXT), new_text, Qt.ItemDataRole.EditRole)
    assert draft.is_modified and draft.criteria[row].text == new_text
    qtbot.waitUntil(lambda: window.session.current_prediction(key, "edited") is not None, timeout=300000)
    edited = window.session.current_prediction(key, "edited")
    assert edited.probability != original.probability
    assert panel.probability.text() == f"{edited.probability:.2f}"
    assert f"As recorded {original.probability:.2f} → what-if {edited.probability:.2f}" in panel.whatif.text()
    assert "1" in editor.tabs.tabText(1)  # "Changes (1)": the diff against the original

    # 3. undo: the recorded criteria and their number come back at once (cached, no prediction run)
    editor.undo_action.trigger()
    assert not draft.is_modified
    assert panel.probability.text() == f"{original.probability:.2f}" and "what if" in panel.whatif.text()
    editor.redo_action.trigger()
    assert draft.criteria[row].text == new_text
    assert panel.probability.text() == f"{edited.probability:.2f}"

    # 4. save the what-if as a scenario; it is listed with its probability
    assert window.scenarios_panel.save_scenario("generic age criterion")
    assert draft.scenario_names() == ["generic age criterion"]
    qtbot.waitUntil(lambda: window.session.current_prediction(key, "scenario:generic age criterion") is not None,
                    timeout=300000)
    assert window.session.current_prediction(key, "scenario:generic age criterion").probability == \
        pytest.approx(edited.probability, abs=1e-6)
    assert "generic age criterion" in window.scenarios_panel.list.item(0).text()

    # 5. fine-tune the phase I model on 16 labelled records; the new model is listed and put to use
    out = tmp_path / "models" / "inhouse"
    wizard = window.show_finetune_wizard()
    wizard.data_page.set_inputs([rows], phase="I")
    wizard.next()
    qtbot.waitUntil(lambda: wizard.check_page.check is not None, timeout=300000)
    check = wizard.check_page.check
    assert check.ok and check.successes == 8 and check.failures == 8
    wizard.next()
    wizard.settings_page.out.setText(str(out))
    wizard.settings_page.epochs.setValue(1)
    wizard.settings_page.batch.setValue(8)
    wizard.next()  # training starts on entering the page, on a worker
    assert wizard.train_page.running
    qtbot.waitUntil(lambda: not wizard.train_page.running, timeout=600000)
    assert wizard.train_page.isComplete(), wizard.train_page.status.text()
    wizard.next()
    metrics = {wizard.report_page.table.item(r, 0).text() for r in range(wizard.report_page.table.rowCount())}
    assert {"ROC-AUC", "PR-AUC"} <= metrics
    wizard.report_page.use_button.click()
    if wizard.train_page.result.comparison.worse:  # asked first when it did worse than the base (issue 19)
        assert wizard.confirm_box.isVisible() and "worse than the base model" in wizard.confirm_box.text()
        wizard.confirm_use_button.click()
    assert window.predictions.predictor.folder == out
    wizard.close()
    qtbot.waitUntil(lambda: window.session.current_prediction(key, "edited") is not None and window.idle,
                    timeout=300000)
    assert window.model_label.text().startswith("model: inhouse")

    # 6. export: every open trial, as recorded and as edited, with the new model
    report = tmp_path / "report.html"
    window.export(report)
    qtbot.waitUntil(lambda: report.is_file() and report.with_suffix(".csv").is_file() and window.idle,
                    timeout=300000)
    with open(report.with_suffix(".csv"), newline="", encoding="utf-8") as handle:
        (row_out,) = list(csv.DictReader(handle))
    now_original = window.session.current_prediction(key, "original")
    now_edited = window.session.current_prediction(key, "edited")
    assert row_out["nct_id"] == window.session.entry(key).record.nct_id
    assert float(row_out["probability"]) == pytest.approx(now_original.probability, abs=1e-4)
    assert float(row_out["what_if_probability"]) == pytest.approx(now_edited.probability, abs=1e-4)
    page = report.read_text(encoding="utf-8")
    assert "<svg" in page and new_text in page and window.predictions.model_name in page
