"""A drug card: the molecule drawing (RDKit SVG from engine.depict), the name, where the structure
came from and the regimen it belongs to; for a drug without one, a field to paste a SMILES. A ✕ and
a context menu ask to remove or replace the drug in the what-if (the trial view passes that on)."""
from __future__ import annotations

from functools import lru_cache
from html import escape
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt, Signal
from PySide6.QtSvgWidgets import QSvgWidget
from PySide6.QtWidgets import (QCheckBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton, QToolButton,
                               QVBoxLayout)

from engine.depict import PLACEHOLDER_TEXT, DepictionError, drug_svg, molecule_svg, placeholder_svg
from engine.records.trial import Drug

KIND_TEXT = {"small_molecule": "small molecule", "biologic": "biologic", "placebo": "placebo",
             "unresolved": "unresolved", "unknown": "not looked up"}


@lru_cache(maxsize=512)
def plain_drawing(name: str, smiles: str | None, kind: str, size: tuple[int, int]) -> str:
    """Unweighted drawings are redrawn every time a trial is shown: keep the recent ones. The card
    prints the name below the drawing, so placeholders go without it."""
    if not smiles:
        return placeholder_svg(kind if kind in PLACEHOLDER_TEXT else "unknown", "", size)
    return drug_svg(Drug(name, smiles, kind), size=size)


class SvgView(QSvgWidget):
    """QSvgWidget that keeps the drawing's aspect ratio (QSvgWidget stretches by default)."""

    def __init__(self, size: QSize, parent=None):
        super().__init__(parent)
        self.setFixedSize(size)
        self.svg_text = ""

    def set_svg(self, svg: str) -> None:
        self.svg_text = svg
        self.load(QByteArray(svg.encode("utf-8")))
        self.renderer().setAspectRatioMode(Qt.AspectRatioMode.KeepAspectRatio)


class MoleculeCard(QFrame):
    """`structureSubmitted(drug_index, smiles, add_to_library)` when the analyst pastes a structure;
    `removeRequested` / `replaceRequested(drug_index)` from the ✕ and the context menu. `badge`: a note
    in colour under the name ("added in this what-if")."""

    structureSubmitted = Signal(int, str, bool)
    removeRequested = Signal(int)
    replaceRequested = Signal(int)

    DRAWING = QSize(172, 124)

    def __init__(self, drug_index: int, drug: Drug, atom_weights=None, parent=None, badge: str = ""):
        super().__init__(parent)
        self.drug_index, self.drug = drug_index, drug
        self.setObjectName("MoleculeCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#MoleculeCard { background: white; border: 1px solid #d9dce1; border-radius: 6px; }")
        self.svg = SvgView(self.DRAWING)
        self.set_weights(atom_weights)

        name = QLabel(f"<b>{escape(drug.name)}</b>")
        name.setTextFormat(Qt.TextFormat.RichText)
        name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        name.setWordWrap(True)
        source = f" · {Path(drug.source).stem}" if drug.source else ""
        if len(source) > 30:
            source = source[:29] + "…"
        regimen = f"<br>from {escape(drug.regimen)}" if drug.regimen else ""
        note = f"<br><span style='color:#2f5fa7'>{escape(badge)}</span>" if badge else ""
        kind = QLabel(f"<span style='color:#666'>{escape(KIND_TEXT.get(drug.kind, drug.kind) + source)}"
                      f"{regimen}</span>{note}")
        kind.setTextFormat(Qt.TextFormat.RichText)
        kind.setWordWrap(True)
        kind.setToolTip(f"{drug.smiles or 'no structure'}\nsource: {drug.source or '–'}")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(2)
        layout.addWidget(self.svg, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addLayout(self._name_row(name))
        layout.addWidget(kind)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: self.menu().exec(self.mapToGlobal(pos)))

        self.smiles_edit: QLineEdit | None = None
        if not drug.smiles and drug.kind in ("unresolved", "unknown"):  # not placebo, not biologic
            self.smiles_edit = QLineEdit(placeholderText="Paste a SMILES…")
            self.smiles_edit.returnPressed.connect(self.submit)
            self.use_button = QPushButton("Use")
            self.use_button.setToolTip("Use this structure for the drug (undoable)")
            self.use_button.clicked.connect(self.submit)
            self.library_check = QCheckBox("Add to my compound library")
            self.library_check.setChecked(True)
            self.error_label = QLabel()
            self.error_label.setStyleSheet("color: #b3261e;")
            self.error_label.setWordWrap(True)
            self.error_label.hide()
            row = QHBoxLayout()
            row.setSpacing(2)
            row.addWidget(self.smiles_edit, 1)
            row.addWidget(self.use_button)
            layout.addLayout(row)
            layout.addWidget(self.library_check)
            layout.addWidget(self.error_label)
        self.setFixedWidth(self.DRAWING.width() + 16)

    def _name_row(self, name: QLabel) -> QHBoxLayout:
        """The name beside a small ✕: removing a drug is one click, as unticking a criterion is."""
        self.remove_button = QToolButton(text="✕", autoRaise=True)
        self.remove_button.setToolTip(f"Remove {self.drug.name} from this what-if (Undo brings it back; "
                                      f"right-click to replace it)")
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.drug_index))
        row = QHBoxLayout()
        row.setSpacing(2)
        row.addWidget(name, 1)
        row.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        return row

    def menu(self) -> QMenu:
        """Replace or remove this drug in the what-if (the record as read keeps it)."""
        menu = QMenu(self)
        menu.addAction(f"Replace {self.drug.name}…", lambda: self.replaceRequested.emit(self.drug_index))
        menu.addAction(f"Remove {self.drug.name}", lambda: self.removeRequested.emit(self.drug_index))
        return menu

    def set_weights(self, atom_weights=None, vrange=None) -> None:
        size = (self.DRAWING.width(), self.DRAWING.height())
        key = (tuple(sorted(atom_weights.items())) if atom_weights else None, vrange)
        if getattr(self, "_drawn", object()) == key:
            return  # same drawing: skip the RDKit call
        self._drawn = key
        if self.drug.smiles and atom_weights:
            try:
                self.svg.set_svg(molecule_svg(self.drug.smiles, atom_weights, size=size, vrange=vrange))
                return
            except DepictionError:
                pass
        self.svg.set_svg(plain_drawing(self.drug.name, self.drug.smiles, self.drug.kind, size))

    def submit(self) -> None:
        if self.smiles_edit is None:
            return
        smiles = self.smiles_edit.text().strip()
        if not smiles:
            return
        try:
            molecule_svg(smiles, size=(40, 40))
        except DepictionError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.error_label.hide()
        self.structureSubmitted.emit(self.drug_index, smiles, self.library_check.isChecked())
