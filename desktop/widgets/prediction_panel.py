"""Success probability of the trial in view: the record as loaded, the what-if, and the change,
beside the phase's base rate; which phase model scores it (and a choice of another, for mixed-phase
or unphased records). Shows the model's state when there is no number to show."""
from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QProgressBar, QScrollArea, QVBoxLayout, QWidget

from desktop.widgets.style import NOTICE_STYLE

MODEL_STATE_TEXT = {
    "idle": "Model not loaded.",
    "loading": "Loading the model…",
    "unavailable": "No prediction model is installed: records, edits and scenarios work; "
                   "probabilities appear once a model is installed (Model → Model manager).",
    "failed": "The model could not be loaded.",
}


def delta_html(delta: float) -> str:
    """A signed change, green up / red down; small ones keep a third decimal instead of "+0.00"."""
    color = "#1e7b34" if delta > 0.005 else "#b3261e" if delta < -0.005 else "#555"
    text = f"{delta:+.2f}" if abs(delta) >= 0.01 or delta == 0 else f"{delta:+.3f}"
    return f"<span style='color:{color}'>{text}</span>"


class PredictionPanel(QScrollArea):
    """Scrolls rather than squeezes: in a short dock the big number is never clipped."""

    phaseChosen = Signal(object)  # "I" | "II" | "III", or None for the default choice

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("PredictionPanel")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.setWidget(body)
        self.probability = QLabel("–")
        self.probability.setTextFormat(Qt.TextFormat.RichText)
        self.probability.setStyleSheet("font-size: 34px; font-weight: 600;")
        self.probability.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        big = self.probability.font()
        big.setPixelSize(34)
        big.setWeight(QFont.Weight.DemiBold)
        self.probability.setMinimumHeight(QFontMetrics(big).height() + 4)  # the whole glyph height, always
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.RichText)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.hide()
        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(8)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.whatif = QLabel()
        self.whatif.setTextFormat(Qt.TextFormat.RichText)
        self.whatif.setWordWrap(True)
        self.whatif.setStyleSheet("font-size: 14px;")
        self.detail = QLabel()
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet("color: #666;")
        self.phase_box = QComboBox()
        self.phase_box.setToolTip("Which phase's fine-tuned model scores this trial")
        self.phase_box.activated.connect(lambda index: self.phaseChosen.emit(self.phase_box.itemData(index)))
        self.phase_note = QLabel()
        self.phase_note.setWordWrap(True)
        self.phase_note.setStyleSheet("color: #8a5a00;")
        self.phase_row = QFrame()
        row = QHBoxLayout(self.phase_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Phase model:"))
        row.addWidget(self.phase_box, 1)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(4)
        from desktop.widgets.evidence_panel import EvidencePanel

        self.evidence = EvidencePanel()
        layout.addWidget(QLabel("<b>Predicted probability of success</b>"))
        for widget in (self.probability, self.meter, self.caption, self.whatif, self.notice, self.evidence,
                       self.phase_row, self.phase_note, self.detail):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.show_state(None, None, modified=False, model_status="idle", model_text="")
        self.set_phase_options([], None, None, "", "")

    def set_phase_options(self, phases: list[str], override: str | None, default: str | None,
                          record_label: str, note: str) -> None:
        """Offer the model's phases; `override` is the analyst's choice (None: `default`, the record's)."""
        self.phase_box.blockSignals(True)
        self.phase_box.clear()
        if phases:
            if default:
                auto = f"Phase {default} — the record's (Phase {record_label})"
            elif record_label and record_label != "?":
                auto = f"none fits Phase {record_label} — choose a model"
            else:
                auto = "none — the record states no phase"
            self.phase_box.addItem(auto, None)
            for phase in phases:
                self.phase_box.addItem(f"Phase {phase} model (your choice)", phase)
            index = self.phase_box.findData(override) if override else 0
            self.phase_box.setCurrentIndex(max(index, 0))
        self.phase_box.blockSignals(False)
        self.phase_row.setVisible(bool(phases))
        self.phase_note.setText(escape(note))
        self.phase_note.setVisible(bool(note))

    @property
    def chosen_phase(self) -> str | None:
        return self.phase_box.currentData() if self.phase_box.count() else None

    def show_state(self, original, edited, modified: bool, model_status: str, model_text: str,
                   pending: bool = False, error: str = "", note: str = "") -> None:
        """`original`/`edited`: the current Predictions (None when missing or stale); `note`: words on the
        what-if's change (engine/whatif.py: insensitivity_note)."""
        shown = edited if modified and edited is not None else original
        self.evidence.show_prediction(shown)
        self.meter.setVisible(shown is not None)
        notice = getattr(shown, "notice", "") if shown is not None else ""
        self.notice.setText(f"<b>Part of the record was read:</b> {escape(notice)}" if notice else "")
        self.notice.setVisible(bool(notice))
        if shown is None:
            self.probability.setText("<span style='color:#9a9a9a'>–</span>")
            self.meter.setValue(0)
            if model_status == "ready":
                if error:
                    self.caption.setText(f"<span style='color:#b3261e'>Cannot be scored:</span> {escape(error)}")
                else:
                    self.caption.setText("Predicting…" if pending else "No prediction yet.")
            elif model_status == "failed":
                self.caption.setText(escape(f"{MODEL_STATE_TEXT['failed']} {model_text}"))
            else:
                self.caption.setText(escape(MODEL_STATE_TEXT.get(model_status, model_text)))
            self.whatif.setText("")
            self.detail.setText("")
            return
        self.probability.setText(f"{shown.probability:.2f}")
        self.meter.setValue(round(shown.probability * 100))
        base = f"base rate {shown.base_rate:.2f} (phase {escape(shown.phase)})"
        vs_base = shown.probability - shown.base_rate
        rate = shown.neighbour_success_rate if getattr(shown, "similar", None) else None
        neighbours = f" · similar past trials {rate:.0%} succeeded" if rate is not None else ""
        interval = getattr(shown, "interval_text", "")
        interval = f"{escape(interval)} · " if interval else ""
        self.caption.setText(f"{'What-if' if modified and shown is edited else 'As recorded'} · {interval}{base} · "
                             f"{delta_html(vs_base)} vs base{neighbours}")
        if modified and original is not None and edited is not None:
            self.whatif.setText(f"As recorded {original.probability:.2f} → what-if {edited.probability:.2f} "
                                f"({delta_html(edited.probability - original.probability)})"
                                + (f"<br><span style='color:#7a5a00'>{escape(note)}</span>" if note else ""))
        elif modified:
            self.whatif.setText("<i>Updating the what-if…</i>" if pending else "")
        else:
            self.whatif.setText("<span style='color:#666'>Edit the criteria to ask “what if”.</span>")
        notes = [escape(w) for w in (shown.warnings or [])]
        members = getattr(shown, "members_text", "")
        self.detail.setText(f"Model: {escape(shown.model_name)}" + (f"<br>{escape(members)}" if members else "")
                            + ("<br>" + "<br>".join(notes) if notes else ""))
