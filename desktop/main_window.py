"""The main window: trial list | trial view over the criteria editor | prediction, scenarios and
insight docks, the attention/ablation dock below; menus (model manager, fine-tuning wizard, batch
scoring and export), drag & drop, recent files, status bar.

It wires views to the Qt-free state (engine.editing drafts, engine.workspace) through `Session`,
and every prediction through `PredictionService`. Slow work (reading, lookups, model loading,
prediction) runs on worker threads; the window only adopts results.
"""
from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QSplitter, QWidget)

from engine.depict import atom_weights_from_segments
from engine.editing import TrialDraft
from engine.export import write_report
from engine.paths import user_data_dir
from engine.whatif import insensitivity_note
from engine.prediction import has_ablation
from engine.scoring import OpenTrial, score_missing
from engine.studio import Lookups, Opened
from engine.workspace import SUFFIX, Workspace, WorkspaceError, default_workspace_path
from desktop.dialogs import show_errors, show_message
from desktop.intervention_edits import InterventionEdits
from desktop.model_choice import remember_model, saved_device, saved_model
from desktop.prediction_service import PredictionService, default_loader
from desktop.report_file import write_trial_report
from desktop.session import Session, now_hms, warm_up
from desktop.widgets.about import show_about, show_shortcuts
from desktop.widgets.attention_view import AttentionView
from desktop.widgets.column_mapping import ask_table_mappings
from desktop.widgets.criteria_editor import CriteriaEditor
from desktop.widgets.insight_panel import InsightPanel
from desktop.widgets.new_trial import NewTrialDialog
from desktop.widgets.prediction_panel import PredictionPanel
from desktop.widgets.scenarios_panel import ScenariosPanel
from desktop.widgets.trial_list import TrialListWidget
from desktop.widgets.trial_view import TrialView
from desktop.workers import TaskRunner

RECORD_FILTER = "Trial records (*.xml *.json *.csv *.tsv *.zip *.xlsx);;All files (*)"
WORKSPACE_FILTER = f"CLaDMoP workspaces (*{SUFFIX});;All files (*)"
MAX_RECENT = 10


def app_settings() -> QSettings:
    """`<user data>/settings.ini` ($CLADMOP_HOME, else ~/.cladmop): each home has its own last workspace,
    so a test run or a second home never reads, nor redirects, another's (the shared ~/.config file did)."""
    settings = QSettings(str(user_data_dir() / "settings.ini"), QSettings.Format.IniFormat)
    if not settings.allKeys() and not os.environ.get("CLADMOP_HOME"):
        _copy_legacy_settings(settings)
    return settings


def _copy_legacy_settings(settings: QSettings) -> None:
    """Once, into the default home: what earlier versions kept in ~/.config/CLaDMoP/CLaDMoP Studio.ini."""
    legacy = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "CLaDMoP", "CLaDMoP Studio")
    for key in legacy.allKeys():
        settings.setValue(key, legacy.value(key))


class MainWindow(QMainWindow):
    def __init__(self, workspace_path: str | Path | None = None, settings: QSettings | None = None,
                 model_loader=None, load_model: bool = True, model_factory=None, parent=None):
        """`model_factory(folder, device)` loads a model (the model manager and the wizard use it; default:
        `default_loader` with the session's lookups); `model_loader()` loads the first one (default: the
        folder and device in the settings)."""
        super().__init__(parent)
        self.settings = settings or app_settings()
        lookups = Lookups()  # the session's drug and disease tables, shared with the models it loads
        self.model_factory = model_factory or partial(default_loader, lookups=lookups)
        if model_loader is None:
            model_loader = partial(self.model_factory, saved_model(self.settings), saved_device(self.settings))
        self.model_manager = None
        self.finetune_wizard = None
        self.export_task = None
        self.runner = TaskRunner(max_threads=2, parent=self)
        self.last_error_dialog: QMessageBox | None = None
        self.score_summary_box: QMessageBox | None = None
        self.current_key: str | None = None
        self._closing = False
        self._open_queue: list[list[str]] = []
        self._opening = False

        self.session = Session(self._open_workspace_or_fallback(workspace_path), self, lookups=lookups)
        self.predictions = PredictionService(lambda: self.session.workspace, loader=model_loader, parent=self)

        self._build_views()
        self._build_docks()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self.setAcceptDrops(True)
        self.resize(1480, 920)
        self._restore_window_state()
        self._update_title()
        self._update_status()

        if len(self.session):
            key = self.session.ui("open_trial")
            self.trial_list.select_key(key if key in self.session.entries else self.session.order[0])
        if load_model:
            self.predictions.load_model()
        # the lookups take seconds to build (tables, ICD-10-CM): build them now, not on first open
        self.runner.start(warm_up, self.session.lookups, name="Preparing drug and disease lookups", pass_state=False)

    # -- construction ----------------------------------------------------------------------------
    def _open_workspace_or_fallback(self, path) -> Workspace:
        """The requested workspace, else the last one, else the default; an unreadable one is
        reported and a fresh file beside it is used, so the program always starts."""
        candidates = [Path(path)] if path else []
        if not path:
            last = self.settings.value("workspace/last", "", type=str)
            candidates += [Path(last)] if last else []
            candidates.append(default_workspace_path())
        problems = []
        for candidate in candidates:
            try:
                workspace = Workspace.open(candidate)
            except WorkspaceError as exc:
                problems.append((str(candidate), exc.problem))
                continue
            if problems:
                QTimer.singleShot(0, lambda p=problems: self._report("Workspace", "This workspace could not be opened; "
                                                                     "another one is used.", p))
            return workspace
        fresh = default_workspace_path().with_name(f"workspace-{time.strftime('%Y%m%d-%H%M%S')}{SUFFIX}")
        QTimer.singleShot(0, lambda p=problems: self._report(
            "Workspace", f"The workspace could not be opened; a new one was started at {fresh}.", p))
        return Workspace.open(fresh)

    def _build_views(self) -> None:
        self.trial_list = TrialListWidget(self.session)
        self.trial_view = TrialView()
        self.criteria_editor = CriteriaEditor()
        center = QSplitter(Qt.Orientation.Vertical)
        center.addWidget(self.trial_view)
        center.addWidget(self.criteria_editor)
        center.setStretchFactor(0, 2)
        center.setStretchFactor(1, 3)
        center.setSizes([360, 520])
        center.setChildrenCollapsible(False)
        self.center_splitter = center
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.trial_list)
        splitter.addWidget(center)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([430, 700])
        splitter.setChildrenCollapsible(False)
        self.main_splitter = splitter
        self.trial_list.setMinimumWidth(300)
        self.setCentralWidget(splitter)
        self._sized = False

    def _dock(self, title: str, widget: QWidget, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _build_docks(self) -> None:
        # Right-hand column. The attention view (pyqtgraph heatmaps) and the model manager will be
        # further docks made here; the insight dock is where attention/ablation read today.
        self.prediction_panel = PredictionPanel()
        self.scenarios_panel = ScenariosPanel()
        self.insight_panel = InsightPanel()
        self.attention_view = AttentionView()
        self.prediction_dock = self._dock("Prediction", self.prediction_panel, "PredictionDock")
        self.scenarios_dock = self._dock("Scenarios", self.scenarios_panel, "ScenariosDock")
        self.insight_dock = self._dock("In words", self.insight_panel, "InsightDock")
        self.attention_dock = self._dock("Attention && ablation", self.attention_view, "AttentionDock")
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.attention_dock)
        # the right-hand column runs the full height; the attention dock sits under the list and editor
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.prediction_dock], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.prediction_dock, self.scenarios_dock, self.insight_dock], [300, 260, 300],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.attention_dock], [300], Qt.Orientation.Vertical)

    def _action(self, text, slot, shortcut=None, tip="") -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action("&Open records…", self._ask_open, QKeySequence.StandardKey.Open,
                                        "Open ClinicalTrials.gov XML/JSON records, a TOP-style CSV or "
                                        "a CSV/Excel table of in-house trials (you map its columns once)")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self._action("&New trial…", self.new_trial, QKeySequence.StandardKey.New,
                                         "Type in an in-house protocol: title, phase, drugs, conditions, criteria"))
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        file_menu.addAction(self._action("&New workspace…", self._ask_new_workspace))
        file_menu.addAction(self._action("Open &workspace…", self._ask_open_workspace))
        file_menu.addAction(self._action("Save workspace &as…", self._ask_save_workspace_as,
                                         QKeySequence.StandardKey.SaveAs))
        file_menu.addAction(self._action("&Save now", self.save_now, QKeySequence.StandardKey.Save,
                                         "Everything is saved automatically; this saves at once"))
        file_menu.addSeparator()
        self.remove_action = self._action("&Close trial", self.remove_current_trial, None,
                                          "Remove the selected trial (and its edits) from the workspace")
        file_menu.addAction(self.remove_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        edit_menu = bar.addMenu("&Edit")
        editor = self.criteria_editor
        for action in (editor.undo_action, editor.redo_action, None, editor.add_inclusion_action,
                       editor.add_exclusion_action, editor.delete_action, editor.move_up_action,
                       editor.move_down_action, None, editor.revert_action):
            edit_menu.addSeparator() if action is None else edit_menu.addAction(action)
        for action in (editor.undo_action, editor.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.find_action = self._action("&Find trial", lambda: self.trial_list.filter_edit.setFocus(),
                                        QKeySequence.StandardKey.Find)
        edit_menu.addSeparator()
        edit_menu.addAction(self.find_action)

        trial_menu = bar.addMenu("&Trial")
        trial_menu.addAction(self._action("&Save scenario…", self.scenarios_panel._ask_save, "Ctrl+Alt+S"))
        trial_menu.addAction(self._action("&Report for this trial…", self._ask_trial_report, "Ctrl+Shift+R",
                                          "This trial's report as HTML or PDF, scenarios compared"))
        self.repredict_action = self._action("&Predict again", self.repredict_current, "F5")
        trial_menu.addAction(self.repredict_action)

        model_menu = bar.addMenu("&Model")
        self.model_manager_action = self._action("&Model manager…", self.show_model_manager, "Ctrl+M",
                                                 "The model in use, its phase models, the device, other models "
                                                 "and imported backbones")
        model_menu.addAction(self.model_manager_action)
        self.reload_model_action = self._action("&Reload model", self.reload_model)
        model_menu.addAction(self.reload_model_action)

        self.tools_menu = bar.addMenu("T&ools")
        self.finetune_action = self._action("&Fine-tune on your trials…", self.show_finetune_wizard, None,
                                            "Train a phase model on your own labelled trials")
        # a lambda: `triggered` passes its `checked` flag, which score_all would take for `then`
        self.score_all_action = self._action("&Score all open trials", lambda: self.score_all(), "F6",
                                             "Predict every open trial (and its what-if) on a worker")
        self.export_action = self._action("&Export report (HTML + CSV)…", self._ask_export, "Ctrl+E",
                                          "Score what is missing, then write an HTML report and a CSV")
        for action in (self.finetune_action, None, self.score_all_action, self.export_action):
            self.tools_menu.addSeparator() if action is None else self.tools_menu.addAction(action)

        view_menu = bar.addMenu("&View")
        for dock in (self.prediction_dock, self.scenarios_dock, self.attention_dock, self.insight_dock):
            view_menu.addAction(dock.toggleViewAction())

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard shortcuts", self.show_shortcuts, "F1"))
        help_menu.addAction(self._action("&About CLaDMoP Studio", self.show_about))
        self._rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setMaximumHeight(14)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running task (reading, scoring, export); nothing half-written is kept")
        self.cancel_button.setFlat(True)
        self.cancel_button.clicked.connect(self.runner.cancel_all)
        self.cancel_button.hide()
        self.model_label = QLabel()
        self.device_label = QLabel()
        self.count_label = QLabel()
        self.saved_label = QLabel("not saved yet")
        # permanent, not normal, widgets: a temporary message (every progress line) hides normal ones
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        for label in (self.model_label, self.device_label, self.count_label, self.saved_label):
            label.setContentsMargins(8, 0, 8, 0)
            status.addPermanentWidget(label)

    def _connect(self) -> None:
        self.trial_list.currentKeyChanged.connect(self.show_trial)
        self.session.draftChanged.connect(self._on_draft_changed)
        self.session.predictionChanged.connect(self._on_prediction_changed)
        self.session.trialsAdded.connect(lambda keys: self._update_status())
        self.session.trialRemoved.connect(lambda key: self._update_status())
        self.session.saved.connect(lambda t: self.saved_label.setText(f"autosaved {now_hms(t)}"))
        self.session.saveFailed.connect(lambda message: self.statusBar().showMessage(message, 15000))
        self.predictions.predictionReady.connect(self._on_prediction_ready)
        self.predictions.predictionFailed.connect(self._on_prediction_failed)
        self.predictions.modelStatusChanged.connect(self._on_model_status)
        self.predictions.busyChanged.connect(lambda busy: self._refresh_prediction_panel())
        self.runner.busyChanged.connect(self._on_busy)
        self.runner.activity.connect(self._on_activity)
        self.trial_view.conditionCodesSubmitted.connect(self._set_condition_codes)
        self.trial_view.structureSubmitted.connect(self._set_drug_structure)
        self.intervention_edits = InterventionEdits(  # drug and condition what-ifs from the trial view
            self.trial_view, lambda: self.session.entry(self.current_key).draft if self.current_key else None,
            self.session.lookups.resolver, self._report_message)
        self.scenarios_panel.errorRaised.connect(lambda message: self._report_message("Scenarios", message))
        self.prediction_panel.phaseChosen.connect(self.set_phase_override)
        self.prediction_panel.evidence.openRequested.connect(self.show_trial_by_id)

    # -- opening files ---------------------------------------------------------------------------
    def _ask_open(self) -> None:
        start = self.settings.value("files/last_dir", str(Path.home()), type=str)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open trial records", start, RECORD_FILTER)
        if paths:
            self.settings.setValue("files/last_dir", str(Path(paths[0]).parent))
            self.open_files(paths)

    def new_trial(self) -> str | None:
        """File → New trial: the typed-in trial joins the workspace and is scored like an opened one."""
        dialog = NewTrialDialog(self)
        if dialog.exec() != NewTrialDialog.DialogCode.Accepted or dialog.trial is None:
            return None
        return self.add_typed_trial(dialog.trial)

    def add_typed_trial(self, trial) -> str | None:
        keys = self.session.add_trials([trial], resolve=True)  # looked up as an opened record's
        if keys:
            self.trial_list.select_key(keys[0])
            self.request_predictions(keys[0], immediate=True)
            self.statusBar().showMessage(f"Added {trial.title} ({keys[0]})", 8000)
        return keys[0] if keys else None

    def open_files(self, paths) -> None:
        """Read, resolve and add records on a worker thread; errors are listed by file afterwards.
        Opens run one after another, so a file opened twice in quick succession is still one trial."""
        paths = ask_table_mappings(self, [str(p) for p in paths])  # an in-house table: its columns first
        if not paths:
            return
        self._open_queue.append(paths)
        if not self._opening:
            self._open_next()

    def _open_next(self) -> None:
        if not self._open_queue or self._closing:
            self._opening = False
            return
        self._opening = True
        paths = self._open_queue.pop(0)
        self.statusBar().showMessage(f"Opening {len(paths)} file(s)…")
        read = self.session.reader()  # stores into the workspace open now, leaves out the trials open now

        def finish(report=None):
            if report is not None:
                report()
            self._open_next()

        self.runner.start(read, paths, name="Opening records",
                          on_result=lambda opened, p=paths: finish(lambda: self._adopt_loaded(opened, p)),
                          on_error=lambda exc, p=paths: finish(lambda: self._report(
                              "Open records", "The files could not be opened.", [(", ".join(p), str(exc))])),
                          on_cancel=lambda: finish(lambda: self.statusBar().showMessage("Opening cancelled", 5000)))

    def _adopt_loaded(self, outcome: Opened, paths: list[str]) -> None:
        if self._closing:
            return
        keys = self.session.adopt_stored(outcome.workspace, outcome.stored)
        already = [k for k in outcome.already if k in self.session.entries]
        failed = {str(Path(e[0])) for e in outcome.errors}
        self._remember_recent([p for p in paths if str(Path(p)) not in failed])
        target = (keys or already or [None])[0]
        if target is not None:
            self.trial_list.select_key(target)
        for key in keys:
            self.request_predictions(key, immediate=True)
        bits = [f"opened {len(keys)} trial(s)"] if keys or not already else []
        if already:
            bits.append(f"{already[0]} is already open (selected)" if len(already) == 1 and not keys
                        else f"{len(already)} already open")
        if outcome.errors:
            bits.append(f"{len(outcome.errors)} file(s) could not be read")
        message = " ".join(["; ".join(bits) + "."] + list(outcome.notes))
        self.statusBar().showMessage(message[0].upper() + message[1:], 15000)
        if outcome.errors:
            self._report("Some files could not be opened", open_errors_intro(len(outcome.errors), len(keys),
                                                                              len(already)), outcome.errors)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)

    # -- recent files
    def recent_files(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in value or []]

    def _remember_recent(self, paths: list[str]) -> None:
        """Put the files (or folders) just opened on top of File → Open recent, most recent first."""
        if not paths:
            return
        newest = [os.path.abspath(p) for p in reversed(paths[-MAX_RECENT:])]
        recent = newest + [p for p in self.recent_files() if p not in newest]
        self.settings.setValue("files/recent", recent[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_files([p]))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: (self.settings.setValue("files/recent", []),
                                                              self._rebuild_recent_menu()))
        self.recent_menu.setEnabled(bool(recent))

    # -- workspaces ------------------------------------------------------------------------------
    def _ask_new_workspace(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New workspace", str(user_data_dir()), WORKSPACE_FILTER)
        if path:
            self.open_workspace(_with_suffix(path))

    def _ask_open_workspace(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open workspace", str(self.session.workspace.path.parent),
                                              WORKSPACE_FILTER)
        if path:
            self.open_workspace(path)

    def _ask_save_workspace_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save workspace as", str(self.session.workspace.path.parent),
                                              WORKSPACE_FILTER)
        if path:
            self.save_workspace_as(_with_suffix(path))

    def open_workspace(self, path) -> bool:
        try:
            workspace = Workspace.open(path)
        except WorkspaceError as exc:
            self._report("Open workspace", "The workspace could not be opened.", [exc])
            return False
        if not self._switch_to(workspace):
            workspace.close()
            return False
        return True

    def save_workspace_as(self, path) -> bool:
        """Copy the workspace, with every edit (also those its own file refused), to `path`; open it."""
        try:
            copy = self.session.save_as(path)
        except (WorkspaceError, OSError) as exc:
            self._report("Save workspace", "The workspace could not be saved.", [(str(path), str(exc))])
            return False
        return self._switch_to(copy)

    def _switch_to(self, workspace: Workspace) -> bool:
        """Show `workspace`; False, the current one kept open and told, when its edits cannot be saved."""
        if not self.session.save_now():
            self._report_message("Workspace", self._unsaved_text("The other workspace was not opened"))
            return False
        self.predictions.cancel_all()
        self.show_trial(None)
        self.session.switch_workspace(workspace)
        self.settings.setValue("workspace/last", str(workspace.path))
        self._update_title()
        self._update_status()
        if len(self.session):
            key = self.session.ui("open_trial")
            self.trial_list.select_key(key if key in self.session.entries else self.session.order[0])
            for key in self.session.order:
                self.request_predictions(key, immediate=True)
        return True

    def save_now(self) -> None:
        if self.session.save_now():
            self.statusBar().showMessage(f"Saved to {self.session.workspace.path}", 4000)

    # -- the trial in view -----------------------------------------------------------------------
    def show_trial_by_id(self, nct_id: str) -> None:
        """A similar past trial was double-clicked: show it when the analyst has that record open."""
        key = next((k for k, e in self.session.entries.items() if e.draft.original.nct_id == nct_id), None)
        if key is None or not self.trial_list.select_key(key):
            self.statusBar().showMessage(f"{nct_id} is not among your open records; open its file to read it", 8000)

    def show_trial(self, key: str | None) -> None:
        if key is not None and key not in self.session.entries:
            key = None
        self.current_key = key
        self.predictions.set_focus(key)
        entry = self.session.entries.get(key) if key else None
        draft = entry.draft if entry else None
        self.trial_view.show_draft(draft)
        self.criteria_editor.set_draft(draft)
        self.scenarios_panel.set_draft(draft)
        self.remove_action.setEnabled(key is not None)
        self.repredict_action.setEnabled(key is not None)
        if key is not None:
            self.session.set_ui("open_trial", key)
            self.request_predictions(key, immediate=True)
        self._refresh_prediction_panel()

    def remove_current_trial(self) -> None:
        key = self.current_key
        if key is None:
            return
        row = self.session.order.index(key)
        self.predictions.forget(key)
        self.show_trial(None)
        self.session.remove(key)
        if self.session.order:
            self.trial_list.select_key(self.session.order[min(row, len(self.session.order) - 1)])

    def _on_draft_changed(self, key: str, event: str) -> None:
        if event == "clean":
            return
        if key == self.current_key:
            draft = self.session.entry(key).draft
            self.trial_view.show_draft(draft)  # rebuilds only when a correction or a drug what-if changed it
            self.scenarios_panel.refresh()
            self._refresh_prediction_panel()
        self.request_predictions(key)

    def _set_condition_codes(self, index: int, codes: list) -> None:
        if self.current_key is None:
            return
        try:
            self.session.entry(self.current_key).draft.set_condition_codes(index, codes)
        except (ValueError, IndexError) as exc:
            self._report_message("ICD-10 codes", str(exc))

    def _set_drug_structure(self, index: int, smiles: str, add_to_library: bool) -> None:
        if self.current_key is None:
            return
        draft = self.session.entry(self.current_key).draft
        name = draft.edited.drugs[index].name
        try:
            draft.set_drug_structure(index, smiles, "small_molecule", "user library" if add_to_library else "user")
        except (ValueError, IndexError) as exc:
            self._report_message("Drug structure", str(exc))
            return
        if add_to_library:
            self.session.workspace.add_compound(name, smiles)
            try:
                self.session.lookups.add_compound(name, smiles)
            except Exception as exc:  # noqa: BLE001 — the workspace keeps it either way
                self.statusBar().showMessage(f"{name} kept in this workspace; the compound library refused it: "
                                             f"{exc}", 10000)

    # -- predictions -----------------------------------------------------------------------------
    def request_predictions(self, key: str, immediate: bool = False) -> None:
        """Ask for everything the views show of this trial, with its phase model named; the service
        debounces and caches."""
        entry = self.session.entries.get(key)
        if entry is None or self.predictions.status not in ("loading", "ready"):
            return
        original = self.session.trial_for(key, "original")
        phase, why = self.phase_for(key, original)
        if phase is None and self.predictions.ready and why:
            for role in ("original", "edited"):
                self.session.set_failure(key, role, why, self.session.trial_for(key, role).content_hash())
            return
        self.predictions.request(key, "original", original, immediate=immediate, phase=phase)
        if entry.draft.is_modified:
            self.predictions.request(key, "edited", self.session.trial_for(key, "edited"), immediate=immediate,
                                     phase=phase)
        else:
            self.predictions.withdraw(key, "edited")  # back to the original: its prediction serves
        if key == self.current_key:
            for name in entry.draft.scenario_names():
                self.predictions.request(key, f"scenario:{name}", self.session.trial_for(key, f"scenario:{name}"),
                                         phase=phase)

    # -- phase models ----------------------------------------------------------------------------
    def phase_override(self, key: str) -> str | None:
        """The analyst's phase model for this trial (kept in the workspace), or None for the default."""
        return self.session.phase_choice(key)

    def phase_for(self, key: str, trial=None) -> tuple[str | None, str]:
        """(phase model, note): the analyst's choice, else the record's (a mixed record: the later phase)."""
        trial = trial if trial is not None else self.session.trial_for(key, "original")
        phases = self.predictions.phases if self.predictions.ready else []
        return self.predictions.choose_phase(trial, self.session.usable_phase_choice(key, phases))

    def set_phase_override(self, phase: str | None, key: str | None = None) -> None:
        """Score the trial (default: the one in view) with `phase`'s model; None returns to the default."""
        key = key or self.current_key
        if key is not None and self.session.set_phase_choice(key, phase):
            self.request_predictions(key, immediate=True)
            self._refresh_prediction_panel()

    def repredict_current(self) -> None:
        if self.current_key is not None:
            self.request_predictions(self.current_key, immediate=True)

    def reload_model(self) -> None:
        self.session.forget_predictions()
        self.predictions.predictor = None
        self.predictions.status = "idle"
        self.predictions.load_model()

    @property
    def model_folder(self) -> str | None:
        folder = getattr(self.predictions.predictor, "folder", None)
        return str(folder) if folder else saved_model(self.settings)

    def switch_model(self, folder: str | None, device: str = "auto"):
        """Load `folder` (None: the shipped model) on `device` on a worker; the current model keeps
        working until the new one is ready. A model that fails to load is reported and not adopted."""
        name = folder or "the shipped model"
        self.statusBar().showMessage(f"Loading {name}…")
        return self.runner.start(self.model_factory, folder, device, name=f"Loading model {Path(name).name}",
                                 pass_state=False,
                                 on_result=lambda predictor: self.adopt_model(predictor, folder, device),
                                 on_error=lambda exc: self._report_message(
                                     "Model", f"{name} could not be loaded on {device}: {exc}"))

    def adopt_model(self, predictor, folder: str | None, device: str = "auto") -> None:
        """Use an already loaded model from now on (and next time): every open trial is re-scored."""
        remember_model(self.settings, folder, device)
        self.session.forget_predictions()
        self.predictions.use_predictor(predictor)
        self._refresh_model_manager()
        self.statusBar().showMessage(f"Using {self.predictions.model_name} on {self.predictions.device_name}", 10000)

    def _on_prediction_ready(self, key: str, role: str, prediction, trial_hash: str) -> None:
        self.session.set_prediction(key, role, prediction, trial_hash)

    def _on_prediction_failed(self, key: str, role: str, message: str, trial_hash: str) -> None:
        self.session.set_failure(key, role, message, trial_hash)
        if key == self.current_key:
            self.statusBar().showMessage(f"{key}: cannot be scored: {message}", 15000)

    def _on_prediction_changed(self, key: str, role: str) -> None:
        if key == self.current_key:
            self._refresh_prediction_panel()

    def _on_model_status(self, status: str) -> None:
        self._update_status()
        self._refresh_prediction_panel()
        self._refresh_model_manager()
        if status == "ready":
            for key in self.session.order:
                self.request_predictions(key, immediate=key == self.current_key)
        elif status == "failed":
            self.statusBar().showMessage(self.predictions.status_text, 20000)

    def _refresh_prediction_panel(self) -> None:
        key = self.current_key
        if key is None:
            self.prediction_panel.show_state(None, None, False, self.predictions.status,
                                             self.predictions.status_text)
            self.insight_panel.show_prediction(None)
            self.attention_view.show_prediction(None)
            self.criteria_editor.set_model_notice(0, 0)
            self.prediction_panel.set_phase_options([], None, None, "", "")
            self.scenarios_panel.set_probabilities({})
            return
        entry = self.session.entry(key)
        original = self.session.current_prediction(key, "original")
        modified = entry.draft.is_modified
        edited = self.session.current_prediction(key, "edited") if modified else original
        error = self.session.current_failure(key, "edited" if modified else "original")
        note = (insensitivity_note(entry.draft, edited.probability - original.probability,
                                   (original.members, edited.members))
                if modified and original is not None and edited is not None else "")
        self.prediction_panel.show_state(original, edited, modified, self.predictions.status,
                                         self.predictions.status_text, pending=self.predictions.busy and not error,
                                         error=error, note=note)
        self._show_phase_choice(key)
        shown = edited if modified else original
        shown_role = "edited" if modified else "original"
        ablating = shown is not None and not has_ablation(shown) and self.predictions.ablation_pending(key, shown_role)
        scored_trial = self.session.trial_for(key, shown_role) if shown is not None else None
        self.insight_panel.show_prediction(shown, ablation_pending=ablating, trial=scored_trial)
        self.criteria_editor.set_model_notice(getattr(shown, "criteria_read", 0), getattr(shown, "criteria_total", 0))
        self.attention_view.show_prediction(shown, scored_trial, ablation_pending=ablating)
        self._color_molecules(key, shown)
        probabilities = {TrialDraft.ORIGINAL: original.probability} if original is not None else {}
        if edited is not None:  # the list being edited ("" in the compare pane): the original when unmodified
            probabilities[""] = edited.probability
        for name in entry.draft.scenario_names():
            p = self.session.current_prediction(key, f"scenario:{name}")
            if p is not None:
                probabilities[name] = p.probability
        self.scenarios_panel.set_probabilities(probabilities)

    def _show_phase_choice(self, key: str) -> None:
        phases = self.predictions.phases if self.predictions.ready else []
        trial = self.session.entry(key).draft.original
        default, note = self.predictions.choose_phase(trial) if phases else (None, "")
        override = self.phase_override(key)
        if override and override in phases and override != default:
            note = f"scored with the phase {override} model (your choice); the record is Phase {trial.phase_label}"
        self.prediction_panel.set_phase_options(phases, override, default, trial.phase_label, note)

    def _color_molecules(self, key: str, prediction) -> None:
        """Tint each drawn drug's atoms by the fine level's attention to its segments (one colour
        scale for all drugs of the trial). Skipped when the prediction's drugs are not the ones shown."""
        marker = (key, id(prediction), id(self.trial_view.cards))  # new cards after a rebuild
        if getattr(self, "_colored", None) == marker:
            return
        self._colored = marker
        drugs = self.session.entry(key).draft.edited.drugs
        weights_by_drug: dict[int, dict[int, float]] = {}
        fine = next((a for a in prediction.attention if a.level == "fine"), None) if prediction else None
        if fine is not None and len(fine.molecules) == len(prediction.molecule_tokens):
            labels = prediction.molecule_labels
            consistent = all(seg is None or (seg.drug_index < len(drugs)
                                             and labels[i].startswith(drugs[seg.drug_index].name + ":"))
                             for i, seg in enumerate(prediction.molecule_tokens))
            if consistent:
                for index in range(len(drugs)):
                    atoms = atom_weights_from_segments(prediction.molecule_tokens, fine.molecules, index)
                    if atoms:
                        weights_by_drug[index] = atoms
        top = max((w for atoms in weights_by_drug.values() for w in atoms.values()), default=0.0)
        self.trial_view.set_attention(weights_by_drug, vrange=(0.0, top) if top > 0 else None)

    # -- status, errors, about -------------------------------------------------------------------
    def _update_title(self) -> None:
        path = self.session.workspace.path  # the folder too: the analyst sees where the data lives
        self.setWindowTitle(f"CLaDMoP Studio — {path.name} — {path.parent}")

    def _update_status(self) -> None:
        service = self.predictions
        model = {"ready": service.model_name, "loading": "loading…"}.get(service.status, "none")
        self.model_label.setText(f"model: {model}")
        self.model_label.setToolTip(service.status_text)
        self.device_label.setText(f"device: {service.device_name or '–'}")
        n = len(self.session)
        self.count_label.setText(f"{n} trial{'s' if n != 1 else ''}")

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.statusBar().showMessage(f"{self.runner.tasks[0].name}…" if self.runner.tasks else "")

    def _on_activity(self, text: str, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0)
        self.statusBar().showMessage(text)

    def _report(self, title: str, intro: str, errors) -> QMessageBox:
        self.last_error_dialog = show_errors(self, title, intro, errors)
        return self.last_error_dialog

    def _report_message(self, title: str, message: str) -> QMessageBox:
        self.last_error_dialog = show_message(self, title, message)
        return self.last_error_dialog

    def show_about(self) -> QMessageBox:
        self.about_box = show_about(self, self.predictions.model_name, self.predictions.device_name)
        return self.about_box

    def show_shortcuts(self) -> QMessageBox:
        self.shortcuts_box = show_shortcuts(self, self.menuBar())
        return self.shortcuts_box

    # -- model manager, fine-tuning, batch scoring -----------------------------------------------
    def show_model_manager(self):
        if self.model_manager is None:
            from desktop.widgets.model_manager import ModelManager

            self.model_manager = ModelManager(self.runner, self.settings, self)
            self.model_manager.modelRequested.connect(self.switch_model)
        self._refresh_model_manager(force=True)
        self.model_manager.show()
        self.model_manager.raise_()
        return self.model_manager

    def _refresh_model_manager(self, force: bool = False) -> None:
        manager = self.model_manager
        if manager is None or not (force or manager.isVisible()):
            return
        service = self.predictions
        manager.show_model(self.model_folder, saved_device(self.settings), service.model_name, service.device_name,
                           service.status_text)

    def show_finetune_wizard(self):
        from desktop.widgets.finetune_wizard import FinetuneWizard
        from engine.predict import default_model_dir

        if self.finetune_wizard is None or not self.finetune_wizard.isVisible():
            if self.finetune_wizard is not None and not self.finetune_wizard.train_page.running:
                self.finetune_wizard.deleteLater()  # a closed wizard; a running one finishes first
            base = Path(self.model_folder) if self.model_folder else default_model_dir()
            self.finetune_wizard = FinetuneWizard(self.runner, base, saved_device(self.settings),
                                                  resolver_factory=self.session.lookups.resolver, parent=self)
            self.finetune_wizard.modelReady.connect(self._use_trained_model)
            self.finetune_wizard.modelTrained.connect(self._remember_trained_model)
        self.finetune_wizard.show()
        self.finetune_wizard.raise_()
        return self.finetune_wizard

    def _remember_trained_model(self, folder: str) -> None:
        """A newly trained model is listed in the model manager at once (not yet in use)."""
        from desktop.model_choice import MAX_RECENT_MODELS, RECENT_KEY, recent_models

        recent = [folder] + [f for f in recent_models(self.settings) if f != folder]
        self.settings.setValue(RECENT_KEY, recent[:MAX_RECENT_MODELS])
        self._refresh_model_manager()

    def _use_trained_model(self, folder: str, predictor) -> None:
        device = self.finetune_wizard.spec().device if self.finetune_wizard else saved_device(self.settings)
        self.adopt_model(predictor, folder, device)

    def score_all(self, then=None, keys=None):
        """Score every open trial (or those of `keys`) that has no current prediction, on a worker
        (progress, cancel); `then(scored)` runs afterwards with the ScoredTrials in list order."""
        if not self.predictions.ready:
            self._report_message("Score all", "No model is loaded: " + self.predictions.status_text)
            return None
        if not len(self.session):
            self.statusBar().showMessage("No trials are open.", 5000)
            return None
        self.predictions.drop_background()  # the batch scores them; the trial in view keeps its own
        items = self.session.to_score(self.phase_for, keys)
        predictor = self.predictions.predictor
        return self.runner.start(score_missing, predictor, items, name="Scoring all open trials",
                                 on_result=lambda scored: self._adopt_scores(items, scored, then),
                                 on_cancel=lambda: self.statusBar().showMessage("Scoring cancelled", 5000),
                                 on_error=lambda exc: self._report_message("Score all", f"Scoring failed: {exc}"))

    def _adopt_scores(self, items: list[OpenTrial], scored, then=None) -> None:
        for item, result in zip(items, scored):
            if item.key not in self.session.entries:
                continue
            if result.prediction is not None and item.prediction is None:
                self.predictions.adopt(item.key, "original", result.prediction, item.trial, item.phase)
            elif result.prediction is None and result.error:
                self.session.set_failure(item.key, "original", result.error, item.trial.content_hash())
            if item.what_if is not None and result.what_if_prediction is not None and item.what_if_prediction is None:
                self.predictions.adopt(item.key, "edited", result.what_if_prediction, item.what_if, item.phase)
        summary = score_summary(scored)
        self.statusBar().showMessage(summary.splitlines()[0], 15000)
        if then is not None:
            then(scored)
        else:  # asked for on its own (F6): the analyst waited for it, so say it where it is seen
            self.score_summary_box = show_message(self, "Score all", summary, QMessageBox.Icon.Information)

    def _ask_trial_report(self) -> None:
        if self.current_key is None:
            self.statusBar().showMessage("Select a trial first.", 5000)
            return
        start = self.settings.value("files/last_report", str(Path.home() / f"{self.current_key}.html"), type=str)
        start = str(Path(start).with_name(f"{self.current_key}{Path(start).suffix or '.html'}"))
        path, _ = QFileDialog.getSaveFileName(self, "Report for this trial", start,
                                              "HTML report (*.html);;PDF (*.pdf)")
        if path:
            self.settings.setValue("files/last_report", path)
            self.report_trial(path)

    def report_trial(self, path, key=None):
        """One trial's report (HTML, or PDF by the file's suffix): its number with the interval, drivers,
        attention, similar past trials, the what-if and every saved scenario with its change."""
        key = key or self.current_key
        path = Path(path) if Path(path).suffix else Path(path).with_suffix(".html")
        model_name = self.predictions.model_key

        def write(scored):
            self.export_task = self.runner.start(
                write_trial_report, scored[0], path, model_name, name="Writing the trial's report",
                on_result=lambda written: self.statusBar().showMessage(f"Wrote {written}", 15000),
                on_error=lambda exc: self._report("Report", "The report could not be written.", [(str(path), str(exc))]))

        return self.score_all(then=write, keys=[key])

    def _ask_export(self) -> None:
        start = self.settings.value("files/last_export", str(Path.home() / "cladmop-report.html"), type=str)
        path, _ = QFileDialog.getSaveFileName(self, "Export report", start, "HTML report (*.html);;All files (*)")
        if path:
            self.settings.setValue("files/last_export", path)
            self.export(path)

    def export(self, html_path, csv_path=None):
        """Score what is missing, then write the HTML report and the CSV (default: beside it, .csv)."""
        html_path = Path(html_path).with_suffix(".html") if not Path(html_path).suffix else Path(html_path)
        csv_path = Path(csv_path) if csv_path else html_path.with_suffix(".csv")
        model_name = self.predictions.model_key  # as the CSV's rows name it

        def write(scored):
            self.export_task = self.runner.start(
                write_report, scored, html_path, csv_path, model_name, name="Writing the report",
                on_result=lambda paths: self.statusBar().showMessage(
                    f"Wrote {paths[0]} and {paths[1]}", 15000),
                on_error=lambda exc: self._report("Export", "The report could not be written.",
                                                  [(str(html_path), str(exc))]))

        return self.score_all(then=write)

    # -- idle detection (screenshots, tests) -------------------------------------------------------
    @property
    def idle(self) -> bool:
        return not self.runner.busy and not self.predictions.busy

    def when_idle(self, callback, timeout_s: float = 300.0, poll_ms: int = 200) -> None:
        """Call `callback()` once nothing runs (files read, model loaded, predictions done) or on timeout."""
        deadline = time.monotonic() + timeout_s
        stable = {"count": 0}

        def check():
            if self.idle:
                stable["count"] += 1
            else:
                stable["count"] = 0
            if stable["count"] >= 3 or time.monotonic() > deadline:  # idle for 3 polls in a row
                callback()
            else:
                QTimer.singleShot(poll_ms, check)

        QTimer.singleShot(poll_ms, check)

    # -- window state ----------------------------------------------------------------------------
    def _restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        for name, splitter in (("window/main_splitter", self.main_splitter),
                               ("window/center_splitter", self.center_splitter)):
            sizes = self.settings.value(name)
            if sizes is not None:
                splitter.restoreState(sizes)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized and self.settings.value("window/main_splitter") is None:
            self._sized = True  # first start: sensible shares once the docks have taken their room
            QTimer.singleShot(0, self._default_splitter_sizes)

    def _default_splitter_sizes(self) -> None:
        self.resizeDocks([self.attention_dock], [max(int(self.height() * 0.32), 250)], Qt.Orientation.Vertical)
        column = self.height()  # the right-hand column: the probability panel whole, scenarios, in words
        self.resizeDocks([self.prediction_dock, self.scenarios_dock, self.insight_dock],
                         [max(int(column * 0.36), 300), int(column * 0.27), int(column * 0.30)], Qt.Orientation.Vertical)
        total = max(self.main_splitter.width(), 900)
        left = min(max(int(total * 0.36), 360), 460)
        self.main_splitter.setSizes([left, total - left])
        height = max(self.center_splitter.height(), 600)
        top = min(int(height * 0.40), 300)  # facts and molecules fit; the criteria get the rest
        self.center_splitter.setSizes([top, height - top])

    def _unsaved_text(self, what: str) -> str:
        return (f"Your latest edits could not be saved to {self.session.workspace.path}. {what}, so that "
                f"nothing is lost: use File ▸ Save workspace as… to keep them in another file, or free the "
                f"disk / reconnect the drive and try again.")

    def ask_unsaved_on_close(self) -> str:
        """"save_as", "discard" or "cancel": what to do with edits the workspace file refused."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved edits", self._unsaved_text("The window stays open"),
                          parent=self)
        save = box.addButton("Save as…", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Close without them", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "save_as" if clicked is save else "discard" if clicked is discard else "cancel"

    def _may_close(self) -> bool:
        """True when every edit is saved, or the user chose to leave what could not be saved."""
        if self.session.save_now() and not self.session.has_unsaved_changes:
            return True
        choice = self.ask_unsaved_on_close()
        if choice == "save_as":
            self._ask_save_workspace_as()
            return not self.session.has_unsaved_changes
        return choice == "discard"

    def closeEvent(self, event) -> None:
        if self._closing:
            event.accept()
            return
        if not self._may_close():
            event.ignore()
            return
        self._closing = True
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/main_splitter", self.main_splitter.saveState())
        self.settings.setValue("window/center_splitter", self.center_splitter.saveState())
        self.settings.setValue("workspace/last", str(self.session.workspace.path))
        self.runner.cancel_all()
        self.predictions.cancel_all()
        self.runner.wait(10000)
        self.predictions.runner.wait(10000)
        self.session.close()
        self.settings.sync()
        super().closeEvent(event)


def open_errors_intro(failed: int, opened: int, already: int) -> str:
    """The first line of the open-errors box: what became of the files that could be read."""
    if opened:
        rest = f"the others are open ({opened} trial{'s' if opened != 1 else ''}" + \
            (f", {already} already open)" if already else ")")
    else:
        rest = "the others were already open" if already else "nothing else was opened"
    return f"{failed} file(s) could not be opened; {rest}."


def score_summary(scored, listed: int = 8) -> str:
    """What a batch scoring did, in words: how many were scored, and why each other one was not."""
    n_ok = sum(r.ok for r in scored)
    lines = [f"Scored {n_ok} of {len(scored)} trial(s)."]
    failed = [r for r in scored if not r.ok]
    lines += [f"{r.trial.nct_id}: {r.error or 'not scored'}" for r in failed[:listed]]
    if len(failed) > listed:
        lines.append(f"… and {len(failed) - listed} more that could not be scored.")
    return "\n".join(lines)


def _with_suffix(path: str) -> str:
    return path if Path(path).suffix else path + SUFFIX
