"""Tools → Fine-tune on your trials, end to end on real data with a tiny model: the data check
(counts, balance, unresolved items, what was skipped and why), training on a worker with live
curves, cancel and resume, the evaluation report, and the new model in use at once."""
from __future__ import annotations

import csv
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from engine.finetune_job import previous_history
from engine.training.dataset import load_labelled
from desktop.model_choice import recent_models
from tests.data_sources import data_dir
from tests.gui_helpers import top_rows_csv

pytestmark = pytest.mark.gui


def labelled_xml_folder(folder: Path) -> tuple[Path, Path, dict]:
    """ClinicalTrials.gov XML records of TOP phase I trials, their TOP labels in a CSV (plus one label
    for a trial that is not there), two records without a label, and a broken file (the development
    data's, else tests/data's)."""
    data = data_dir()
    index = pd.read_csv(data / "ctgov_xml" / "index.csv")
    top = pd.concat([pd.read_csv(data / "top" / f) for f in ("phase_I_train.csv", "phase_I_valid.csv")])
    labelled = index[index.nctid.isin(top.nctid)]
    unlabelled = index[~index.nctid.isin(top.nctid) & (index.interventional_drug_with_criteria == 1)
                       & index.phase.str.contains("Phase 1", na=False)].head(2)
    folder.mkdir()
    for file in list(labelled.file) + list(unlabelled.file):
        shutil.copy(data / "ctgov_xml" / file, folder / Path(file).name)
    (folder / "NCT00000000.xml").write_text("<clinical_study><id_info>", encoding="utf-8")
    labels = folder.parent / "labels.csv"
    truth = dict(zip(top.nctid, top.label))
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["nct_id", "label"])
        for nct in labelled.nctid:
            writer.writerow([nct, truth[nct]])
        writer.writerow(["NCT09999999", 1])
    return folder, labels, {n: truth[n] for n in labelled.nctid}


def test_the_check_reports_what_will_be_trained_and_what_was_left_out(qtbot, window, tmp_path):
    folder, labels, truth = labelled_xml_folder(tmp_path / "records")
    wizard = window.show_finetune_wizard()
    wizard.data_page.set_inputs([folder], labels=labels, phase="I")
    assert wizard.data_page.isComplete()
    wizard.next()
    page = wizard.check_page
    qtbot.waitUntil(lambda: page.check is not None or "could not" in page.report.toPlainText(), timeout=180000)
    check = page.check
    text = page.report.toPlainText()

    # the same trials `cladmop finetune` would train on (engine.training.dataset.load_labelled)
    reference, _ = load_labelled([folder], labels, phase="I")
    assert [t.nct_id for t in check.trials] == [t.nct_id for t in reference.trials]
    kept = {t.nct_id for t in check.trials}
    assert check.successes == sum(truth[n] for n in kept) and check.failures == len(kept) - check.successes
    assert f"{len(kept)} labelled trial(s) — {check.successes} success, {check.failures} failure" in text
    assert "NCT00000000.xml" in text  # the broken file, by name
    assert "no outcome label" in text and len(check.skipped["no outcome label (not in the label file, none in "
                                                             "the record)"]) == 2
    assert "1 label(s) for trials not in the data (e.g. NCT09999999)" in text
    for name in list(check.unresolved_drugs)[:3]:
        assert name in text  # the drugs the lookups could not resolve are named
    assert check.n_train + check.n_valid == len(kept)
    assert page.isComplete() == check.ok
    wizard.grab().save(str(tmp_path / "check.png"))


def test_a_label_file_without_the_columns_is_refused_by_name(qtbot, window, tmp_path, tiny_model):
    bad = tmp_path / "outcomes.csv"
    bad.write_text("trial,result\nNCT00000102,1\n")
    wizard = window.show_finetune_wizard()
    wizard.data_page.set_inputs([tiny_model["rows_I"]], labels=bad, phase="I")
    wizard.next()
    qtbot.waitUntil(lambda: "could not be read" in wizard.check_page.report.toPlainText(), timeout=60000)
    assert str(bad) in wizard.check_page.report.toPlainText() and "nct_id" in wizard.check_page.report.toPlainText()
    assert not wizard.check_page.isComplete()


class PauseAfterFirstEpoch(list):
    """The wizard's epoch inbox: after the first epoch the worker waits until the test has pressed
    Cancel, so the cancel lands mid-run whatever the machine's speed."""

    def __init__(self):
        super().__init__()
        self.first = threading.Event()
        self.release = threading.Event()

    def append(self, record):
        super().append(record)
        if not self.first.is_set():
            self.first.set()
            self.release.wait(60)


def test_train_cancel_resume_report_and_use_the_new_model(qtbot, window, tmp_path, tiny_model):
    rows = top_rows_csv(tmp_path / "rows", "phase_I_train.csv", per_class=20, skip=15)
    out = tmp_path / "models" / "inhouse-phase-I"
    wizard = window.show_finetune_wizard()
    wizard.data_page.set_inputs([rows], phase="I")
    wizard.next()
    qtbot.waitUntil(lambda: wizard.check_page.isComplete(), timeout=180000)
    wizard.next()
    settings = wizard.settings_page
    assert Path(settings.base.text()) == tiny_model["model"]
    settings.out.setText(str(out))
    assert settings.head_epochs.value() == 60  # the head stage's epochs are shown, and set, too
    settings.head_epochs.setValue(5)
    settings.epochs.setValue(4)
    settings.batch.setValue(16)
    settings.device.setCurrentIndex(settings.device.findData("cpu"))
    train = wizard.train_page
    inbox = PauseAfterFirstEpoch()
    train._pending = inbox
    wizard.next()  # training starts on entering the page
    assert train.running and not train.isComplete()
    assert inbox.first.wait(240)
    train.cancel()
    inbox.release.set()
    qtbot.waitUntil(lambda: not train.running, timeout=120000)
    assert train.result is None
    assert train.status.text().startswith("Cancelled at epoch 2 of 4; checkpoint kept (after epoch 1)")
    assert train.progress.value() < train.progress.maximum()  # never full before the job has ended
    assert train.train_button.text() == "Train again (resume)" and train.train_button.isEnabled()
    assert [h["epoch"] for h in previous_history(out, "I")] == [1]
    assert (out / "adapters" / "I" / "adapter_model.safetensors").is_file()  # the best epoch so far is kept
    settings._update_resume_note()
    assert "continues from there" in settings.resume_note.text()

    train.start()  # resume
    assert "continuing after epoch 1" in train.status.text()
    qtbot.waitUntil(lambda: not train.running, timeout=300000)
    assert train.isComplete(), train.status.text()
    result = train.result
    run = [r.epoch for r in result.fit.history]  # up to 4; early stopping may end it sooner
    assert run == list(range(1, len(run) + 1)) and 2 <= len(run) <= 4  # epoch 1 is not run twice
    assert [h["epoch"] for h in train.history] == run
    xs, ys = train.curves["train_loss"].getData()
    assert list(xs) == run and all(y > 0 for y in ys)
    assert len(train.curves["val_loss"].getData()[0]) == len(run)
    assert f"best: {result.fit.best_text}" in train.status.text()
    assert train.progress.value() == train.progress.maximum()
    assert previous_history(out, "I") == []  # finished: nothing left to resume
    wizard.grab().save(str(tmp_path / "training.png"))

    wizard.next()
    report = wizard.report_page
    evaluation = result.evaluation
    assert evaluation.source == "validation" and evaluation.n == len(wizard.check_page.check.valid_index)
    cells = {report.table.item(r, 0).text(): report.table.item(r, 1).text() for r in range(report.table.rowCount())}
    roc = evaluation.metrics["roc_auc"]
    assert cells["ROC-AUC"] == f"{roc['mean']:.3f} ± {roc['sd']:.3f}"
    assert "optimistic" in report.notes.text()
    assert len(report.roc_plot.getPlotItem().listDataItems()) == 2  # the curve and the diagonal
    assert len(report.pr_plot.getPlotItem().listDataItems()) == 2
    fpr, tpr = evaluation.roc
    assert fpr[0] == 0 and tpr[-1] == 1
    wizard.grab().save(str(tmp_path / "report.png"))

    # beside the base model, on the same trials
    comparison = result.comparison
    assert comparison.n == evaluation.n and report.compare_table.rowCount() == 3
    assert f"“{tiny_model['model'].name}”" in report.compare_title.text()
    assert report.compare_table.item(0, 2).text() == f"{comparison.new['roc_auc']:.3f}"
    assert (not report.warning.isHidden()) == comparison.worse

    # the new model is listed in the model manager and can be used at once (after a warning if worse)
    assert str(out) in recent_models(window.settings)
    report.use_button.click()
    if comparison.worse:
        assert wizard.confirm_box.isVisible() and "worse than the base model" in wizard.confirm_box.text()
        wizard.confirm_use_button.click()
    assert Path(window.predictions.predictor.folder) == out
    assert window.predictions.model_name.startswith("inhouse-phase-I")
    manager = window.show_model_manager()
    qtbot.waitUntil(lambda: manager.summary is not None and manager.summary.folder == out, timeout=60000)
    assert manager.summary.phase_names == ["I", "II"]
    phase_one = manager.summary.phases[0]
    assert phase_one.trained_on == str(rows) and phase_one.n_valid == evaluation.n
    manager.close()
    wizard.close()


def test_use_this_model_warns_before_adopting_a_worse_model(qtbot, tmp_path):
    """Issue 19: "Use this model now" switched silently to a model worse than the base on the same trials."""
    from desktop.widgets.finetune_wizard import FinetuneWizard
    from desktop.workers import TaskRunner
    from engine.finetune_job import Comparison, JobResult
    from engine.training.loop import FitResult
    from tests.builders import evaluation_report as report

    wizard = FinetuneWizard(TaskRunner(), tmp_path / "shipped")
    qtbot.addWidget(wizard)
    new = report([0.6, 0.7, 0.8, 0.2, 0.4, 0.3])
    result = JobResult(tmp_path / "new", "I", FitResult([], 1, 0.0, "epochs"), evaluation=new, predictor=object(),
                       comparison=Comparison.of(new, report([0.9, 0.1, 0.8, 0.2, 0.7, 0.3]), "shipped"))
    wizard.train_page.result = result
    wizard.report_page.show_result(result)
    wizard.show()
    assert not wizard.report_page.warning.isHidden() and "worse" in wizard.report_page.warning.text()
    assert wizard.report_page.compare_table.item(0, 3).text().startswith("-")
    adopted = []
    wizard.modelReady.connect(lambda folder, predictor: adopted.append(folder))
    wizard.report_page.use_button.click()
    assert adopted == [] and wizard.confirm_box.isVisible()  # not silently
    keep = next(b for b in wizard.confirm_box.buttons() if b.text() == "Keep the current model")
    keep.click()
    assert adopted == []
    wizard.report_page.use_button.click()
    wizard.confirm_use_button.click()
    assert adopted == [str(tmp_path / "new")]
    result.comparison = Comparison.of(new, new, "shipped")  # as good: used at once
    wizard.report_page.use_button.click()
    assert adopted == [str(tmp_path / "new")] * 2
