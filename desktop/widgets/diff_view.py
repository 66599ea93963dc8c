"""A readable diff of two criteria lists (edited vs original, or scenario vs scenario) as HTML."""
from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QTextBrowser

from engine.editing import CriteriaDiff, DiffEntry

ADDED, REMOVED, EDITED, MUTED = "#1e7b34", "#b3261e", "#8a5a00", "#7a7a7a"


def _kind(entry: DiffEntry) -> str:
    c = entry.after or entry.before
    return "Incl." if c.kind == "inclusion" else "Excl."


def entry_html(entry: DiffEntry) -> str:
    c = entry.changes
    kind = f'<span style="color:{MUTED}">{_kind(entry)}</span>'
    if "added" in c:
        return f'<td style="color:{ADDED}"><b>+ added</b></td><td>{kind}</td>' \
               f'<td style="color:{ADDED}">{escape(entry.after.text or "(empty: not scored until typed)")}</td>'
    if "removed" in c:
        return f'<td style="color:{REMOVED}"><b>− removed</b></td><td>{kind}</td>' \
               f'<td style="color:{REMOVED}"><s>{escape(entry.before.text)}</s></td>'
    labels, body = [], escape(entry.after.text)
    if "edited" in c:
        labels.append("edited")
        body = (f'<s style="color:{REMOVED}">{escape(entry.before.text)}</s><br>'
                f'<span style="color:{ADDED}">{escape(entry.after.text)}</span>')
    if "kind" in c:
        labels.append(f"{entry.before.kind} → {entry.after.kind}")
    if "disabled" in c:
        labels.append("disabled")
        if "edited" not in c:
            body = f'<span style="color:{MUTED}"><i>{body}</i></span>'
    if "enabled" in c:
        labels.append("re-enabled")
    if "moved" in c:
        labels.append(f"moved {entry.before_index + 1} → {entry.after_index + 1}")
    return f'<td style="color:{EDITED}"><b>{escape(", ".join(labels))}</b></td><td>{kind}</td><td>{body}</td>'


def diff_html(diff: CriteriaDiff, before_label: str = "original", after_label: str = "what-if") -> str:
    if diff.is_empty:
        return (f'<p style="color:{MUTED}">No differences between the {escape(before_label)} and the '
                f'{escape(after_label)} criteria.</p>')
    rows = "".join(f"<tr>{entry_html(e)}</tr>" for e in diff.changed)
    return (f"<p><b>{escape(after_label[:1].upper() + after_label[1:])} vs {escape(before_label)}:</b> "
            f"{escape(diff.summary())}</p>"
            f'<table cellspacing="0" cellpadding="4" width="100%">{rows}</table>')


class DiffView(QTextBrowser):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.diff: CriteriaDiff | None = None

    def set_diff(self, diff: CriteriaDiff | None, before_label: str = "original",
                 after_label: str = "what-if") -> None:
        self.diff = diff
        self.setHtml("" if diff is None else diff_html(diff, before_label, after_label))
