"""One trial's report as a file: HTML (engine/export.py, molecules drawn inline) or PDF through Qt's
own writer, so nothing beyond the application is needed to share it. Qt's rich text does not draw SVG,
so the PDF leaves the drawings out and says where they are."""
from __future__ import annotations

import re
from pathlib import Path

from engine.atomic import atomic_file
from engine.export import html_report
from engine.tasks import TaskState

_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL | re.IGNORECASE)
PDF_NOTE = ("<p><i>Molecule drawings and the probability bar are in the HTML version of this report "
            "(Trial → Report for this trial…, HTML).</i></p>")


def write_trial_report(scored, path: Path, model_name: str = "", state: TaskState | None = None) -> Path:
    """`scored` (one ScoredTrial) as HTML, or as PDF when `path` ends in .pdf; written whole or not at all."""
    (state or TaskState()).progress(0, 1, f"writing {Path(path).name}")
    path = Path(path)
    html = html_report([scored], model_name, title=f"CLaDMoP Studio report: {scored.trial.nct_id}")
    if path.suffix.lower() != ".pdf":
        with atomic_file(path) as f:
            f.write(html.encode("utf-8"))
        return path
    return _write_pdf(_SVG.sub("", html).replace("<body>", "<body>" + PDF_NOTE, 1), path)


def _write_pdf(html: str, path: Path) -> Path:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    document = QTextDocument()
    document.setHtml(html)
    document.print_(writer)
    del writer  # the PDF is complete once the writer is gone
    buffer.close()
    with atomic_file(path) as f:
        f.write(bytes(data))
    return path
