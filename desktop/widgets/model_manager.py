"""Model → Model manager: the model in use (folder, backbone, granularity, phase adapters with base
rates and validation metrics, unfinished fine-tuning runs), the device, other model folders (open,
validate, switch), and the language-model backbones imported into the model store.

Everything slow (reading checksums, asking torch about GPUs, importing a backbone) runs on the
window's TaskRunner; the dialog only shows results. Switching is requested with `modelRequested`;
the main window loads the model on a worker and adopts it when ready.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGroupBox,
                               QHBoxLayout, QHeaderView, QInputDialog, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from desktop.dialogs import show_message
from desktop.model_choice import DEVICES, DeviceInfo, detect_devices, forget_model, recent_models

PHASE_COLUMNS = ("Phase", "Base rate", "Temperature", "Val. F1", "Val. PR-AUC", "Val. ROC-AUC", "Best epoch",
                 "Train / valid", "Adapter", "Trained on")
BACKBONE_COLUMNS = ("Name", "Type", "Layers × width", "Levels", "Size", "Imported from")


def _metric(value) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"  # NaN != NaN


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def backbone_text(spec: str) -> str:
    """A model's backbone spec in words (a built-in, an imported name, or a folder)."""
    if spec == "minilm":
        return "minilm — all-MiniLM-L6-v2 (built in, 6 layers × 384)"
    try:
        from engine.model_store import ModelStore

        store = ModelStore()
        if spec in store:
            return f"{spec} — imported: {store.get(spec).describe()}"
    except Exception:  # noqa: BLE001 — no store, or a damaged registry: the spec alone is still true
        pass
    return spec


def summary_html(summary, model_name: str = "", device_name: str = "", status: str = "") -> str:
    if summary is None:
        return f"<p><b>No model loaded.</b> {escape(status)}</p>"
    rows = [("Folder", f"<span style='font-family:monospace'>{escape(str(summary.folder))}</span>"),
            ("Name", escape(summary.name) + (f" — {escape(summary.description)}" if summary.description else "")),
            ("Backbone", escape(backbone_text(summary.backbone))),
            ("Granularity", escape(summary.granularity) + (" (one vector per criterion)" if summary.granularity ==
                                                             "criterion" else " (every text token)")),
            ("Network", escape(summary.architecture())),
            ("Size on disk", _size(summary.size_bytes)),
            ("Phases", escape(", ".join(summary.phase_names) or "none fine-tuned yet"))]
    if device_name:
        rows.append(("Running on", escape(device_name)))
    if status:
        rows.append(("Status", escape(status)))
    for run in summary.unfinished:
        rows.append(("Unfinished run", escape(f"phase {run.phase}: stopped after epoch {run.epochs_done} (best "
                                              f"{run.best_epoch}); Tools → Fine-tune with this folder as output "
                                              f"resumes it")))
    body = "".join(f"<tr><td style='color:#555; padding-right:10px'>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table cellspacing='0' cellpadding='2'>{body}</table>"


class ModelManager(QDialog):
    #: folder (None: the shipped default) and device ("auto" | "cpu" | "cuda") to load
    modelRequested = Signal(object, str)

    def __init__(self, runner, settings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Model manager")
        self.setModal(False)
        self.runner, self.settings = runner, settings
        self.summary = None
        self.devices: DeviceInfo | None = None
        self.last_message = None
        self.current_folder: str | None = None
        self.current_device = "auto"

        self.info = QLabel()
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.phase_table = self._table(PHASE_COLUMNS)
        self.phase_table.setMinimumHeight(self.phase_table.horizontalHeader().sizeHint().height()
                                          + 3 * self.phase_table.verticalHeader().defaultSectionSize() + 6)  # I, II, III

        self.device_box = QComboBox()
        self.device_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # "Auto — CUDA: <GPU name>"
        for device in DEVICES:
            self.device_box.addItem({"auto": "Auto", "cpu": "CPU", "cuda": "CUDA"}[device], device)
        self.device_note = QLabel("looking for GPUs…")
        self.device_note.setStyleSheet("color:#555")
        apply_device = QPushButton("Use this device")
        apply_device.clicked.connect(lambda: self.modelRequested.emit(self.current_folder, self.device_box.currentData()))

        self.model_list = QListWidget()
        self.model_list.setMaximumHeight(100)
        self.model_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.model_list.itemDoubleClicked.connect(lambda item: self.use_selected())
        use = QPushButton("Use selected")
        use.clicked.connect(self.use_selected)
        open_folder = QPushButton("Open model folder…")
        open_folder.clicked.connect(self.ask_open_folder)
        forget = QPushButton("Forget")
        forget.clicked.connect(self.forget_selected)

        self.backbone_table = self._table(BACKBONE_COLUMNS)
        self.backbone_table.setMaximumHeight(120)
        self.backbone_note = QLabel()
        self.backbone_note.setWordWrap(True)
        self.backbone_note.setStyleSheet("color:#555")
        import_button = QPushButton("Import a local BioGPT / Hugging Face folder…")
        import_button.clicked.connect(self.ask_import_backbone)
        remove_button = QPushButton("Remove")
        remove_button.clicked.connect(self.remove_selected_backbone)
        self.import_button = import_button
        self.allow_pickle = QCheckBox("Accept pytorch_model.bin weights (unpickled once, converted to safetensors)")
        self.allow_pickle.setToolTip("Unpickling can run code: tick this only for a folder you trust")

        current = QGroupBox("Model in use")
        box = QVBoxLayout(current)
        box.addWidget(self.info)
        box.addWidget(QLabel("<b>Phase models</b> <span style='color:#666'>(validation metrics as measured when "
                             "each adapter was fine-tuned)</span>"))
        box.addWidget(self.phase_table)
        device_row = QHBoxLayout()
        device_row.addWidget(QLabel("Device:"))
        device_row.addWidget(self.device_box)
        device_row.addWidget(apply_device)
        device_row.addWidget(self.device_note, 1)
        box.addLayout(device_row)

        models = QGroupBox("Model folders")
        box = QVBoxLayout(models)
        box.addWidget(self.model_list)
        row = QHBoxLayout()
        for button in (use, open_folder, forget):
            row.addWidget(button)
        row.addStretch(1)
        box.addLayout(row)

        backbones = QGroupBox("Language-model backbones (model store)")
        box = QVBoxLayout(backbones)
        box.addWidget(self.backbone_table)
        box.addWidget(self.backbone_note)
        row = QHBoxLayout()
        row.addWidget(import_button)
        row.addWidget(remove_button)
        row.addWidget(self.allow_pickle)
        row.addStretch(1)
        box.addLayout(row)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(current, 1)
        layout.addWidget(models, 0)
        layout.addWidget(backbones, 0)
        layout.addWidget(buttons)
        self.resize(940, 800)

    @staticmethod
    def _table(columns) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels(list(columns))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    # -- showing -----------------------------------------------------------------------------------
    def show_model(self, folder: str | None, device: str, model_name: str = "", device_name: str = "",
                   status: str = "") -> None:
        """Describe the model folder in use (read on a worker) and refresh the lists."""
        self.current_folder, self.current_device = folder, device
        self.device_box.setCurrentIndex(max(self.device_box.findData(device), 0))
        self._status = (model_name, device_name, status)
        self.info.setText("<i>reading the model folder…</i>")
        target = folder or _default_model_dir()

        from engine.model_info import summarize_model

        self.runner.start(summarize_model, target, name="Reading the model folder", pass_state=False,
                          on_result=self._show_summary,
                          on_error=lambda exc: self._show_summary(None, str(exc)))
        if self.devices is None:
            self.runner.start(detect_devices, name="Looking for GPUs", pass_state=False,
                              on_result=self._show_devices,
                              on_error=lambda exc: self.device_note.setText(f"torch unavailable: {exc}"))
        self.refresh_models()
        self.refresh_backbones()

    def _show_summary(self, summary, error: str = "") -> None:
        self.summary = summary
        model_name, device_name, status = self._status
        self.info.setText(summary_html(summary, model_name, device_name, status) if summary else
                          f"<p><b>No usable model.</b> {escape(error or status)}</p>")
        phases = summary.phases if summary else []
        self.phase_table.setRowCount(len(phases))
        for row, p in enumerate(phases):
            values = (p.phase, f"{p.base_rate:.3f}", f"{p.temperature:.2f}", _metric(p.validation.get("f1")),
                      _metric(p.validation.get("pr_auc")), _metric(p.validation.get("roc_auc")),
                      "–" if p.best_epoch is None else str(p.best_epoch), f"{p.n_train or '–'} / {p.n_valid or '–'}",
                      _size(p.adapter_bytes) if p.adapter_bytes else "missing", p.trained_on)
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col == len(values) - 1:
                    item.setToolTip(value)
                self.phase_table.setItem(row, col, item)

    def _show_devices(self, info: DeviceInfo) -> None:
        self.devices = info
        for index in range(self.device_box.count()):
            self.device_box.setItemText(index, info.label(self.device_box.itemData(index)))
        cuda_index = self.device_box.findData("cuda")
        item = self.device_box.model().item(cuda_index)
        if item is not None:
            item.setEnabled(info.cuda)
        self.device_note.setText(f"torch {info.torch_version}" + (f", CUDA {info.cuda_version}" if info.cuda_version
                                                                   else ", built for the CPU"))

    def refresh_models(self) -> None:
        self.model_list.clear()
        default = _default_model_dir()
        from engine.model.checkpoint import MODEL_JSON

        installed = (default / MODEL_JSON).is_file()
        entries = [(None, f"Shipped default — {default}" + ("" if installed else "   (not installed)"))]
        folders = recent_models(self.settings)
        if self.current_folder and not any(_same(self.current_folder, f) for f in folders):
            folders.insert(0, self.current_folder)
        entries += [(f, f) for f in folders if Path(f).resolve() != default.resolve()]
        for folder, text in entries:
            item = QListWidgetItem(text + ("   (in use)" if _same(folder, self.current_folder) else ""))
            item.setData(Qt.ItemDataRole.UserRole, folder)
            self.model_list.addItem(item)

    def refresh_backbones(self) -> None:
        try:
            from engine.model_store import ModelStore

            store = ModelStore()
            entries = store.list()
        except ModuleNotFoundError:
            self.backbone_table.setRowCount(0)
            self.backbone_note.setText("The model store is not installed in this build.")
            self.import_button.setEnabled(False)
            return
        except Exception as exc:  # noqa: BLE001 — a damaged registry names itself
            self.backbone_table.setRowCount(0)
            self.backbone_note.setText(f"The model store could not be read: {exc}")
            return
        self.backbone_table.setRowCount(len(entries))
        for row, e in enumerate(entries):
            values = (e.name, e.model_type, f"{e.layers} × {e.hidden_size}", "/".join(map(str, e.levels)),
                      _size(e.total_bytes), e.source)
            for col, value in enumerate(values):
                self.backbone_table.setItem(row, col, QTableWidgetItem(value))
        self.backbone_note.setText(
            f"Built in: minilm (all-MiniLM-L6-v2). Imported backbones live in {store.root}; a model is trained "
            f"on one backbone (`cladmop pretrain --backbone NAME`) and reads only states of that width.")

    # -- actions -----------------------------------------------------------------------------------
    def use_selected(self) -> None:
        item = self.model_list.currentItem()
        if item is not None:
            self.request_folder(item.data(Qt.ItemDataRole.UserRole))

    def forget_selected(self) -> None:
        item = self.model_list.currentItem()
        folder = item.data(Qt.ItemDataRole.UserRole) if item else None
        if folder:
            forget_model(self.settings, folder)
            self.refresh_models()

    def ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a CLaDMoP model folder", str(Path.home()))
        if folder:
            self.request_folder(folder)

    def request_folder(self, folder: str | None) -> None:
        """Validate the folder on a worker (every file against its checksum); switch when it is sound,
        else say which file is wrong."""
        from engine.model_info import check_model_folder

        target = folder or str(_default_model_dir())
        device = self.device_box.currentData()
        self.runner.start(check_model_folder, target, name="Checking the model folder", pass_state=False,
                          on_result=lambda summary: self.modelRequested.emit(folder, device),
                          on_error=lambda exc: self._message("Model folder", f"This folder cannot be used as a "
                                                                             f"model: {exc}"))

    def ask_import_backbone(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a BioGPT / Hugging Face model folder", str(Path.home()))
        if not folder:
            return
        try:
            from engine.model_store import default_name
        except ModuleNotFoundError:
            return
        name, ok = QInputDialog.getText(self, "Backbone name", "Name to use for this backbone:",
                                        text=default_name(Path(folder)))
        if ok and name.strip():
            self.import_backbone(folder, name.strip(), allow_pickle=self.allow_pickle.isChecked())

    def import_backbone(self, folder: str, name: str, allow_pickle: bool = False):
        """Import on a worker (copy, convert, load-test, checksum); returns the Task."""
        from engine.model_store import ModelStore

        def run(state=None):
            return ModelStore().import_folder(folder, name, allow_pickle=allow_pickle, state=state)

        self.backbone_note.setText(f"importing {folder}…")
        return self.runner.start(run, name=f"Importing backbone {name}",
                                 on_result=lambda entry: (self.refresh_backbones(),
                                                          self.backbone_note.setText(f"imported {entry.describe()}")),
                                 on_error=lambda exc: (self.refresh_backbones(),
                                                       self._message("Import backbone", f"{folder} was not imported: "
                                                                     + str(exc).replace(
                                                                         "--allow-pickle", "“Accept pytorch_model.bin "
                                                                         "weights” (below the list)"))),
                                 on_progress=lambda done, total, text: self.backbone_note.setText(text))

    def remove_selected_backbone(self) -> None:
        row = self.backbone_table.currentRow()
        item = self.backbone_table.item(row, 0) if row >= 0 else None
        if item is None:
            return
        from engine.model_store import ModelStore

        try:
            ModelStore().remove(item.text())
        except Exception as exc:  # noqa: BLE001 — ModelError names the problem
            self._message("Remove backbone", str(exc))
        self.refresh_backbones()

    def _message(self, title: str, text: str):
        self.last_message = show_message(self, title, text)
        return self.last_message


def _default_model_dir() -> Path:
    from engine.predict import default_model_dir

    return default_model_dir()


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return not a and not b
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
