"""The list of open trials: NCT id, phase, predicted probability (original and what-if), title.

A table model over the session, a filter/sort proxy (text over id, title, conditions and drugs;
phase), and the widget with its filter bar. Sorting by probability puts unscored trials last.
"""
from __future__ import annotations

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel,
                            Qt, Signal)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QTableView, QVBoxLayout, QWidget)

from desktop.session import Session
from engine.workspace_view import search_text, words_in

KEY_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 3
PHASE_ROLE = Qt.ItemDataRole.UserRole + 4

#: the phase filter's value for records that state no phase (the model needs one chosen for them)
NO_PHASE = "none"

COLUMNS = ("NCT id", "Phase", "P(success)", "What-if", "Title")
COL_ID, COL_PHASE, COL_PROB, COL_WHATIF, COL_TITLE = range(len(COLUMNS))


def trust_text(prediction) -> str:
    """The list's tooltip: the number with its interval, novelty and the similar trials' success rate."""
    parts = [f"{prediction.probability:.2f}" + (f" ({prediction.interval_text})" if prediction.interval else "")]
    if prediction.novelty is not None:
        parts.append(prediction.novelty.summary)
    if prediction.similar:
        parts.append(f"similar past trials: {prediction.neighbour_success_rate:.0%} succeeded")
    return "\n".join(parts)


def format_probability(p: float | None) -> str:
    return "" if p is None else f"{p:.2f}"


class TrialListModel(QAbstractTableModel):
    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self._cache: dict[str, tuple[float | None, float | None, bool]] = {}
        session.trialsAdded.connect(self._on_added)
        session.trialRemoved.connect(lambda key: self.reset())
        session.trialsReset.connect(self.reset)
        session.draftChanged.connect(lambda key, event: self.refresh_key(key))
        session.predictionChanged.connect(lambda key, role: self.refresh_key(key))

    def reset(self) -> None:
        self._cache.clear()
        self.beginResetModel()
        self.endResetModel()

    def _on_added(self, keys: list) -> None:
        if not keys:
            return
        first = len(self.session.order) - len(keys)
        self.beginInsertRows(QModelIndex(), first, len(self.session.order) - 1)
        self.endInsertRows()

    def refresh_key(self, key: str) -> None:
        self._cache.pop(key, None)
        if key in self.session.entries:
            row = self.session.order.index(key)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def row_of(self, key: str) -> int:
        return self.session.order.index(key)

    # -- Qt model API
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.session.order)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return {COL_ID: "The trial's NCT number (or INHOUSE-… for a trial typed in)",
                        COL_PHASE: "The phases the record states; the model of the later phase scores it",
                        COL_PROB: "Predicted probability of success of the record as loaded",
                        COL_WHATIF: "Predicted probability with your criteria edits",
                        COL_TITLE: "The trial's title"}.get(section)
        return None

    def _probabilities(self, key: str) -> tuple[float | None, float | None, bool]:
        """(original p, what-if p, modified), cached per trial until it changes (sorting asks often)."""
        if key not in self._cache:
            self._cache[key] = self._compute_probabilities(key)
        return self._cache[key]

    def _compute_probabilities(self, key: str) -> tuple[float | None, float | None, bool]:
        entry = self.session.entries[key]
        modified = entry.draft.is_modified
        original = self.session.current_prediction(key, "original")
        edited = self.session.current_prediction(key, "edited") if modified else None
        return (original.probability if original else None,
                edited.probability if edited else None, modified)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        key = self.session.order[index.row()]
        entry = self.session.entries[key]
        trial = entry.draft.original
        col = index.column()
        if role == KEY_ROLE:
            return key
        if role == SEARCH_ROLE:
            return search_text(trial)
        if role == PHASE_ROLE:
            return trial.phases
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE, Qt.ItemDataRole.ToolTipRole):
            p_original, p_edited, modified = self._probabilities(key)
            if col == COL_ID:
                return key
            if col == COL_PHASE:
                return trial.phase_label
            if col == COL_TITLE:
                return trial.title if role != Qt.ItemDataRole.ToolTipRole else f"{trial.title}\n{trial.source_path}"
            if col == COL_PROB:
                if role == SORT_ROLE:
                    return -1.0 if p_original is None else p_original
                failure = self.session.current_failure(key, "original") if p_original is None else ""
                if failure:
                    return failure if role == Qt.ItemDataRole.ToolTipRole else "–"
                if role == Qt.ItemDataRole.ToolTipRole and p_original is not None:
                    return trust_text(self.session.current_prediction(key, "original"))
                return format_probability(p_original)
            if col == COL_WHATIF:
                if role == SORT_ROLE:
                    return -1.0 if p_edited is None else p_edited
                if not modified:
                    return ""
                if p_edited is None:
                    return "edited"
                if role == Qt.ItemDataRole.ToolTipRole and p_original is not None:
                    return f"what-if {p_edited:.2f}, {p_edited - p_original:+.2f} against the record as loaded"
                return format_probability(p_edited)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_PROB, COL_WHATIF, COL_PHASE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter) if col != COL_PHASE \
                else int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.FontRole and col == COL_ID:
            font = QFont()
            font.setFamily("monospace")
            return font
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_WHATIF:
            p_original, p_edited, _ = self._probabilities(key)
            if p_original is not None and p_edited is not None and abs(p_edited - p_original) >= 0.005:
                return QColor("#1e7b34") if p_edited > p_original else QColor("#b3261e")
            return QColor("#8a5a00")
        return None


class TrialFilterProxy(QSortFilterProxyModel):
    """Case-insensitive text filter over id/title/conditions (names and ICD-10 codes)/drugs, plus a phase filter."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self._phase = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_text(self, text: str) -> None:
        self._text = text.strip().lower()
        self.invalidateFilter()

    def set_phase(self, phase: str) -> None:
        self._phase = phase
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        if not self._phase_matches(index.data(PHASE_ROLE) or ()):
            return False
        return words_in(index.data(SEARCH_ROLE) or "", self._text)

    def _phase_matches(self, phases) -> bool:
        """All phases; the chosen one among a record's; or, for NO_PHASE, a record that states none."""
        if self._phase == NO_PHASE:
            return not phases
        return not self._phase or self._phase in phases

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a or "").lower() < str(b or "").lower()


class TrialListWidget(QWidget):
    """Filter bar + sortable table. `currentKeyChanged(key)` when the analyst picks a trial."""

    currentKeyChanged = Signal(str)

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.model = TrialListModel(session, self)
        self.proxy = TrialFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit(placeholderText="Filter: id, title, condition or ICD-10 code, drug…")
        self.filter_edit.setToolTip("Every word must match the trial's id, title, a condition (name or ICD-10 "
                                    "code, e.g. E11) or a drug")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.phase_combo = QComboBox()
        self.phase_combo.setToolTip("Show trials of one phase, or those whose record states no phase")
        self.phase_combo.addItem("All phases", "")
        for phase in ("I", "II", "III", "IV"):
            self.phase_combo.addItem(f"Phase {phase}", phase)
        self.phase_combo.addItem("No phase", NO_PHASE)
        self.phase_combo.currentIndexChanged.connect(
            lambda i: self.proxy.set_phase(self.phase_combo.itemData(i)))

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # load order until a header is clicked
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        for col, width in ((COL_ID, 100), (COL_PHASE, 46), (COL_PROB, 70), (COL_WHATIF, 64)):
            header.resizeSection(col, width)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)

        self.count_label = QLabel()
        self.count_label.setStyleSheet("color: palette(mid);")
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):
            signal.connect(self._update_count)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.phase_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        title = QLabel("<b>Trials</b>")
        layout.addWidget(title)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.count_label)
        self._update_count()

    def _update_count(self, *args) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        noun = "trial" if total == 1 else "trials"
        self.count_label.setText(f"{total} {noun}" if shown == total else f"{shown} of {total} {noun} shown")

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.currentKeyChanged.emit(current.data(KEY_ROLE))

    def current_key(self) -> str | None:
        index = self.view.currentIndex()
        return index.data(KEY_ROLE) if index.isValid() else None

    def select_key(self, key: str) -> bool:
        if key not in self.model.session.entries:
            return False
        source = self.model.index(self.model.row_of(key), 0)
        index = self.proxy.mapFromSource(source)
        if not index.isValid():  # filtered out: clear the filter so the trial can be shown
            self.filter_edit.clear()
            self.phase_combo.setCurrentIndex(0)
            index = self.proxy.mapFromSource(source)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        return True

    def visible_keys(self) -> list[str]:
        return [self.proxy.index(r, 0).data(KEY_ROLE) for r in range(self.proxy.rowCount())]
