"""Dialogs that report problems: each names the file and the problem, and never blocks the others.

They are shown non-modally (`open()`), so loading goes on, the window stays usable, and tests can
read them back from `MainWindow.last_error_dialog`.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

MAX_LISTED = 8


def problem_of(error) -> tuple[str, str]:
    """(path, problem) of a RecordError-like object, a (path, problem) pair, or any exception."""
    if isinstance(error, tuple) and len(error) == 2:
        return str(error[0]), str(error[1])
    path = getattr(error, "path", "") or ""
    problem = getattr(error, "problem", None) or str(error) or type(error).__name__
    return str(path), str(problem)


def error_list_text(errors) -> tuple[str, str]:
    """Short HTML listing (first few files) and the full plain-text detail (every path)."""
    pairs = [problem_of(e) for e in errors]
    lines = [f"<li><b>{escape(Path(p).name or p or '(input)')}</b>: {escape(problem)}</li>"
             for p, problem in pairs[:MAX_LISTED]]
    if len(pairs) > MAX_LISTED:
        lines.append(f"<li>… and {len(pairs) - MAX_LISTED} more (see details)</li>")
    detail = "\n".join(f"{p or '(input)'}: {problem}" for p, problem in pairs)
    return "<ul style='margin-left:0'>" + "".join(lines) + "</ul>", detail


def show_errors(parent: QWidget, title: str, intro: str, errors) -> QMessageBox:
    """A non-modal warning listing `errors`; returns the box (kept by the caller)."""
    listing, detail = error_list_text(errors)
    box = QMessageBox(QMessageBox.Icon.Warning, title, f"<p>{escape(intro)}</p>{listing}",
                      QMessageBox.StandardButton.Ok, parent)
    box.setDetailedText(detail)
    box.open()
    return box


def show_message(parent: QWidget, title: str, message: str,
                 icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> QMessageBox:
    box = QMessageBox(icon, title, message, QMessageBox.StandardButton.Ok, parent)
    box.open()
    return box
