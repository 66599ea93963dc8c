"""Named what-if variants of the trial in view: save, apply, rename, delete, compare.

All changes go through the draft's command stack (undoable like criteria edits). The dialogs that
ask for names are thin wrappers over `save_scenario(name)` / `rename_scenario(old, new)`, which
tests and the main window call directly.
"""
from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout, QWidget)

from engine.editing import TrialDraft
from desktop.widgets.diff_view import DiffView

CURRENT = ""  # TrialDraft.compare's name for the list being edited


class ScenariosPanel(QWidget):
    errorRaised = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.draft: TrialDraft | None = None
        self._probabilities: dict[str, float] = {}
        self.list = QListWidget()
        self.list.setAlternatingRowColors(True)
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentItemChanged.connect(lambda *a: self._update())
        self.list.itemDoubleClicked.connect(lambda item: self.apply_selected())

        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the edited criteria as a named scenario")
        self.save_button.clicked.connect(self._ask_save)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Load the scenario's criteria into the editor (undoable)")
        self.apply_button.clicked.connect(self.apply_selected)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Rename the selected scenario (undoable)")
        self.rename_button.clicked.connect(self._ask_rename)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected scenario (undoable with Ctrl+Z)")
        self.delete_button.clicked.connect(self.delete_selected)

        self.compare_combo = QComboBox()
        self.compare_combo.setToolTip("What the selected scenario is compared with: its criteria side by side "
                                      "and the change in probability (Δp)")
        self.compare_combo.currentIndexChanged.connect(lambda *a: self._update_compare())
        self.delta_label = QLabel()
        self.delta_label.setWordWrap(True)
        self.delta_label.setToolTip("Predicted probability of the two versions compared, and the change")
        self.diff_view = DiffView()
        self.diff_view.setMinimumHeight(90)

        buttons = QHBoxLayout()
        buttons.setSpacing(3)
        for b in (self.save_button, self.apply_button, self.rename_button, self.delete_button):
            buttons.addWidget(b)
        compare_row = QHBoxLayout()
        compare_row.addWidget(QLabel("Compare with"))
        compare_row.addWidget(self.compare_combo, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addWidget(self.list, 2)
        layout.addLayout(buttons)
        layout.addLayout(compare_row)
        layout.addWidget(self.delta_label)
        layout.addWidget(self.diff_view, 3)
        self.set_draft(None)

    # -- state
    def set_draft(self, draft: TrialDraft | None) -> None:
        self.draft = draft
        self.refresh()

    def set_probabilities(self, probabilities: dict[str, float]) -> None:
        """Predicted probability per scenario name (shown beside each name), and of the original record
        (TrialDraft.ORIGINAL) and the criteria being edited (CURRENT), which the compare pane reads."""
        self._probabilities = dict(probabilities)
        self.refresh()

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def refresh(self) -> None:
        selected = self.selected_name()
        self.list.blockSignals(True)
        self.list.clear()
        names = self.draft.scenario_names() if self.draft else []
        for name in names:
            scenario = self.draft.scenario(name)
            active = sum(1 for _, c in scenario.items if c.enabled)
            p = self._probabilities.get(name)
            label = f"{name}   ·   {active} criteria" + (f"   ·   p = {p:.2f}" if p is not None else "")
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(scenario.note or name)
            self.list.addItem(item)
            if name == selected:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(self.list.count() - 1)
        self.list.blockSignals(False)
        if not names:
            placeholder = QListWidgetItem("No scenarios yet.\nEdit the criteria, then “Save…”.")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(placeholder)
        self._update()

    def _update(self) -> None:
        has_draft = self.draft is not None
        selected = self.selected_name()
        self.save_button.setEnabled(has_draft)
        for b in (self.apply_button, self.rename_button, self.delete_button):
            b.setEnabled(selected is not None)
        self.compare_combo.blockSignals(True)
        previous = self.compare_combo.currentData()
        self.compare_combo.clear()
        if has_draft and selected is not None:
            self.compare_combo.addItem("the criteria being edited", CURRENT)
            self.compare_combo.addItem("the original record", TrialDraft.ORIGINAL)
            for name in self.draft.scenario_names():
                if name != selected:
                    self.compare_combo.addItem(f"scenario “{name}”", name)
            index = self.compare_combo.findData(previous)
            self.compare_combo.setCurrentIndex(max(index, 0))
        self.compare_combo.setEnabled(self.compare_combo.count() > 0)
        self.compare_combo.blockSignals(False)
        self._update_compare()

    def _update_compare(self) -> None:
        selected = self.selected_name()
        other = self.compare_combo.currentData()
        if self.draft is None or selected is None or other is None:
            self.diff_view.set_diff(None)
            self.delta_label.setText("")
            return
        other_label = {CURRENT: "edited list", TrialDraft.ORIGINAL: "original"}.get(other, f"“{other}”")
        self.delta_label.setText(self._delta_text(other, other_label, selected))
        self.diff_view.set_diff(self.draft.compare(other, selected), before_label=other_label,
                                after_label=f"“{selected}”")

    def _delta_text(self, other: str, other_label: str, selected: str) -> str:
        """“Δp +0.05: p 0.61 (original) → 0.66 (“A”)”, or which of the two is not scored yet."""
        before, after = self._probabilities.get(other), self._probabilities.get(selected)
        if before is None or after is None:
            missing = [label for label, p in ((other_label, before), (f"“{selected}”", after)) if p is None]
            return f"Δp: {' and '.join(missing)} not scored yet"
        return f"Δp {after - before:+.2f}: p {before:.2f} ({other_label}) → {after:.2f} (“{selected}”)"

    # -- operations
    def _run(self, operation) -> bool:
        try:
            operation()
        except (ValueError, KeyError) as exc:
            message = str(exc).strip("'\"")
            self.errorRaised.emit(message)  # the main window shows it (non-modal)
            return False
        self.refresh()
        return True

    def save_scenario(self, name: str, overwrite: bool = False) -> bool:
        return self.draft is not None and self._run(lambda: self.draft.save_scenario(name, overwrite=overwrite))

    def rename_scenario(self, old: str, new: str) -> bool:
        return self.draft is not None and self._run(lambda: self.draft.rename_scenario(old, new))

    def apply_selected(self) -> bool:
        name = self.selected_name()
        return bool(name) and self._run(lambda: self.draft.apply_scenario(name))

    def delete_selected(self) -> bool:
        name = self.selected_name()
        return bool(name) and self._run(lambda: self.draft.delete_scenario(name))

    def _ask_save(self) -> None:
        if self.draft is None:
            return
        default = f"Scenario {len(self.draft.scenarios) + 1}"
        name, ok = QInputDialog.getText(self, "Save scenario", "Name of the scenario:", QLineEdit.EchoMode.Normal,
                                        default)
        if not ok or not name.strip():
            return
        overwrite = False
        if name.strip() in self.draft.scenario_names():
            answer = QMessageBox.question(self, "Save scenario", f"Replace the scenario “{escape(name.strip())}”?")
            if answer != QMessageBox.StandardButton.Yes:
                return
            overwrite = True
        self.save_scenario(name, overwrite=overwrite)

    def _ask_rename(self) -> None:
        old = self.selected_name()
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename scenario", "New name:", QLineEdit.EchoMode.Normal, old)
        if ok and new.strip() and new.strip() != old:
            self.rename_scenario(old, new)
