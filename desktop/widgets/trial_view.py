"""The selected trial's facts: header, conditions with their ICD-10 codes (pick among fuzzy
candidates or type codes), drugs as molecule cards (paste a SMILES for unresolved ones), and the
record's warnings. Corrections are emitted as signals; the main window turns them into commands.

It shows the what-if trial (`show_draft`): drugs and conditions the analyst added are marked, removed
ones listed, regimens spelled out ("FOLFOX → leucovorin, fluorouracil, oxaliplatin"). "+ Drug…",
"+ Condition…", the ✕ beside each and the cards' context menu ask for what-if edits by signal;
desktop/intervention_edits.py turns them into the draft's undoable commands."""
from __future__ import annotations

import re
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QSizePolicy,
                               QToolButton, QVBoxLayout, QWidget)

from engine.editing import NameChanges
from engine.lookups.drug_regimens import regimen_lines
from engine.records.trial import Trial
from desktop.widgets.molecule_view import MoleculeCard

MATCH_STYLE = {"exact": ("exact", "#1d6b3a"), "synonym": ("synonym", "#1d6b3a"), "record": ("from record", "#1d6b3a"),
               "user": ("your choice", "#2f5fa7"), "fuzzy": ("fuzzy — check", "#b36b00"),
               "unresolved": ("not found", "#b3261e"), "": ("not looked up", "#7a7a7a")}
ICD_PATTERN = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def split_codes(text: str) -> list[str]:
    """"J45.909, J45.50 — Asthma" → ["J45.909", "J45.50"]: codes are the tokens that look like ICD-10."""
    head = text.split("—")[0]
    return [t for t in (x.strip().upper() for x in re.split(r"[,;\s]+", head)) if ICD_PATTERN.match(t)]


def rich(html: str) -> QLabel:
    """A label that always reads its text as HTML (Qt guesses otherwise, and shows &#x27; literally)."""
    label = QLabel(html)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def section_label(text: str) -> QLabel:
    label = rich(f"<b>{escape(text)}</b>")
    label.setStyleSheet("color: #34495e; margin-top: 6px;")
    return label


class ConditionCodeBox(QComboBox):
    """Editable combo: the current codes first, then the lookup's candidates."""

    def __init__(self, condition, parent=None):
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setMinimumWidth(170)
        current = ", ".join(condition.icd10)
        self.addItem(current or "")
        for candidate in condition.candidates:
            self.addItem(f"{candidate.code} — {candidate.description} ({candidate.score:.2f})", candidate.code)
        self.setCurrentIndex(0)
        self.lineEdit().setPlaceholderText("type ICD-10 codes, e.g. J45.909")
        self.setToolTip("Pick a candidate or type ICD-10-CM codes separated by commas")


def small_button(text: str, tip: str, slot) -> QToolButton:
    button = QToolButton(text=text, autoRaise=True)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


class TrialView(QScrollArea):
    conditionCodesSubmitted = Signal(int, list)  # condition index, codes
    structureSubmitted = Signal(int, str, bool)  # drug index, smiles, add to library
    #: what-if edits asked for (indexes into the shown trial's lists)
    drugAddRequested = Signal()
    drugRemoveRequested = Signal(int)
    drugReplaceRequested = Signal(int)
    conditionAddRequested = Signal()
    conditionRemoveRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.trial: Trial | None = None
        self.original: Trial | None = None  # the record, when a what-if is shown: marks what changed
        self._signature = None
        self.cards: list[MoleculeCard] = []
        self.attention: dict[int, dict[int, float]] = {}
        self.code_boxes: list[ConditionCodeBox] = []
        self._body = QWidget()
        self._body.setObjectName("TrialViewBody")
        self.setWidget(self._body)
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(10, 8, 10, 8)
        self._layout.setSpacing(4)
        self.show_trial(None)

    def _clear(self) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
            elif item.layout() is not None:
                _delete_layout(item.layout())
        self.cards, self.code_boxes = [], []

    def show_draft(self, draft, force: bool = False) -> None:
        """Show a draft's what-if trial, marking its drugs and conditions against the record's."""
        self.show_trial(draft.edited if draft else None, force, original=draft.original if draft else None)

    def show_trial(self, trial: Trial | None, force: bool = False, original: Trial | None = None) -> None:
        """Show `trial` (corrections included; `original`: the record, to mark what-if changes against).
        Rebuilds only on real change."""
        signature = None if trial is None else (trial.nct_id, trial.source_path, repr(trial.conditions),
                                                repr(trial.drugs), tuple(trial.unresolved), trial.title,
                                                None if original is None else (repr(original.drugs),
                                                                               repr(original.conditions)))
        if signature == self._signature and not force:
            return
        self._signature = signature
        self.trial, self.original = trial, original
        self._clear()
        if trial is None:
            empty = QLabel("<p style='color:gray; font-size:14px'>Open ClinicalTrials.gov records "
                           "(File → Open, or drop files here) and pick a trial in the list.</p>")
            empty.setWordWrap(True)
            empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._layout.addWidget(empty, 1)
            return
        # facts on the left, molecules on the right: the drawings get room without pushing the
        # criteria editor down
        columns = QHBoxLayout()
        columns.setSpacing(14)
        left = QVBoxLayout()
        left.setSpacing(4)
        self._target = left
        self._add_header(trial)
        self._add_conditions(trial)
        self._add_notes(trial)
        left.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(4)
        self._target = right
        self._add_drugs(trial)
        right.addStretch(1)
        columns.addLayout(left, 2)
        columns.addLayout(right, 3)
        self._layout.addLayout(columns)
        self._layout.addStretch(1)

    def _add_header(self, trial: Trial) -> None:
        bits = [f"<span style='font-family:monospace'>{escape(trial.nct_id)}</span>",
                f"Phase {escape(trial.phase_label)}"]
        if trial.status:
            bits.append(escape(trial.status))
        head = rich(" · ".join(bits))
        head.setStyleSheet("font-size: 15px; font-weight: 600;")
        head.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        title = rich(escape(trial.title) or "<i>untitled</i>")
        title.setWordWrap(True)
        title.setStyleSheet("font-size: 13px;")
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        facts = []
        if trial.sponsor:
            facts.append(f"Sponsor: {escape(trial.sponsor)}")
        if trial.start_date or trial.completion_date:
            facts.append(f"{escape(trial.start_date or '?')} – {escape(trial.completion_date or '?')}")
        if trial.enrollment:
            facts.append(f"{trial.enrollment:,} participants")
        if trial.source_path:
            facts.append(f"<span title='{escape(trial.source_path)}'>{escape(Path(trial.source_path).name)}</span>")
        meta = rich(" · ".join(facts))
        meta.setStyleSheet("color: #555;")
        meta.setWordWrap(True)
        meta.setToolTip(trial.source_path)
        for widget in (head, title, meta):
            self._target.addWidget(widget)

    def _changes(self, field_name: str) -> NameChanges:
        """Names added and removed in the what-if against the record (none without a record)."""
        if self.original is None or self.trial is None:
            return NameChanges()
        return NameChanges.between([x.name for x in getattr(self.original, field_name)],
                                   [x.name for x in getattr(self.trial, field_name)])

    def _added(self, field_name: str) -> list[bool]:
        """Per shown item, whether the what-if brought it in: the record's names are matched first, in
        order, so FOLFOX's oxaliplatin beside the record's own is the added one."""
        if self.original is None or self.trial is None:
            return [False] * len(getattr(self.trial, field_name, []))
        left = [x.name for x in getattr(self.original, field_name)]
        flags = []
        for item in getattr(self.trial, field_name):
            flags.append(item.name not in left)
            if item.name in left:
                left.remove(item.name)
        return flags

    def _section_row(self, title: str, button: QToolButton) -> None:
        """A section's heading with its "+ …" button beside it."""
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(section_label(title))
        row.addWidget(button, 0, Qt.AlignmentFlag.AlignBottom)
        row.addStretch(1)
        self._target.addLayout(row)

    def _add_removed(self, names: tuple[str, ...]) -> None:
        """What the what-if took out, struck through (Undo or Revert all brings it back)."""
        if names:
            label = rich("<span style='color:#b3261e'>removed in this what-if: " +
                         ", ".join(f"<s>{escape(n)}</s>" for n in names) + "</span>")
            label.setWordWrap(True)
            self._target.addWidget(label)

    def _add_conditions(self, trial: Trial) -> None:
        self.add_condition_button = small_button("+ Condition…", "Add a condition (indication) to this what-if: "
                                                 "a name, or NAME=ICD-10 code; undoable", self.conditionAddRequested)
        self._section_row(f"Conditions ({len(trial.conditions)})", self.add_condition_button)
        added = self._added("conditions")
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        if not trial.conditions:
            grid.addWidget(QLabel("<i style='color:gray'>none listed</i>"), 0, 0)
        for i, condition in enumerate(trial.conditions):
            name = rich(escape(condition.name))
            name.setWordWrap(True)
            box = ConditionCodeBox(condition)
            box.activated.connect(lambda index, i=i, b=box: self._submit_codes(i, b))
            box.lineEdit().editingFinished.connect(lambda i=i, b=box: self._submit_codes(i, b))
            self.code_boxes.append(box)
            text, color = MATCH_STYLE.get(condition.match, (condition.match, "#7a7a7a"))
            if added[i]:
                text += " · added in this what-if"
            badge = rich(f"<span style='color:{color}'>{escape(text)}</span>")
            remove = small_button("✕", f"Remove {condition.name} from this what-if (Undo brings it back)",
                                  lambda checked=False, i=i: self.conditionRemoveRequested.emit(i))
            grid.addWidget(name, i, 0)
            grid.addWidget(box, i, 1)
            grid.addWidget(badge, i, 2)
            grid.addWidget(remove, i, 3)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(4, 1)
        self._target.addLayout(grid)
        self._add_removed(self._changes("conditions").removed)

    def _submit_codes(self, index: int, box: ConditionCodeBox) -> None:
        if self.trial is None or index >= len(self.trial.conditions):
            return
        chosen = box.currentData() if box.currentIndex() > 0 and box.currentText() == box.itemText(
            box.currentIndex()) else None
        codes = [chosen] if chosen else split_codes(box.currentText())
        if codes != self.trial.conditions[index].icd10:
            self.conditionCodesSubmitted.emit(index, codes)

    def _add_drugs(self, trial: Trial) -> None:
        self.add_drug_button = small_button("+ Drug…", "Add a drug to this what-if: a name (a regimen such as "
                                            "FOLFOX adds its drugs) or NAME=SMILES; undoable", self.drugAddRequested)
        self._section_row(f"Drugs ({len(trial.drugs)})", self.add_drug_button)
        for line in regimen_lines(trial.drugs):
            label = rich(f"<span style='color:#555'>{escape(line)}</span>")
            label.setWordWrap(True)
            self._target.addWidget(label)
        added = self._added("drugs")
        strip = QWidget()
        row = QHBoxLayout(strip)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        for i, drug in enumerate(trial.drugs):
            badge = "added in this what-if" if added[i] else ""
            row.addWidget(self._card(i, drug, badge), 0, Qt.AlignmentFlag.AlignTop)
        if not trial.drugs:
            row.addWidget(QLabel("<i style='color:gray'>no drug interventions</i>"))
        row.addStretch(1)
        scroller = QScrollArea()
        scroller.setWidget(strip)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroller.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        scroller.setFixedHeight(strip.sizeHint().height() + 18)
        self._target.addWidget(scroller)
        self._add_removed(self._changes("drugs").removed)

    def _card(self, index: int, drug, badge: str) -> MoleculeCard:
        """A drug's card, its requests passed on as the view's own signals."""
        card = MoleculeCard(index, drug, badge=badge)
        card.structureSubmitted.connect(self.structureSubmitted)
        card.removeRequested.connect(self.drugRemoveRequested)
        card.replaceRequested.connect(self.drugReplaceRequested)
        self.cards.append(card)
        return card

    def _add_notes(self, trial: Trial) -> None:
        notes = list(trial.unresolved) + list(trial.warnings)
        if not notes:
            return
        box = rich("<br>".join(f"⚠ {escape(n)}" for n in notes))
        box.setWordWrap(True)
        box.setStyleSheet("background: #fff6e0; border: 1px solid #f0d9a0; border-radius: 4px; padding: 4px;")
        self._target.addWidget(box)

    def set_attention(self, weights_by_drug: dict[int, dict[int, float]], vrange=None) -> None:
        """Colour the molecules by per-atom weights (drugs without weights are drawn plain)."""
        for card in self.cards:
            card.set_weights(weights_by_drug.get(card.drug_index), vrange=vrange)
        self.attention = weights_by_drug


def _delete_layout(layout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item.widget() is not None:
            item.widget().deleteLater()
        elif item.layout() is not None:
            _delete_layout(item.layout())
