"""The column-mapping step of File > Open for an in-house CSV or Excel table (not TOP format): a combo box
per field, prefilled with the mapping saved for this header or else a guess from the column names, and a
preview of the first rows that reads them as the import will, so a wrong column shows before anything
is imported. OK saves the mapping (engine/records/table_import.py); the file is then opened as any record
file, and the same sheet next month opens with the same mapping proposed.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from engine.records.errors import RecordError
from engine.records.table_import import (FIELDS, ColumnMapping, Table, mapping_for, needs_mapping, read_table,
                                         remember_mapping, rows_to_trials)

PREVIEW_ROWS = 8
NO_COLUMN = "— none —"
_MAPPED = QColor("#e8f0fe")


def ask_table_mappings(parent: QWidget, paths: list[str]) -> list[str]:
    """The paths to open: a table that is not in TOP format goes on once its columns are mapped (and the
    mapping saved, so the loader reads it); Cancel leaves that file out. Other files pass unchanged."""
    return [p for p in paths if not needs_mapping(p) or _mapped(parent, p)]


def _mapped(parent: QWidget, path: str) -> bool:
    """Whether the analyst mapped `path`; a file that cannot be read goes on, so the loader names its problem."""
    try:
        table = read_table(path, max_rows=PREVIEW_ROWS)
        mapping, remembered = mapping_for(table)
    except RecordError:
        return True
    return ColumnMappingDialog(table, mapping, remembered, parent).exec() == QDialog.DialogCode.Accepted


class ColumnMappingDialog(QDialog):
    """`mapping` is what OK saved (None before)."""

    def __init__(self, table: Table, proposed: ColumnMapping, remembered: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Columns of {Path(table.path).name}")
        self.table, self.mapping = table, None
        self.combos = {f.name: self._combo(f, getattr(proposed, f.name)) for f in FIELDS}
        self.preview = QTableWidget(len(table.rows), len(table.columns))
        self.preview.setToolTip(f"The first {PREVIEW_ROWS} rows; the columns read are shaded")
        self.check = QLabel(wordWrap=True)
        self.problem = QLabel(styleSheet="color:#b3261e", wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self._lay_out(remembered)
        self._fill_preview()
        self._update()

    def _combo(self, field, column: str | None) -> QComboBox:
        combo = QComboBox()
        combo.addItems([NO_COLUMN, *self.table.columns])
        combo.setCurrentText(column or NO_COLUMN)
        combo.setToolTip(field.hint + ("" if field.required else " (optional)"))
        combo.currentTextChanged.connect(self._update)
        return combo

    def _lay_out(self, remembered: bool) -> None:
        how = "the mapping saved for these columns" if remembered else "a guess from the column names"
        intro = QLabel(f"Which column holds what (* required)? Proposed: {how}. Import reads every row and "
                       "remembers the mapping for tables with these columns.", wordWrap=True)
        form = QFormLayout()
        for f in FIELDS:
            form.addRow(f"{f.label}{' *' if f.required else ''}", self.combos[f.name])
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setToolTip("Save the mapping and open the table's trials")
        ok.setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addLayout(form, 1)
        top.addWidget(self.check, 1, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        for widget in (intro, top, QLabel("First rows:"), self.preview, self.problem, self.buttons):
            (layout.addLayout if isinstance(widget, QHBoxLayout) else layout.addWidget)(widget)
        self.resize(900, 620)

    def _fill_preview(self) -> None:
        self.preview.setVerticalHeaderLabels([str(n) for n in self.table.numbers])
        for r, row in enumerate(self.table.rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text if len(text) <= 80 else text[:79] + "…")
                item.setToolTip(text[:2000])
                self.preview.setItem(r, c, item)

    def current(self) -> ColumnMapping:
        return ColumnMapping(**{name: (None if combo.currentText() == NO_COLUMN else combo.currentText())
                                for name, combo in self.combos.items()})

    def _update(self) -> None:
        """Headers name the field each column feeds; the preview rows are read as the import will read them."""
        mapping = self.current()
        fed = {column: name for name, column in mapping.as_dict().items()}
        self.preview.setHorizontalHeaderLabels([f"{c}\n→ {fed[c]}" if c in fed else c for c in self.table.columns])
        for c, column in enumerate(self.table.columns):
            for r in range(self.preview.rowCount()):
                if (item := self.preview.item(r, c)) is not None:
                    item.setBackground(_MAPPED if column in fed else QColor(Qt.GlobalColor.white))
        problems = mapping.problems(self.table.columns)
        self.problem.setText("; ".join(problems).capitalize())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
        self.check.setText("" if problems else self._check_text(mapping))

    def _check_text(self, mapping: ColumnMapping) -> str:
        """What the first rows read as: trials, labels, and each bad row's problem by its row number."""
        trials, errors = rows_to_trials(self.table, mapping)
        labels = [t.label for t in trials if t.label is not None]
        lines = [f"The first {len(self.table.rows)} rows: {len(trials)} trial(s) read"
                 + (f", {len(labels)} with an outcome label" if labels else "") + "."]
        lines += [f"Row {e.row} skipped: {e.problem.split(': ', 1)[-1]}" for e in errors[:4]]
        return "\n".join(lines)

    def accept(self) -> None:
        """Saves the mapping; a problem saving it is shown and the dialog stays open."""
        mapping = self.current()
        try:
            remember_mapping(self.table.columns, mapping)
        except RecordError as e:
            self.problem.setText(str(e))
            return
        self.mapping = mapping
        super().accept()
