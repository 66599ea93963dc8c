"""Tools → Fine-tune on your trials: a wizard over `engine.finetune_job`.

Pages: the data (record files or folders, or a TOP-format CSV, and an outcome-label CSV) → a check
of the data before anything trains (counts, class balance, unresolved drugs and conditions, what
was skipped and why) → settings (base model, phase, the epochs of each stage, output folder) → training
on a worker (one progress bar over all stages, live loss and validation curves, cancel; starting again
resumes from the last checkpoint) → the evaluation (bootstrap metrics, ROC and PR curves) beside the
base model on the same trials, and "Use this model now", which warns before adopting a worse model.
The engine (`engine.finetune_job`) decides and words all of it; this module only renders.
"""
from __future__ import annotations

import time
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QMessageBox, QProgressBar, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem,
                               QTextBrowser, QVBoxLayout, QWidget, QWizard, QWizardPage)

from engine.paths import user_data_dir
from desktop.model_choice import DEVICES

PHASES = ("I", "II", "III")
#: the Train button after a run stopped where the key says (JobResult.cancelled_in)
RETRAIN_LABEL = {"lora": "Train again (resume)", "head": "Train again (stage 1 starts over)",
                 "evaluation": "Train again (from the start)"}
TRIAL_FILTER = "Trial records or TOP CSV (*.xml *.json *.csv *.tsv);;All files (*)"
LABEL_FILTER = "Outcome labels (*.csv);;All files (*)"


def default_output(base: Path, phase: str) -> Path:
    return user_data_dir() / "models" / f"{Path(base).name or 'model'}-phase{phase}-{time.strftime('%Y%m%d-%H%M')}"


def _browse_row(edit: QLineEdit, slot) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(slot)
    layout.addWidget(button)
    return row


def check_html(check) -> str:
    """The data check for the analyst: what will be trained on, and everything left out or doubtful."""
    ok = "<p style='color:#1e7b34'><b>Ready to train.</b></p>" if check.ok else \
        "<p style='color:#b3261e'><b>Cannot train on this data:</b></p><ul>" + \
        "".join(f"<li>{escape(p)}</li>" for p in check.problems) + "</ul>"
    parts = [ok, "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in check.summary_lines()) + "</ul>"]
    if check.warnings:
        parts.append("<p><b>Worth knowing</b></p><ul>" + "".join(f"<li>{escape(w)}</li>" for w in check.warnings)
                     + "</ul>")
    if check.read_errors:
        parts.append("<p><b>Files that could not be read</b></p><ul>" + "".join(
            f"<li><b>{escape(Path(p).name or p)}</b>: {escape(problem)}</li>" for p, problem in check.read_errors[:12])
            + (f"<li>… and {len(check.read_errors) - 12} more</li>" if len(check.read_errors) > 12 else "") + "</ul>")
    if check.skipped:
        parts.append("<p><b>Trials left out, and why</b></p><ul>" + "".join(
            f"<li>{escape(reason)}: {len(ids)} — {escape(', '.join(ids[:6]))}{' …' if len(ids) > 6 else ''}</li>"
            for reason, ids in check.skipped.items()) + "</ul>")
    for title, counter in (("Drugs without a structure", check.unresolved_drugs),
                           ("Conditions without an ICD-10 code", check.unresolved_conditions)):
        if counter:
            items = ", ".join(f"{escape(name)} ({n})" for name, n in counter.most_common(12))
            more = f" and {len(counter) - 12} more" if len(counter) > 12 else ""
            parts.append(f"<p><b>{title}</b> <span style='color:#666'>(trained with a learned placeholder "
                         f"token)</span>: {items}{more}</p>")
    return "".join(parts)


class DataPage(QWizardPage):
    def __init__(self):
        super().__init__()
        self.setTitle("Your trials and their outcomes")
        self.setSubTitle("Record files (ClinicalTrials.gov XML/JSON) or folders of them, or a TOP-format CSV; "
                         "and a CSV of outcome labels (nct_id,label with 1 = success, 0 = failure) for records "
                         "that carry none.")
        self.inputs = QListWidget()
        add_files = QPushButton("Add files…")
        add_files.clicked.connect(self._add_files)
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self._add_folder)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: (self.inputs.takeItem(self.inputs.currentRow()), self.completeChanged.emit()))
        self.labels = QLineEdit()
        self.labels.setPlaceholderText("optional when the records carry labels (TOP CSV)")
        self.test = QLineEdit()
        self.test.setPlaceholderText("optional: a file or folder of held-out trials for an unbiased evaluation")
        self.phase = QComboBox()
        self.phase.addItems(list(PHASES))
        buttons = QHBoxLayout()
        for b in (add_files, add_folder, remove):
            buttons.addWidget(b)
        buttons.addStretch(1)
        form = QFormLayout()
        form.addRow("Outcome labels:", _browse_row(self.labels, self._browse_labels))
        form.addRow("Test trials:", _browse_row(self.test, self._browse_test))
        form.addRow("Phase:", self.phase)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Trials:"))
        layout.addWidget(self.inputs, 1)
        layout.addLayout(buttons)
        layout.addLayout(form)

    def set_inputs(self, paths, labels: str | Path | None = None, phase: str = "I", test: str | Path | None = None):
        self.inputs.clear()
        self.inputs.addItems([str(p) for p in paths])
        self.labels.setText(str(labels) if labels else "")
        self.test.setText(str(test) if test else "")
        self.phase.setCurrentText(phase)
        self.completeChanged.emit()

    def paths(self) -> list[Path]:
        return [Path(self.inputs.item(i).text()) for i in range(self.inputs.count())]

    def isComplete(self) -> bool:
        return self.inputs.count() > 0

    def _add_files(self):
        paths, _ = QFileDialog.getOpenFileNames(self, "Trials", str(Path.home()), TRIAL_FILTER)
        self.inputs.addItems(paths)
        self.completeChanged.emit()

    def _add_folder(self):
        folder = QFileDialog.getExistingDirectory(self, "Folder of trial records", str(Path.home()))
        if folder:
            self.inputs.addItem(folder)
            self.completeChanged.emit()

    def _browse_labels(self):
        path, _ = QFileDialog.getOpenFileName(self, "Outcome labels", str(Path.home()), LABEL_FILTER)
        if path:
            self.labels.setText(path)

    def _browse_test(self):
        path, _ = QFileDialog.getOpenFileName(self, "Held-out test trials", str(Path.home()), TRIAL_FILTER)
        if path:
            self.test.setText(path)


class CheckPage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard"):
        super().__init__()
        self.wiz = wizard
        self.setTitle("Check of the data")
        self.setSubTitle("What will be trained on, before anything trains.")
        self.report = QTextBrowser()
        self.progress = QProgressBar()
        self.status = QLabel()
        self.check = None
        self.task = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)

    def initializePage(self):
        self.check = None
        self.report.setHtml("")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("reading the trials…")
        self.task = self.wiz.start_check(self._done, self._failed, self._progress)
        self.completeChanged.emit()

    def cleanupPage(self):
        if self.task is not None and self.task.running:
            self.task.cancel()

    def _progress(self, done, total, text):
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(text)

    def _done(self, check):
        self.task = None
        self.check = check
        self.progress.hide()
        self.status.setText("")
        self.report.setHtml(check_html(check))
        self.completeChanged.emit()

    def _failed(self, exc):
        self.task = None
        self.progress.hide()
        self.status.setText("")
        self.report.setHtml(f"<p style='color:#b3261e'><b>The data could not be read:</b> {escape(str(exc))}</p>")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.check is not None and self.check.ok


class SettingsPage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard"):
        super().__init__()
        self.wiz = wizard
        self.setTitle("Training settings")
        from engine.training.config import FinetuneConfig

        defaults = FinetuneConfig()  # the recipe's settings, as `cladmop finetune` uses them
        self.base = QLineEdit()
        self.out = QLineEdit()
        self.out.textChanged.connect(self._update_resume_note)
        self.head_epochs = QSpinBox()
        self.head_epochs.setRange(0, 1000)
        self.head_epochs.setValue(defaults.head_epochs)
        self.head_epochs.setToolTip("Stage 1: the head learns alone on the frozen branch (fast); 0 skips it")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(defaults.fit.epochs)
        self.epochs.setToolTip("Stage 2: LoRA and the head learn together; early stopping may end it sooner")
        self.batch = QSpinBox()
        self.batch.setRange(2, 1024)
        self.batch.setValue(defaults.fit.batch_size)
        self.device = QComboBox()
        for d in DEVICES:
            self.device.addItem(d, d)
        self.phase_label = QLabel()
        self.resume_note = QLabel()
        self.resume_note.setWordWrap(True)
        self.resume_note.setStyleSheet("color:#2f5fa7")
        self.start_over = QCheckBox("Start over (discard the interrupted run)")
        form = QFormLayout(self)
        form.addRow("Phase:", self.phase_label)
        form.addRow("Base model:", _browse_row(self.base, lambda: self._browse(self.base, "Base model folder")))
        form.addRow("Output folder:", _browse_row(self.out, lambda: self._browse(self.out, "Output model folder")))
        form.addRow("Stage 1 · head alone, epochs:", self.head_epochs)
        form.addRow("Stage 2 · LoRA and head, epochs (at most; stops early):", self.epochs)
        form.addRow("Batch size:", self.batch)
        form.addRow("Device:", self.device)
        form.addRow(self.resume_note)
        form.addRow(self.start_over)

    def initializePage(self):
        phase = self.wiz.data_page.phase.currentText()
        self.phase_label.setText(f"Phase {phase}")
        if not self.base.text():
            self.base.setText(str(self.wiz.base_model))
        if not self.out.text() or not self.wiz.user_set_output:
            self.out.setText(str(default_output(Path(self.base.text()), phase)))
        self.device.setCurrentIndex(max(self.device.findData(self.wiz.device), 0))
        self._update_resume_note()

    def _browse(self, edit, title):
        folder = QFileDialog.getExistingDirectory(self, title, edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)
            if edit is self.out:
                self.wiz.user_set_output = True

    def _update_resume_note(self):
        from engine.finetune_job import checkpoint_epoch

        done = checkpoint_epoch(Path(self.out.text()), self.wiz.data_page.phase.currentText()) \
            if self.out.text() else None
        after = f"epoch {done} of stage 2" if done else "stage 1 (the head alone)"
        self.resume_note.setText(f"An interrupted run is in this folder (checkpoint after {after}): training "
                                 f"continues from there." if done is not None else "")
        self.start_over.setVisible(done is not None)

    def isComplete(self) -> bool:
        return bool(self.base.text().strip() and self.out.text().strip())


class TrainPage(QWizardPage):
    finished = Signal(object)  # JobResult

    def __init__(self, wizard: "FinetuneWizard"):
        super().__init__()
        self.wiz = wizard
        self.setTitle("Training")
        self.setSubTitle("Cancel at any time: the status then says where it stopped and what was kept; Train again "
                         "(resume) continues from the last checkpoint.")
        self.history: list[dict] = []
        self.result = None
        self.task = None
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel)
        legend_box = pg.mkBrush(255, 255, 255, 220)  # lines stay readable where they pass under it
        self.loss_plot = pg.PlotWidget(background="w", title="Loss")
        self.loss_plot.addLegend(offset=(-10, 10), brush=legend_box)
        self.loss_plot.setLabel("bottom", "epoch")
        self.metric_plot = pg.PlotWidget(background="w", title="Validation")
        self.metric_plot.addLegend(offset=(-10, -10), brush=legend_box)  # bottom right: the scores rise
        self.metric_plot.setLabel("bottom", "epoch")
        self.metric_plot.setYRange(0, 1)
        self.curves = {
            "train_loss": self.loss_plot.plot(name="training", pen=pg.mkPen("#2f6fb0", width=2), symbol="o",
                                              symbolSize=5),
            "val_loss": self.loss_plot.plot(name="validation", pen=pg.mkPen("#e08a00", width=2), symbol="o",
                                            symbolSize=5),
            "roc_auc": self.metric_plot.plot(name="ROC-AUC", pen=pg.mkPen("#1e7b34", width=2), symbol="o",
                                             symbolSize=5),
            "pr_auc": self.metric_plot.plot(name="PR-AUC", pen=pg.mkPen("#7b3294", width=2), symbol="o",
                                            symbolSize=5),
        }
        self._pending: list = []  # EpochRecords from the worker, drained on the GUI thread
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.metric_plot)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(plots, 1)
        self.cancel_button.setEnabled(False)

    @property
    def running(self) -> bool:
        return self.task is not None

    def initializePage(self):
        if self.result is None and not self.running:
            self.start()

    def start(self):
        from engine.finetune_job import checkpoint_epoch, discard_unfinished, previous_history

        if self.running:
            return
        spec = self.wiz.spec()
        if self.wiz.settings_page.start_over.isChecked():
            discard_unfinished(spec.out_dir, spec.phase)
            self.wiz.settings_page.start_over.setChecked(False)
        self.result = None
        self.history = list(previous_history(spec.out_dir, spec.phase))
        self._redraw()
        done = checkpoint_epoch(spec.out_dir, spec.phase)
        self.status.setText("starting…" if done is None else f"continuing after epoch {done}…" if done else
                            "continuing after stage 1 (the head alone)…")
        self.progress.setRange(0, 0)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.task = self.wiz.start_training(spec, self._pending.append, self._done, self._failed, self._progress,
                                            self._cancelled)
        self.completeChanged.emit()

    def cancel(self):
        if self.task is not None:
            self.status.setText("cancelling at the next batch…")
            self.task.cancel()

    def _drain(self):
        if not self._pending:
            return
        while self._pending:
            record = self._pending.pop(0)
            self.history = [h for h in self.history if h["epoch"] < record.epoch]
            self.history.append({"epoch": record.epoch, "train_loss": record.train_loss, "val_loss": record.val_loss,
                                 "metrics": dict(record.metrics)})
        self._redraw()

    def _redraw(self):
        epochs = np.array([h["epoch"] for h in self.history], dtype=float)
        for name, curve in self.curves.items():
            if name in ("train_loss", "val_loss"):
                values = [h.get(name) for h in self.history]
            else:
                values = [h.get("metrics", {}).get(name) for h in self.history]
            ys = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
            keep = np.isfinite(ys)
            curve.setData(epochs[keep], ys[keep])
        if len(epochs):  # whole epochs on the axis, about ten labels at most
            step = max(1, int(np.ceil(epochs.max() / 10)))
            ticks = [(e, str(e)) for e in range(1, int(epochs.max()) + 1, step)]
            for plot in (self.loss_plot, self.metric_plot):
                plot.getAxis("bottom").setTicks([ticks, []])

    def _progress(self, done, total, text):
        self._drain()
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.status.setText(text)

    def _finish_task(self):
        self._drain()
        self.task = None
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _done(self, result):
        self._finish_task()
        self.result = None if result.cancelled else result
        self.status.setText(result.outcome_text())
        self.train_button.setText(RETRAIN_LABEL.get(result.cancelled_in, "Train again"))
        if not result.cancelled:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            self.finished.emit(result)
        self.completeChanged.emit()

    def _cancelled(self):
        from engine.finetune_job import CANCELLED_BEFORE_TRAINING

        self._finish_task()
        self.train_button.setText("Train")
        self.status.setText(CANCELLED_BEFORE_TRAINING)
        self.completeChanged.emit()

    def _failed(self, exc):
        self._finish_task()
        self.status.setText(f"<span style='color:#b3261e'>Training failed: {escape(str(exc))}</span>")
        self.completeChanged.emit()

    def cleanupPage(self):
        self.cancel()

    def isComplete(self) -> bool:
        return self.result is not None and not self.running


class ReportPage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard"):
        super().__init__()
        self.wiz = wizard
        self.setTitle("Evaluation")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Metric", "Mean ± sd (10 × 80% bootstrap)", "All trials"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(150)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color:#555")
        self.compare_title = QLabel()
        self.compare_title.setWordWrap(True)
        self.compare_table = QTableWidget(0, 4)
        self.compare_table.setHorizontalHeaderLabels(["Metric", "Base model", "New model", "Change"])
        self.compare_table.verticalHeader().setVisible(False)
        self.compare_table.horizontalHeader().setStretchLastSection(True)
        self.compare_table.setMaximumHeight(120)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color:#b3261e; font-weight:bold")
        self.warning.hide()
        self.comparison = None
        self.roc_plot = pg.PlotWidget(background="w", title="ROC curve")
        self.roc_plot.setLabel("bottom", "false-positive rate")
        self.roc_plot.setLabel("left", "true-positive rate")
        self.pr_plot = pg.PlotWidget(background="w", title="Precision–recall curve")
        self.pr_plot.setLabel("bottom", "recall")
        self.pr_plot.setLabel("left", "precision")
        for plot in (self.roc_plot, self.pr_plot):
            plot.setXRange(0, 1)
            plot.setYRange(0, 1.02)
        self.use_button = QPushButton("Use this model now")
        self.use_button.clicked.connect(lambda: self.wiz.use_result())
        plots = QHBoxLayout()
        plots.addWidget(self.roc_plot)
        plots.addWidget(self.pr_plot)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.notes)
        layout.addWidget(self.compare_title)
        layout.addWidget(self.compare_table)
        layout.addWidget(self.warning)
        layout.addLayout(plots, 1)
        layout.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignLeft)

    def initializePage(self):
        self.show_result(self.wiz.train_page.result)

    def show_result(self, result):
        for plot in (self.roc_plot, self.pr_plot):
            plot.clear()
        evaluation = result.evaluation if result else None
        self.show_comparison(result.comparison if result else None)
        if evaluation is None:
            self.table.setRowCount(0)
            self.notes.setText("No evaluation.")
            return
        names = (("ROC-AUC", "roc_auc"), ("PR-AUC", "pr_auc"), ("F1 (threshold 0.5)", "f1"),
                 ("Prevalence (PR-AUC of a constant guess)", "prevalence"))
        self.table.setRowCount(len(names))
        for row, (label, key) in enumerate(names):
            boot = (evaluation.metrics or {}).get(key)
            cells = (label, f"{boot['mean']:.3f} ± {boot['sd']:.3f}" if boot else "–",
                     f"{evaluation.point.get(key, float('nan')):.3f}")
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        source = "held-out test" if evaluation.source == "test" else "validation"
        notes = [n[:1].upper() + n[1:] + ("" if n.endswith(".") else ".") for n in evaluation.notes]
        self.notes.setText(f"{evaluation.n} {source} trial(s) scored by the new phase {result.phase} model in "
                           f"{result.model_dir}. " + " ".join(notes))
        if evaluation.roc is not None:
            fpr, tpr = evaluation.roc
            self.roc_plot.plot([0, 1], [0, 1], pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
            self.roc_plot.plot(fpr, tpr, pen=pg.mkPen("#2f6fb0", width=2), stepMode=None)
        if evaluation.pr is not None:
            recall, precision = evaluation.pr
            prevalence = evaluation.point.get("prevalence", 0.0)
            self.pr_plot.plot([0, 1], [prevalence, prevalence], pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
            self.pr_plot.plot(recall, precision, pen=pg.mkPen("#7b3294", width=2))


    def show_comparison(self, comparison) -> None:
        """The new model beside the base model on the same trials; a worse new model said in red."""
        self.comparison = comparison
        rows = comparison.rows() if comparison is not None and comparison.base is not None else []
        why = f": it could not be compared ({escape(comparison.problem)})." if comparison and not rows else ""
        self.compare_title.setText(
            "No comparison with the base model." if comparison is None else
            f"<b>Beside the base model “{escape(comparison.base_name)}”</b> on the same {comparison.n} "
            f"{comparison.source} trial(s){why}")
        self.compare_table.setVisible(bool(rows))
        self.compare_table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for col, text in enumerate([values[0]] + [_figure(v, signed=i == 2) for i, v in enumerate(values[1:])]):
                self.compare_table.setItem(row, col, QTableWidgetItem(text))
            if values[3]:
                self.compare_table.item(row, 3).setForeground(QColor("#b3261e" if values[3] < 0 else "#1e7b34"))
        self.compare_table.resizeColumnsToContents()
        warning = comparison.warning() if comparison is not None else ""
        self.warning.setText(warning)
        self.warning.setVisible(bool(warning))


def _figure(value, signed: bool = False) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:+.3f}" if signed else f"{value:.3f}"


class FinetuneWizard(QWizard):
    """`modelReady(folder, predictor)` when the analyst chooses to use the new model."""

    modelReady = Signal(str, object)
    modelTrained = Signal(str)

    def __init__(self, runner, base_model: Path, device: str = "auto", resolver_factory=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on your trials")
        self.setModal(False)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self.runner = runner
        self.base_model = Path(base_model)
        self.device = device if device in DEVICES else "auto"
        self.resolver_factory = resolver_factory
        self.user_set_output = False
        self.confirm_box: QMessageBox | None = None  # "Use a worse model?", while it is asked
        self.data_page = DataPage()
        self.check_page = CheckPage(self)
        self.settings_page = SettingsPage(self)
        self.train_page = TrainPage(self)
        self.report_page = ReportPage(self)
        for page in (self.data_page, self.check_page, self.settings_page, self.train_page, self.report_page):
            self.addPage(page)
        self.train_page.finished.connect(lambda result: self.modelTrained.emit(str(result.model_dir)))
        self.resize(980, 720)

    def spec(self):
        from engine.finetune_job import FinetuneSpec

        data = self.data_page
        settings = self.settings_page
        test = data.test.text().strip()
        labels = data.labels.text().strip()
        return FinetuneSpec(base=Path(settings.base.text().strip() or self.base_model),
                            phase=data.phase.currentText(), data=data.paths(),
                            labels_csv=Path(labels) if labels else None,
                            out=Path(settings.out.text().strip()) if settings.out.text().strip() else None,
                            epochs=settings.epochs.value(), head_epochs=settings.head_epochs.value(),
                            batch_size=settings.batch.value(),
                            device=settings.device.currentData() or "auto",
                            test_data=[Path(test)] if test else [])

    def start_check(self, on_result, on_error, on_progress):
        from engine.finetune_job import FinetuneSpec, check_data

        data = self.data_page
        labels = data.labels.text().strip()
        spec = FinetuneSpec(base=self.base_model, phase=data.phase.currentText(), data=data.paths(),
                            labels_csv=Path(labels) if labels else None)
        factory = self.resolver_factory  # the worker must not reach back into this QObject

        def run(state=None):
            return check_data(spec, resolver=factory() if factory else None, state=state)

        return self.runner.start(run, name="Checking the training data", on_result=on_result, on_error=on_error,
                                 on_progress=on_progress, on_cancel=lambda: on_error(RuntimeError("cancelled")))

    def start_training(self, spec, on_epoch, on_result, on_error, on_progress, on_cancel):
        from engine.finetune_job import run_job

        check = self.check_page.check
        factory = self.resolver_factory

        def run(state=None):
            return run_job(spec, check, resolver=factory() if factory else None, state=state, on_epoch=on_epoch)

        return self.runner.start(run, name=f"Fine-tuning phase {spec.phase}", on_result=on_result,
                                 on_error=on_error, on_progress=on_progress, on_cancel=on_cancel)

    def use_result(self) -> None:
        """Use the new model; when it did worse than the base model, only after the analyst confirms."""
        result = self.train_page.result
        if result is None or result.predictor is None:
            return
        warning = result.comparison.warning() if result.comparison is not None else ""
        if not warning:
            self.modelReady.emit(str(result.model_dir), result.predictor)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Use a worse model?", warning, parent=self)
        use = box.addButton("Use the new model anyway", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton("Keep the current model", QMessageBox.ButtonRole.RejectRole))
        box.buttonClicked.connect(lambda button: button is use and self.modelReady.emit(str(result.model_dir),
                                                                                        result.predictor))
        self.confirm_box, self.confirm_use_button = box, use
        box.open()

    def reject(self) -> None:
        if self.train_page.running:
            self.train_page.cancel()
        super().reject()
