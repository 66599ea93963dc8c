"""How far to trust the number: novelty in plain words and the most similar labelled past trials.

Views only: the engine finds the neighbours and judges novelty (engine/evidence/); this draws them.
Double-clicking a past trial asks the window to show that record, when the analyst has it open.
"""
from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from desktop.widgets.style import NOTICE_STYLE

COLUMNS = ("Trial", "Outcome", "Phase", "Completed", "Similarity", "Shares")


class EvidencePanel(QWidget):
    openRequested = Signal(str)  # an NCT id

    def __init__(self, parent=None):
        super().__init__(parent)
        self.novelty = QLabel()
        self.novelty.setWordWrap(True)
        self.novelty.setTextFormat(Qt.TextFormat.RichText)
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # long cells: tooltips
        self.table.setToolTip("Labelled past trials most like this one (criteria text, shared drugs and "
                              "conditions). Double-click to show a record you have open.")
        self.table.cellDoubleClicked.connect(lambda row, _: self.openRequested.emit(self.table.item(row, 0).text()))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        for widget in (self.novelty, self.heading, self.table):
            layout.addWidget(widget)
        self.show_prediction(None)

    def show_prediction(self, prediction) -> None:
        """Novelty and similar trials of `prediction`; hidden parts when it has none (an older model)."""
        novelty = getattr(prediction, "novelty", None)
        similar = list(getattr(prediction, "similar", []) or [])
        self.novelty.setVisible(novelty is not None)
        if novelty is not None:
            self.novelty.setStyleSheet(NOTICE_STYLE if novelty.unusual else "color: #1e5b34;")
            if novelty.unusual:
                self.novelty.setText("<b>Unusual trial — trust the number less:</b>"
                                     + "".join(f"<br>• {escape(r)}" for r in novelty.reasons)
                                     + "".join(f"<br>Note: {escape(n)}" for n in novelty.notes))
            else:
                self.novelty.setText(f"<b>Novelty:</b> {escape(novelty.summary)}")
        rate = prediction.neighbour_success_rate if similar else None
        self.heading.setText(f"<b>Similar past trials</b> — {rate:.0%} of these {len(similar)} succeeded"
                             if similar else "")
        self.heading.setVisible(bool(similar))
        self.table.setVisible(bool(similar))
        self.table.setRowCount(len(similar))
        for row, s in enumerate(similar):
            cells = (s.nct_id, s.outcome, s.phases, str(s.completion_year or "?"), f"{s.similarity:.2f}", s.shares)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        # (row heights are 0 until the table is first laid out: size it from the default row height)
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + 2 * self.table.frameWidth()
                                  + len(similar) * self.table.verticalHeader().defaultSectionSize())
