"""File → New trial: an in-house protocol typed in (engine/records/typed.py builds the Trial, as
`cladmop workspace add` does). A problem is shown in the dialog, which stays open with everything typed."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
    QTableWidget, QVBoxLayout, QWidget,
)

from engine.records.errors import RecordError
from engine.records.typed import typed_trial

PHASE_CHOICES = ("I", "I/II", "II", "II/III", "III", "IV")
CRITERIA_HINT = ("Paste the eligibility criteria as one block, e.g.\n\nInclusion Criteria:\n- Adults aged 18 to 75\n"
                 "- HbA1c between 7.0% and 10.0%\n\nExclusion Criteria:\n- Pregnancy")


class PairTable(QTableWidget):
    """Rows of (name, optional detail); empty rows are ignored."""

    def __init__(self, headers: tuple[str, str], rows: int = 3, parent: QWidget | None = None):
        super().__init__(rows, 2, parent)
        self.setHorizontalHeaderLabels(list(headers))
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setVisible(False)

    def pairs(self) -> list[tuple[str, str]]:
        cell = lambda r, c: self.item(r, c).text() if self.item(r, c) else ""  # noqa: E731
        return [(cell(r, 0), cell(r, 1)) for r in range(self.rowCount())]

    def add_row(self) -> None:
        self.insertRow(self.rowCount())


class NewTrialDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New trial")
        self.trial = None
        self.title = QLineEdit(placeholderText="e.g. Metformin XR in adults with type 2 diabetes")
        self.nct_id = QLineEdit(placeholderText="optional: its NCT number")
        self.phase = QComboBox()
        self.phase.addItems(PHASE_CHOICES)
        self.phase.setCurrentText("II")
        self.drugs = PairTable(("Drug name", "SMILES (optional: else looked up by name)"))
        self.conditions = PairTable(("Condition", "ICD-10 code (optional: else looked up)"), rows=2)
        self.criteria = QPlainTextEdit(placeholderText=CRITERIA_HINT)
        self.problem = QLabel(styleSheet="color:#b3261e", wordWrap=True)
        self.phase.setToolTip("The model of the trial's (later) phase scores it")
        self.nct_id.setToolTip("Leave empty for an in-house protocol: it gets a stable INHOUSE-… id")
        self.drugs.setToolTip("A drug by name is looked up in the drug tables; a SMILES you give is used as is")
        self.conditions.setToolTip("A condition by name is looked up in ICD-10-CM; a code you give is used as is")
        self.criteria.setToolTip("Under 'Inclusion Criteria:' and 'Exclusion Criteria:' headers, one item per line")
        self._lay_out()

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.addRow("&Title", self.title)
        form.addRow("&Phase", self.phase)
        form.addRow("NCT &number", self.nct_id)
        form.addRow("&Drugs", self._with_add(self.drugs, "+ drug"))
        form.addRow("&Conditions", self._with_add(self.conditions, "+ condition"))
        form.addRow("C&riteria", self.criteria)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add trial")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.resize(720, 640)

    @staticmethod
    def _with_add(table: PairTable, label: str) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(table)
        button = QPushButton(label)
        button.clicked.connect(table.add_row)
        layout.addWidget(button)
        return box

    def accept(self) -> None:
        """The trial when every field reads; else the problem in words, and the dialog stays open."""
        try:
            self.trial = typed_trial(self.title.text(), self.phase.currentText(), self.drugs.pairs(),
                                     self.conditions.pairs(), self.criteria.toPlainText(), self.nct_id.text())
        except RecordError as e:
            self.problem.setText(e.problem)
            return
        super().accept()
