"""The what-if criteria editor: a table over a `TrialDraft` whose every edit is an undoable command.

The model never changes the draft behind the stack's back: setData pushes EditCriterionText /
SetCriterionKind / SetCriterionEnabled, drag & drop pushes MoveCriterion, and the view refreshes
from the stack's change notifications (so undo/redo, scenario application and edits from
elsewhere all show the same way).
"""
from __future__ import annotations

import itertools

from PySide6.QtCore import QAbstractTableModel, QByteArray, QMimeData, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
                               QSizePolicy, QStyledItemDelegate, QTableView, QTabWidget, QToolButton, QVBoxLayout,
                               QWidget)

from engine.editing import AddCriterion, EditCriterionText, TrialDraft
from desktop.widgets.diff_view import DiffView

COLUMNS = ("On", "Kind", "Criterion", "Change")
COL_ON, COL_KIND, COL_TEXT, COL_CHANGE = range(len(COLUMNS))
ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_MIME = "application/x-cladmop-criterion-row"
#: above this many rows, rows keep one line's height (full text in the tooltip and the editor):
#: measuring thousands of wrapped rows would freeze the window for seconds
WRAP_ROWS_UP_TO = 300

KIND_LABEL = {"inclusion": "Inclusion", "exclusion": "Exclusion"}
#: shown in a new, still empty row; the row itself stays empty, so the model never scores it
PLACEHOLDER = {"inclusion": "New inclusion criterion: type its text", "exclusion": "New exclusion criterion: "
               "type its text"}
PLACEHOLDER_COLOR = QColor("#9a9a9a")
KIND_COLOR = {"inclusion": QColor("#1d6b3a"), "exclusion": QColor("#a3341f")}
ROW_TINT = {"added": QColor("#e4f4e6"), "edited": QColor("#fdf3d7"), "kind": QColor("#fdf3d7"),
            "moved": QColor("#eef2fb"), "disabled": QColor("#f0f0f0")}


class CriteriaModel(QAbstractTableModel):
    """Rows = the draft's edited criteria. `draft=None` shows an empty table."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.draft: TrialDraft | None = None
        self._status: dict[int, frozenset[str]] = {}
        self._original_text: dict[int, str] = {}
        self._states: list[tuple] = []

    def set_draft(self, draft: TrialDraft | None) -> None:
        self.beginResetModel()
        self.draft = draft
        self._compute_status()
        self._states = self._row_states()
        self.endResetModel()

    def _compute_status(self) -> None:
        self._status, self._original_text = {}, {}
        if self.draft is None:
            return
        for entry in self.draft.diff().entries:
            self._status[entry.item_id] = entry.changes
            if entry.before is not None:
                self._original_text[entry.item_id] = entry.before.text

    def _row_states(self) -> list[tuple]:
        if self.draft is None:
            return []
        return [(i, c.text, c.kind, c.enabled, self._status.get(i)) for i, c in self.draft.items()]

    def refresh(self) -> None:
        """Re-read the draft after a command: repaint only the rows that changed (a typical edit
        touches one; re-measuring every wrapped row would cost a frame), reset when rows come or go."""
        old_states = self._states
        self._compute_status()
        self._states = self._row_states()
        if len(self._states) != len(old_states) or self.draft is None:
            self.beginResetModel()
            self.endResetModel()
            return
        for row, (old, new) in enumerate(zip(old_states, self._states)):
            if old != new:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def status(self, row: int) -> frozenset[str]:
        return self._status.get(self._states[row][0], frozenset()) if self.draft else frozenset()

    # -- reading
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() or self.draft is None else len(self.draft.criteria)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section] if orientation == Qt.Orientation.Horizontal else str(section + 1)
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal and section == COL_ON:
            return "Untick to leave a criterion out of the what-if (it stays in the list)"
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.draft is None:
            return None
        row, col = index.row(), index.column()
        criterion = self.draft.criteria[row]
        item_id = self._states[row][0] if row < len(self._states) else self.draft.item_ids()[row]
        status = self._status.get(item_id, frozenset())
        if role == ITEM_ID_ROLE:
            return item_id
        if col == COL_ON and role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if criterion.enabled else Qt.CheckState.Unchecked
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == COL_KIND:
                return criterion.kind if role == Qt.ItemDataRole.EditRole else KIND_LABEL.get(criterion.kind)
            if col == COL_TEXT:
                empty = role == Qt.ItemDataRole.DisplayRole and not criterion.text.strip()
                return PLACEHOLDER.get(criterion.kind, "") if empty else criterion.text
            if col == COL_CHANGE and role == Qt.ItemDataRole.DisplayRole:
                return ", ".join(sorted(status))
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_TEXT:
            original = self._original_text.get(item_id)
            if "edited" in status and original is not None:
                return f"Original: {original}"
            return criterion.text
        if role == Qt.ItemDataRole.ForegroundRole:
            if not criterion.enabled or (col == COL_TEXT and not criterion.text.strip()):
                return QBrush(QColor("#8c8c8c"))
            if col == COL_KIND:
                return QBrush(KIND_COLOR.get(criterion.kind, QColor("black")))
            if col == COL_CHANGE:
                return QBrush(QColor("#8a5a00"))
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            if not criterion.enabled and col == COL_TEXT:
                font.setStrikeOut(True)
            if col == COL_TEXT and not criterion.text.strip():
                font.setItalic(True)  # the placeholder
            if col == COL_KIND:
                font.setBold(True)
            if col == COL_CHANGE:
                font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole:
            for change in ("added", "edited", "kind", "disabled", "moved"):
                if change in status:
                    return QBrush(ROW_TINT[change])
        return None

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
        if index.column() == COL_ON:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        if index.column() in (COL_KIND, COL_TEXT):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    # -- writing: every change is a command on the draft's stack
    def setData(self, index: QModelIndex, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or self.draft is None:
            return False
        row, col = index.row(), index.column()
        criterion = self.draft.criteria[row]
        if col == COL_ON and role == Qt.ItemDataRole.CheckStateRole:
            enabled = Qt.CheckState(value) == Qt.CheckState.Checked
            if enabled != criterion.enabled:
                self.draft.set_enabled(row, enabled)
            return True
        if role != Qt.ItemDataRole.EditRole:
            return False
        if col == COL_KIND and value in KIND_LABEL and value != criterion.kind:
            self.draft.set_kind(row, value)
            return True
        if col == COL_TEXT:
            self.set_text(row, str(value))
            return True
        return False

    def set_text(self, row: int, value: str, typing_session=None) -> None:
        """Edit a criterion's text (whitespace tidied; empty text refused). Commits that share a
        `typing_session` key merge into one undo step."""
        if self.draft is None or not 0 <= row < len(self.draft.criteria):
            return
        text = " ".join(value.split())
        if text and text != self.draft.criteria[row].text:
            self.draft.edit_text(row, text, merge=typing_session)

    def cancel_typing(self, row: int, typing_session) -> None:
        """Esc: take back what this typing session already committed live (the text reads as before
        the edit); a criterion just added for it and still empty goes too."""
        stack = self.draft.stack if self.draft is not None else None
        if stack is None:
            return
        if isinstance(stack.top, EditCriterionText) and stack.top.merge_key == typing_session:
            stack.undo()
        top = stack.top
        if isinstance(top, AddCriterion) and top.index == row and not self.draft.criteria[row].text.strip():
            stack.undo()

    # -- drag & drop reordering
    def supportedDropActions(self):
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [ROW_MIME]

    def mimeData(self, indexes) -> QMimeData:
        data = QMimeData()
        rows = sorted({i.row() for i in indexes})
        data.setData(ROW_MIME, QByteArray(str(rows[0] if rows else -1).encode()))
        return data

    def dropMimeData(self, data: QMimeData, action, row: int, column: int, parent: QModelIndex) -> bool:
        if self.draft is None or not data.hasFormat(ROW_MIME) or action != Qt.DropAction.MoveAction:
            return False
        source = int(bytes(data.data(ROW_MIME).data()).decode() or -1)
        if not 0 <= source < self.rowCount():
            return False
        target = row if row >= 0 else (parent.row() if parent.isValid() else self.rowCount())
        destination = target - 1 if target > source else target
        destination = max(0, min(destination, self.rowCount() - 1))
        if destination != source:
            self.draft.move(source, destination)
        return False  # the move is done; the view must not remove rows itself


class CriterionTextDelegate(QStyledItemDelegate):
    """Multi-line editor for long criteria: Enter commits, Shift+Enter is a line break.

    While the analyst types, the text is committed after each pause of `LIVE_COMMIT_MS` (one undo
    step per editing session), so autosave and the live what-if prediction follow the typing and
    a crash loses seconds, not a paragraph. Esc cancels the edit: what it committed is taken back."""

    LIVE_COMMIT_MS = 800
    _sessions = itertools.count(1)

    def createEditor(self, parent, option, index):
        editor = QPlainTextEdit(parent)
        editor.setTabChangesFocus(True)
        editor.installEventFilter(self)
        editor.typing_session = f"typing-{next(self._sessions)}"
        timer = QTimer(editor)
        timer.setSingleShot(True)
        timer.setInterval(self.LIVE_COMMIT_MS)
        row = editor.row = index.row()
        timer.timeout.connect(lambda e=editor, m=index.model(), r=row: m.set_text(r, e.toPlainText(),
                                                                                 e.typing_session))
        editor.textChanged.connect(timer.start)
        editor.live_timer = timer
        return editor

    def setEditorData(self, editor, index):
        if getattr(editor, "filled", False):
            return  # an open editor owns its text (the view re-sends data after each live commit)
        editor.filled = True
        editor.blockSignals(True)
        editor.setPlainText(index.data(Qt.ItemDataRole.EditRole) or "")
        editor.blockSignals(False)
        editor.selectAll()

    def setModelData(self, editor, model, index):
        editor.live_timer.stop()
        model.set_text(index.row(), editor.toPlainText(), getattr(editor, "typing_session", None))

    def updateEditorGeometry(self, editor, option, index):
        rect = option.rect
        rect.setHeight(max(rect.height(), 64))
        editor.setGeometry(rect)

    def eventFilter(self, editor, event):
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) \
                and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.commitData.emit(editor)
            self.closeEditor.emit(editor, QStyledItemDelegate.EndEditHint.NoHint)
            return True
        if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape \
                and hasattr(editor, "live_timer"):
            editor.live_timer.stop()
            self.parent().model().cancel_typing(editor.row, editor.typing_session)
            self.closeEditor.emit(editor, QStyledItemDelegate.EndEditHint.RevertModelCache)
            return True
        return super().eventFilter(editor, event)


class KindDelegate(QStyledItemDelegate):
    def createEditor(self, parent, option, index):
        combo = QComboBox(parent)
        for kind, label in KIND_LABEL.items():
            combo.addItem(label, kind)
        combo.activated.connect(lambda _i, c=combo: (self.commitData.emit(c), self.closeEditor.emit(c)))
        return combo

    def setEditorData(self, editor, index):
        editor.setCurrentIndex(max(0, editor.findData(index.data(Qt.ItemDataRole.EditRole))))

    def setModelData(self, editor, model, index):
        model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)


class CriteriaEditor(QWidget):
    """Toolbar + table + "Changes" tab. The undo/redo actions follow whichever draft is shown;
    the main window puts the same actions in its Edit menu."""

    draftEdited = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.draft: TrialDraft | None = None
        self.model = CriteriaModel(self)

        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.SelectedClicked)
        self.view.setWordWrap(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setItemDelegateForColumn(COL_TEXT, CriterionTextDelegate(self.view))
        self.view.setItemDelegateForColumn(COL_KIND, KindDelegate(self.view))
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(COL_ON, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_ON, 34)
        header.setSectionResizeMode(COL_KIND, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_KIND, 82)
        header.setSectionResizeMode(COL_TEXT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_CHANGE, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_CHANGE, 96)
        self.view.selectionModel().currentRowChanged.connect(lambda *a: self._update_actions())

        self.diff_view = DiffView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.view, "Eligibility criteria (what-if)")
        self.tabs.addTab(self.diff_view, "Changes")

        self._make_actions()
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(2)
        for action in (self.add_inclusion_action, self.add_exclusion_action, self.delete_action,
                       self.move_up_action, self.move_down_action, None, self.undo_action, self.redo_action,
                       self.revert_action):
            if action is None:
                bar.addStretch(1)
                continue
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            bar.addWidget(button)

        # what the model left out of this record (Prediction.notice): said where the criteria are edited
        self.model_notice = QLabel()
        self.model_notice.setWordWrap(True)
        self.model_notice.setStyleSheet("color: #6b4400; background: #fff4d6; border: 1px solid #e8c66a; "
                                        "padding: 3px;")
        self.model_notice.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.model_notice)
        layout.addWidget(self.tabs, 1)
        self._update_actions()

    def _make_actions(self) -> None:
        def action(text, slot, shortcut=None, tip=""):
            a = QAction(text, self)
            a.triggered.connect(slot)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(tip or text)
            return a

        self.add_inclusion_action = action("+ Inclusion", lambda: self.add_criterion("inclusion"),
                                           tip="Add an inclusion criterion below the selected one")
        self.add_exclusion_action = action("+ Exclusion", lambda: self.add_criterion("exclusion"),
                                           tip="Add an exclusion criterion below the selected one")
        self.delete_action = action("Delete", self.delete_current, QKeySequence.StandardKey.Delete,
                                    "Delete the selected criterion (Del)")
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.view.addAction(self.delete_action)
        self.move_up_action = action("▲", lambda: self.move_current(-1), "Ctrl+Up", "Move up (Ctrl+↑)")
        self.move_down_action = action("▼", lambda: self.move_current(+1), "Ctrl+Down", "Move down (Ctrl+↓)")
        for a in (self.move_up_action, self.move_down_action):
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(a)
        self.undo_action = action("Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.redo_action = action("Redo", self.redo, QKeySequence("Ctrl+Shift+Z"))
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.revert_action = action("Revert all", self.revert_all, tip="Back to the record's own criteria "
                                                                       "(undoable)")

    def set_model_notice(self, read: int, total: int, notice: str = "") -> None:
        """Say that the model read only the first `read` of the `total` active criteria (hidden when all)."""
        if total > read:
            self.model_notice.setText(f"The model read the first {read:,} of these {total:,} criteria; the last "
                                      f"{total - read:,} do not affect the prediction." + (f" ({notice})" if notice else ""))
        self.model_notice.setVisible(total > read)

    # -- the draft shown
    def set_draft(self, draft: TrialDraft | None) -> None:
        if self.draft is not None:
            self.draft.stack.remove_listener(self._on_stack)
        self.draft = draft
        if draft is not None:
            draft.stack.add_listener(self._on_stack)
        self.model.set_draft(draft)
        self._fit_rows()
        self._after_change()

    def _fit_rows(self) -> None:
        """Wrapped rows of their text's height for ordinary records; one-line rows for huge ones."""
        few = self.model.rowCount() <= WRAP_ROWS_UP_TO
        header = self.view.verticalHeader()
        mode = QHeaderView.ResizeMode.ResizeToContents if few else QHeaderView.ResizeMode.Fixed
        if getattr(self, "_row_mode", None) != mode:
            header.setSectionResizeMode(mode)
            self.view.setWordWrap(few)
            self._row_mode = mode

    def _on_stack(self, event: str, command) -> None:
        if event == "clean":
            return
        current_id = self.current_item_id()
        self.model.refresh()
        self._fit_rows()
        target = getattr(command, "item_id", None) if event in ("do", "redo") else None
        index = getattr(command, "destination", None) if event in ("do", "redo") else \
            getattr(command, "source", None)
        if target is not None:
            self.select_item_id(target)
        elif index is not None and isinstance(index, int):
            self.select_row(index)
        elif current_id is not None:
            self.select_item_id(current_id)
        self._after_change()
        self.draftEdited.emit()

    def _after_change(self) -> None:
        diff = self.draft.diff() if self.draft is not None else None
        self.diff_view.set_diff(diff)
        changed = 0 if diff is None else len(diff.changed)
        self.tabs.setTabText(1, f"Changes ({changed})" if changed else "Changes")
        self.tabs.setTabToolTip(1, "" if diff is None else diff.summary())
        self._update_actions()

    def _update_actions(self) -> None:
        has_draft = self.draft is not None
        row = self.current_row()
        n = self.model.rowCount()
        for a in (self.add_inclusion_action, self.add_exclusion_action):
            a.setEnabled(has_draft)
        self.delete_action.setEnabled(row is not None)
        self.move_up_action.setEnabled(row is not None and row > 0)
        self.move_down_action.setEnabled(row is not None and row < n - 1)
        stack = self.draft.stack if has_draft else None
        self.undo_action.setEnabled(bool(stack is not None and stack.can_undo))
        self.redo_action.setEnabled(bool(stack is not None and stack.can_redo))
        # short button text; the command's name goes in the tooltip and status tip
        self.undo_action.setToolTip(f"Undo {stack.undo_text} (Ctrl+Z)" if stack is not None and stack.can_undo else "Undo")
        self.redo_action.setToolTip(f"Redo {stack.redo_text} (Ctrl+Shift+Z)" if stack is not None and stack.can_redo else "Redo")
        self.undo_action.setStatusTip(self.undo_action.toolTip())
        self.redo_action.setStatusTip(self.redo_action.toolTip())
        self.revert_action.setEnabled(bool(has_draft and self.draft.is_modified))

    # -- selection helpers
    def current_row(self) -> int | None:
        index = self.view.currentIndex()
        return index.row() if index.isValid() and self.draft is not None else None

    def current_item_id(self) -> int | None:
        row = self.current_row()
        return self.draft.item_ids()[row] if row is not None else None

    def select_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(row, COL_TEXT))

    def select_item_id(self, item_id: int) -> None:
        if self.draft is not None and item_id in self.draft.item_ids():
            self.select_row(self.draft.item_ids().index(item_id))

    # -- operations (also used by the main window's menus)
    def add_criterion(self, kind: str = "inclusion", text: str = "", edit: bool = True) -> None:
        """Add a criterion in its section; without `text` it stays empty (a placeholder is shown,
        nothing is scored) until the analyst types it."""
        if self.draft is None:
            return
        index = self.insertion_row(kind)
        self.draft.add(text, kind, index=index)
        if edit:
            self.view.edit(self.model.index(index, COL_TEXT))

    def insertion_row(self, kind: str) -> int:
        """Below the selected criterion when it is of `kind`; else at the edge of `kind`'s section:
        the end of the inclusions, the start of the exclusions."""
        row, kinds = self.current_row(), [c.kind for c in self.draft.criteria]
        if row is not None and kinds[row] == kind:
            return row + 1
        if kind == "exclusion":
            return kinds.index("exclusion") if "exclusion" in kinds else len(kinds)
        return max((i + 1 for i, k in enumerate(kinds) if k == kind), default=0)

    def delete_current(self) -> None:
        row = self.current_row()
        if row is not None:
            self.draft.delete(row)

    def move_current(self, step: int) -> None:
        row = self.current_row()
        if row is not None and 0 <= row + step < len(self.draft.criteria):
            self.draft.move(row, row + step)

    def undo(self) -> None:
        if self.draft is not None:
            self.draft.stack.undo()

    def redo(self) -> None:
        if self.draft is not None:
            self.draft.stack.redo()

    def revert_all(self) -> None:
        if self.draft is not None and self.draft.is_modified:
            self.draft.revert_all()
