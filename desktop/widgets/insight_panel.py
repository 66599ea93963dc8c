"""What moved the prediction, in words: the leave-one-out ablations (exact Δ probability) and the
criteria the fine level attended to most. The pyqtgraph attention view (heatmaps per level) will
take this dock's place; this panel stays as its compact text summary."""
from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QTextBrowser

from engine.depict import DIVERGING


def ablation_delta_html(delta: float) -> str:
    """A Δ in the ablation chart's colours (blue: leaving the item out lowers the probability; red:
    raises it), so the words and the bars agree."""
    low, high = ("#" + "".join(f"{round(c * 255):02x}" for c in DIVERGING[i]) for i in (0, -1))
    color = low if delta < -0.005 else high if delta > 0.005 else "#555"
    text = f"{delta:+.2f}" if abs(delta) >= 0.01 or delta == 0 else f"{delta:+.3f}"
    return f"<span style='color:{color}'>{text}</span>"


def shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def insight_html(prediction, ablation_pending: bool = False, trial=None) -> str:
    """The panel's text; `trial` (the version scored) numbers criteria as the editor does."""
    from desktop.widgets.attention_view import criterion_number, editor_numbers

    if prediction is None:
        return "<p style='color:gray'>Attention and ablation appear here once the trial is scored.</p>"
    parts = []
    numbers = editor_numbers(trial, prediction.criteria_labels)
    ablations = prediction.top_by_ablation(6)
    if not ablations and ablation_pending:
        parts.append("<p><b>Largest effects</b> <span style='color:gray'>(computing the ablation…)</span></p>")
    if ablations:
        parts.append("<p><b>Largest effects</b> <span style='color:gray'>(Δ probability when the item is "
                     "left out; blue: it supports success)</span></p><table cellspacing='0' cellpadding='2'>")
        for a in ablations:
            kind = f"{a.kind} {criterion_number(numbers, a.index)}" if a.kind == "criterion" else a.kind
            parts.append(f"<tr><td align='right'>{ablation_delta_html(a.delta)}</td><td>&nbsp;{escape(kind)}</td>"
                         f"<td>&nbsp;{escape(shorten(a.label))}</td></tr>")
        parts.append("</table>")
    if any(att.level == "fine" and len(att.criteria) for att in prediction.attention):
        parts.append("<p><b>Most attended criteria</b> <span style='color:gray'>(fine level; attention is "
                     "not attribution)</span></p><table cellspacing='0' cellpadding='2'>")
        labels = prediction.criteria_labels
        for index, weight in prediction.top_criteria_by_attention(5):
            number = criterion_number(numbers, index)
            label = labels[index] if index < len(labels) else f"criterion {number}"
            parts.append(f"<tr><td align='right'>{weight:.3f}</td><td>&nbsp;{number}</td>"
                         f"<td>&nbsp;{escape(shorten(label))}</td></tr>")
        parts.append("</table>")
    return "".join(parts) or "<p style='color:gray'>No attention or ablation data in this prediction.</p>"


class InsightPanel(QTextBrowser):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.show_prediction(None)

    def show_prediction(self, prediction, ablation_pending: bool = False, trial=None) -> None:
        self.prediction = prediction
        self.setHtml(insight_html(prediction, ablation_pending, trial))
