"""Where the model looked, and what each item changes: per-level attention heatmaps and the exact
leave-one-out ablation, side by side and labelled for what they are.

Left, "Attention (where the model looked; not attribution)": one heatmap row per level (coarse,
medium, fine) over the input tokens grouped by source — criteria items, molecule segments, disease
codes — on a sequential colour scale with a colour bar; hovering a cell names
it (criterion text, drug and segment SMILES, ICD-10 code and its condition) with its weight. Beside it,
the criteria as text, highlighted by one level's weight, with a legend.

Right, "Ablation (exact leave-one-out)": Δ probability when each criterion, drug or disease is left
out, as horizontal bars on a diverging scale (blue: leaving it out lowers the probability; red: raises it).

The colours are engine.depict's, so molecules, heatmaps, criteria and reports read the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSplitter, QTextBrowser, QVBoxLayout,
                               QWidget)

from engine.depict import DIVERGING, SEQUENTIAL, highlight_color, weight_color
from engine.prediction import LEVELS

ATTENTION_TITLE = "Attention (where the model looked; not attribution)"
ABLATION_TITLE = "Ablation (exact leave-one-out)"
#: group labels of the heatmap's x axis, longest first: the longest that fits its columns is used
SOURCE_NAMES = {"criterion": ("criteria ({n})", "crit. ({n})", "crit.", "C"),
                "molecule": ("molecules ({n})", "mol. ({n})", "mol.", "M"),
                "disease": ("diseases ({n})", "dis. ({n})", "dis.", "D")}
CHAR_PIXELS = 7
MAX_BARS = 12


def colormap(stops, name: str) -> pg.ColorMap:
    return pg.ColorMap(np.linspace(0.0, 1.0, len(stops)), [tuple(round(c * 255) for c in s) for s in stops],
                       name=name)


SEQUENTIAL_MAP = colormap(SEQUENTIAL, "attention")
DIVERGING_MAP = colormap(DIVERGING, "ablation")


def css(rgb) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def shorten(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Token:
    """One heatmap column: which input it is and how to name it."""

    source: str  # "criterion" | "molecule" | "disease"
    index: int  # within its source
    label: str  # full description for the read-out


def editor_numbers(trial, labels) -> list[int]:
    """The editor's row number (1-based, disabled and empty rows counted) of each scored criterion,
    so the panels call an item what the editor calls it; 1..n when `trial` is not the one scored."""
    rows = [i + 1 for i, c in enumerate(trial.criteria) if c.enabled and c.text.strip()] if trial is not None else []
    texts = [c.text for c in trial.active_criteria] if trial is not None else []
    if texts[:len(labels)] != list(labels):
        return list(range(1, len(labels) + 1))
    return rows[:len(labels)]


def criterion_number(numbers: list[int], index: int) -> int:
    """The editor's number of active criterion `index` (past the known ones: counted on from the last)."""
    return numbers[index] if index < len(numbers) else index + 1 + (numbers[-1] - len(numbers) if numbers else 0)


def token_columns(prediction, trial=None) -> list[Token]:
    """The heatmap's columns in source order. `trial` (the version that was scored) adds each
    criterion's kind and each ICD code's condition name when it matches the prediction."""
    criteria = list(prediction.criteria_labels)
    kinds = []
    if trial is not None and [c.text for c in trial.active_criteria] == criteria:
        kinds = [c.kind for c in trial.active_criteria]
    n_criteria = len(prediction.attention[0].criteria) if prediction.attention else len(criteria)
    numbers = editor_numbers(trial, criteria)
    columns = []
    for i in range(n_criteria):
        text = criteria[i] if i < len(criteria) else ""
        kind = f" ({kinds[i]})" if i < len(kinds) else ""
        columns.append(Token("criterion", i, f"criterion {criterion_number(numbers, i)}{kind}: {text}"))
    n_molecules = len(prediction.attention[0].molecules) if prediction.attention else 0
    for i in range(n_molecules):
        label = prediction.molecule_labels[i] if i < len(prediction.molecule_labels) else f"token {i + 1}"
        drug, _, segment = label.partition(": ")
        columns.append(Token("molecule", i, f"drug {drug} · segment {segment}" if segment
                             else f"drug {drug} (no structure: a learned token)"))
    n_diseases = len(prediction.attention[0].diseases) if prediction.attention else 0
    conditions = trial.conditions if trial is not None else []
    for i in range(n_diseases):
        code = prediction.disease_labels[i] if i < len(prediction.disease_labels) else f"token {i + 1}"
        names = [c.name for c in conditions if code in c.icd10]
        columns.append(Token("disease", i, f"ICD-10 {code}" + (f" ({', '.join(names)})" if names else "")))
    return columns


def attention_matrix(prediction) -> np.ndarray:
    """(3 levels, columns) weights in `token_columns` order. The weight each level puts on the previous
    level's output is left out: it is not an input of the record (the caption states it)."""
    rows = []
    for level in prediction.attention:
        rows.append(np.concatenate([np.asarray(level.criteria, float), np.asarray(level.molecules, float),
                                    np.asarray(level.diseases, float)]))
    return np.vstack(rows) if rows else np.zeros((0, 0))


def ablation_label(ablation, numbers: list[int] = ()) -> str:
    """The bar's tick: C<the editor's number> for a criterion (`numbers` from `editor_numbers`)."""
    number = criterion_number(list(numbers), ablation.index)
    prefix = {"criterion": f"C{number}", "drug": "drug", "disease": "disease"}.get(ablation.kind, ablation.kind)
    return f"{prefix}: {shorten(ablation.label, 34)}"


class AttentionHeatmap(pg.GraphicsLayoutWidget):
    hovered = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.plot = self.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=SEQUENTIAL_MAP, interactive=False,
                                        label="weight", width=12)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.separators: list[pg.InfiniteLine] = []
        self.columns: list[Token] = []
        self.matrix = np.zeros((0, 0))
        self.levels: list[str] = []
        self.previous_share: list[float] = []
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setTextPen("#222")
            # fixed text ticks: draw them all (pyqtgraph drops labels past a share of a short axis)
            self.plot.getAxis(name).setStyle(hideOverlappingLabels=False, textFillLimits=[(0, 1.0)])
        self.plot.getAxis("left").setTicks([[(i + 0.5, name) for i, name in enumerate(LEVELS)]])
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.setMinimumHeight(120)

    def draw(self, prediction, trial=None) -> None:
        for line in self.separators:
            self.plot.removeItem(line)
        self.separators = []
        if prediction is None or not prediction.attention:
            self.columns, self.matrix, self.levels, self.previous_share = [], np.zeros((0, 0)), [], []
            self.image.clear()
            self.plot.getAxis("bottom").setTicks([[]])
            return
        self.columns = token_columns(prediction, trial)
        self.matrix = attention_matrix(prediction)
        self.levels = [a.level for a in prediction.attention]
        top = float(self.matrix.max()) if self.matrix.size else 1.0
        top = top if top > 0 else 1.0
        self.image.setImage(self.matrix, levels=(0.0, top), autoLevels=False)
        self.image.setRect(0, 0, self.matrix.shape[1], self.matrix.shape[0])
        self.colorbar.setLevels((0.0, top))
        self.plot.getAxis("left").setTicks([[(i + 0.5, name) for i, name in enumerate(self.levels)]])
        start = 0
        for source in SOURCE_NAMES:
            count = sum(c.source == source for c in self.columns)
            if start and count:
                line = pg.InfiniteLine(pos=start, angle=90, pen=pg.mkPen("#333", width=2))
                self.plot.addItem(line)
                self.separators.append(line)
            start += count
        self.previous_share = [float(a.previous) for a in prediction.attention]
        self._label_groups()
        self.plot.setRange(xRange=(0, max(self.matrix.shape[1], 1)), yRange=(0, self.matrix.shape[0]), padding=0)

    def group_ticks(self, width_px: float) -> list[tuple[float, str]]:
        """(centre, label) of each source group; each label the longest form that fits its columns."""
        ticks, start = [], 0
        per_column = width_px / max(len(self.columns), 1)
        for source, forms in SOURCE_NAMES.items():
            count = sum(c.source == source for c in self.columns)
            if not count:
                continue
            room = count * per_column
            names = [f.format(n=count) for f in forms]
            ticks.append((start + count / 2, next((n for n in names if len(n) * CHAR_PIXELS <= room), names[-1])))
            start += count
        return ticks

    def _label_groups(self) -> None:
        width = self.plot.vb.width() or max(self.width() - 120, 200)
        self.plot.getAxis("bottom").setTicks([self.group_ticks(width)])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "columns", None):
            self._label_groups()

    def describe(self, column: int, row: int) -> str:
        """The read-out of one cell: level, what the token is, its weight."""
        if not (0 <= row < self.matrix.shape[0] and 0 <= column < self.matrix.shape[1]):
            return ""
        return f"{self.levels[row]} · {self.columns[column].label} · weight {self.matrix[row, column]:.4f}"

    def cell_at_scene(self, scene_pos) -> tuple[int, int] | None:
        if not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.plot.vb.mapSceneToView(scene_pos)
        column, row = math.floor(point.x()), math.floor(point.y())
        if 0 <= row < self.matrix.shape[0] and 0 <= column < self.matrix.shape[1]:
            return column, row
        return None

    def _mouse_moved(self, scene_pos) -> None:
        cell = self.cell_at_scene(scene_pos)
        self.hovered.emit(self.describe(*cell) if cell else "")


class AblationChart(pg.PlotWidget):
    hovered = Signal(str)
    redrawn = Signal()  # fewer or more bars after a resize

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.plotItem.setMenuEnabled(False)
        self.plotItem.setMouseEnabled(x=False, y=False)
        self.plotItem.hideButtons()
        self.plotItem.invertY(True)
        self.plotItem.showGrid(x=True, y=False, alpha=0.25)
        self.plotItem.setLabel("bottom", "Δ probability when left out")
        self.getAxis("bottom").enableAutoSIPrefix(False)
        for name in ("left", "bottom"):
            self.getAxis(name).setTextPen("#222")
        self.getAxis("left").setStyle(hideOverlappingLabels=False, textFillLimits=[(0, 1.0)])
        font = self.getAxis("left").font() if hasattr(self.getAxis("left"), "font") else None
        if font is not None:
            font.setPointSizeF(max(font.pointSizeF() - 1, 7))
            self.getAxis("left").setTickFont(font)
        self.bars: pg.BarGraphItem | None = None
        self.zero = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#444", width=1))
        self.addItem(self.zero)
        self.items: list = []  # the Ablations drawn, top to bottom
        self.all: list = []  # every Ablation, largest effect first
        self.total = 0
        self.numbers: list[int] = []  # the editor's number of each active criterion
        self.labels: list[str] = []  # the bars' ticks, top to bottom
        self.scene().sigMouseMoved.connect(self._mouse_moved)

    def capacity(self) -> int:
        """How many bars fit with legible labels (about 16 px each), between 4 and MAX_BARS."""
        height = self.plotItem.vb.height() or (self.height() - 50)
        return int(min(MAX_BARS, max(4, height // 16)))

    def show_ablations(self, ablations, numbers: list[int] = ()) -> None:
        self.all = sorted(list(ablations or []), key=lambda a: -abs(a.delta))
        self.numbers = list(numbers)
        self.total = len(self.all)
        self._draw()

    def _draw(self) -> None:
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        self.items = self.all[:self.capacity()]
        self.labels = [ablation_label(a, self.numbers) for a in self.items]
        if not self.items:
            self.getAxis("left").setTicks([[]])
            return
        deltas = np.array([a.delta for a in self.items])
        bound = float(np.abs(deltas).max()) or 0.01
        brushes = [pg.mkBrush(*[round(c * 255) for c in weight_color(d, -bound, bound, diverging=True)])
                   for d in deltas]
        y = np.arange(len(self.items))
        self.bars = pg.BarGraphItem(x0=np.minimum(deltas, 0), width=np.abs(deltas), y=y, height=0.72,
                                    brushes=brushes, pen=pg.mkPen("#888", width=0.5))
        self.addItem(self.bars)
        self.getAxis("left").setTicks([list(enumerate(self.labels))])
        self.setXRange(-bound * 1.1, bound * 1.1, padding=0)
        self.setYRange(-0.6, len(self.items) - 0.4, padding=0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "all", None) and self.capacity() != len(self.items) and \
                (len(self.items) < len(self.all) or self.capacity() < len(self.items)):
            self._draw()
            self.redrawn.emit()

    def describe(self, row: int) -> str:
        if not 0 <= row < len(self.items):
            return ""
        a = self.items[row]
        effect = "raises" if a.delta > 0 else "lowers" if a.delta < 0 else "does not change"
        return f"{a.kind} “{shorten(a.label, 160)}”: leaving it out {effect} the probability by {abs(a.delta):.4f}"

    def _mouse_moved(self, scene_pos) -> None:
        if not self.items or not self.plotItem.sceneBoundingRect().contains(scene_pos):
            self.hovered.emit("")
            return
        row = round(self.plotItem.vb.mapSceneToView(scene_pos).y())
        self.hovered.emit(self.describe(row))


def legend_html(vmax: float, diverging: bool = False, steps: int = 9) -> str:
    """A colour strip with its end values, in the colours the views use."""
    if diverging:
        values = np.linspace(-vmax, vmax, steps)
        cells = "".join(f"<td style='background:{css(highlight_color(v, -vmax, vmax, True))}'>&nbsp;&nbsp;&nbsp;</td>"
                        for v in values)
        return (f"<table cellspacing='0' cellpadding='0'><tr><td>{-vmax:+.3f}&nbsp;</td>{cells}"
                f"<td>&nbsp;{vmax:+.3f}</td></tr></table>")
    values = np.linspace(0, vmax, steps)
    cells = "".join(f"<td style='background:{css(highlight_color(v, 0, vmax))}'>&nbsp;&nbsp;&nbsp;</td>"
                    for v in values)
    return (f"<table cellspacing='0' cellpadding='0'><tr><td>0&nbsp;</td>{cells}<td>&nbsp;{vmax:.3f}</td>"
            f"</tr></table>")


def criteria_html(prediction, level: str, trial=None) -> str:
    """The criteria as text, each highlighted by its weight at `level`, with a legend."""
    if prediction is None:
        return "<p style='color:gray'>The criteria appear here, highlighted by attention, once the trial is scored.</p>"
    att = next((a for a in prediction.attention if a.level == level), None)
    labels = prediction.criteria_labels
    if att is None or not len(att.criteria):
        return "<p style='color:gray'>No criteria attention in this prediction.</p>"
    kinds = [c.kind for c in trial.active_criteria] if trial is not None and \
        [c.text for c in trial.active_criteria] == list(labels) else []
    top = float(np.max(att.criteria)) or 1.0
    numbers = editor_numbers(trial, labels)
    rows = []
    for i, weight in enumerate(att.criteria):
        number = criterion_number(numbers, i)
        text = labels[i] if i < len(labels) else f"criterion {number}"
        kind = kinds[i][:3] if i < len(kinds) else ""
        rows.append(f"<tr><td align='right' style='color:#666'>{number}</td><td style='color:#666'>{kind}</td>"
                    f"<td style='background:{css(highlight_color(float(weight), 0.0, top))}'>{escape(text)}</td>"
                    f"<td align='right' style='font-family:monospace'>{float(weight):.3f}</td></tr>")
    return (f"<p style='margin:0; color:gray'>{escape(level)}-level attention per criterion; darker = more</p>"
            f"{legend_html(top)}<table cellspacing='0' cellpadding='3' width='100%'>{''.join(rows)}</table>")


class AttentionView(QWidget):
    """The dock's content: attention heatmaps | criteria highlighted by attention | ablation bars."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.prediction = None
        self.trial = None
        self.ablation_pending = False
        self.attention_title = QLabel(f"<b>{ATTENTION_TITLE}</b>")
        self.ablation_title = QLabel(f"<b>{ABLATION_TITLE}</b>")
        self.heatmap = AttentionHeatmap()
        self.ablation = AblationChart()
        self.level_box = QComboBox()
        self.level_box.addItems(list(LEVELS))
        self.level_box.setCurrentText("fine")
        self.level_box.setToolTip("Which level's attention highlights the criteria")
        self.level_box.currentTextChanged.connect(lambda _: self._show_criteria())
        self.criteria = QTextBrowser()
        self.criteria.setOpenLinks(False)
        self.readout = QLabel(" ")
        self.readout.setWordWrap(True)
        self.readout.setStyleSheet("color: #333; background: #f4f6f8; padding: 3px;")
        self.readout.setMinimumHeight(36)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.ablation_note = QLabel()
        self.ablation_note.setWordWrap(True)
        self.ablation_note.setStyleSheet("color: #555;")
        self.ablation_legend = QLabel()
        self.attention_caption = QLabel()
        self.attention_caption.setWordWrap(True)
        self.attention_caption.setStyleSheet("color: #555;")
        self.heatmap.hovered.connect(self._show_readout)
        self.ablation.hovered.connect(self._show_readout)
        self.ablation.redrawn.connect(self._ablation_note)

        heat = QWidget()
        heat_layout = QVBoxLayout(heat)
        heat_layout.setContentsMargins(4, 4, 4, 4)
        heat_layout.addWidget(self.attention_title)
        heat_layout.addWidget(self.heatmap, 1)
        heat_layout.addWidget(self.attention_caption)

        text = QWidget()
        text_layout = QVBoxLayout(text)
        text_layout.setContentsMargins(4, 4, 4, 4)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Criteria by attention</b>"), 1)
        head.addWidget(QLabel("level"))
        head.addWidget(self.level_box)
        text_layout.addLayout(head)
        text_layout.addWidget(self.criteria, 1)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 4, 4, 4)
        right_layout.addWidget(self.ablation_title)
        right_layout.addWidget(self.ablation, 1)
        right_layout.addWidget(self.ablation_legend)
        right_layout.addWidget(self.ablation_note)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane in (heat, text, right):
            pane.setMinimumWidth(170)  # the window must fit a small laptop screen
            splitter.addWidget(pane)
        splitter.setSizes([470, 430, 480])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.readout)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(200)
        self.show_prediction(None)

    def show_prediction(self, prediction, trial=None, ablation_pending: bool = False) -> None:
        """Draw `prediction` (None clears). `trial`: the version that was scored, for names and kinds;
        `ablation_pending`: its ablation is being computed (the probability and attention came first)."""
        if prediction is self.prediction and trial is self.trial and prediction is not None \
                and ablation_pending == self.ablation_pending:
            return
        self.prediction, self.trial, self.ablation_pending = prediction, trial, ablation_pending
        self.heatmap.draw(prediction, trial)
        self.heatmap.setVisible(prediction is not None and bool(prediction.attention))
        self._show_criteria()
        ablations = prediction.ablations if prediction is not None else []
        labels = prediction.criteria_labels if prediction is not None else []
        self.ablation.show_ablations(ablations, editor_numbers(trial, labels))
        self.ablation.setVisible(bool(ablations))
        self._ablation_note()
        self.readout.setText(" ")
        shares = self.heatmap.previous_share
        self.attention_caption.setText(
            "Attention appears once the trial is scored." if prediction is None else
            "Each row: one level's rolled-out attention over the record's inputs (hover a cell to name it). "
            + ("Weight on the previous level's output, not shown: "
               + ", ".join(f"{lvl} {w:.2f}" for lvl, w in zip(self.heatmap.levels, shares) if lvl != "coarse") + "."
               if shares else ""))

    def _ablation_note(self) -> None:
        prediction = self.prediction
        ablations = prediction.ablations if prediction is not None else []
        if prediction is None:
            self.ablation_note.setText("Attention and ablation appear once the trial is scored.")
            self.ablation_legend.setText("")
        elif not ablations and self.ablation_pending:
            self.ablation_note.setText("Computing the ablation: one re-prediction without each item. The "
                                       "probability and the attention are already up to date.")
            self.ablation_legend.setText("")
        elif not ablations:
            self.ablation_note.setText("Not computed yet: the ablation is computed for the trial in view.")
            self.ablation_legend.setText("")
        else:
            bound = max(abs(a.delta) for a in ablations) or 0.01
            shown = len(self.ablation.items)
            self.ablation_legend.setText(legend_html(bound, diverging=True))
            self.ablation_note.setText(
                f"{shown} of {len(ablations)} items with the largest effects. Blue: leaving the item out lowers "
                f"the probability (it supports success); red: leaving it out raises it. Exact: each bar is a "
                f"re-prediction without that item.")

    def _show_criteria(self) -> None:
        self.criteria.setHtml(criteria_html(self.prediction, self.level_box.currentText(), self.trial))

    def _show_readout(self, text: str) -> None:
        if text:
            self.readout.setText(escape(text))
