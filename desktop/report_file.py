"""One trial's report as a file: HTML (engine/export.py, molecules drawn inline) or PDF through Qt's
own writer, so nothing beyond the application is needed to share it. Qt's rich text draws neither SVG
nor flex layouts, so for the PDF each inline SVG (molecules, probability bar) is drawn here to an image
of the document and the molecule cards are laid out in a table."""
from __future__ import annotations

import itertools
import re
from pathlib import Path

from engine.atomic import atomic_file
from engine.export import html_report
from engine.tasks import TaskState

_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL | re.IGNORECASE)
_SVG_TAG = re.compile(r"<svg\b[^>]*>", re.IGNORECASE)
_MOLECULES = re.compile(r"<div class='mols'>(.*?)</div>", re.DOTALL)
_CARD = re.compile(r"<figure class='mol'>(.*?)<figcaption>(.*?)</figcaption></figure>", re.DOTALL)
IMAGE_SCHEME = "cladmop-img"
#: image pixels per CSS pixel: 3 × 96 px/inch ≈ 300 dpi on paper, so bonds and atom labels print sharp
PRINT_SCALE = 3
#: molecule cards side by side on A4: three 220 px drawings at 0.8 (47 mm each) fit the 180 mm text block
CARDS_PER_ROW = 3
CARD_SCALE = 0.8
_CARD_STYLE = "font-size:11px;padding:4px;border:1px solid #e3e6ea"
#: A4 less 15 mm margins in CSS pixels (96 per inch): the page the document is laid out on
PAGE_PX = (180 / 25.4 * 96, 267 / 25.4 * 96)


def write_trial_report(scored, path: Path, model_name: str = "", state: TaskState | None = None) -> Path:
    """`scored` (one ScoredTrial) as HTML, or as PDF when `path` ends in .pdf; written whole or not at all."""
    (state or TaskState()).progress(0, 1, f"writing {Path(path).name}")
    path = Path(path)
    html = html_report([scored], model_name, title=f"CLaDMoP Studio report: {scored.trial.nct_id}")
    if path.suffix.lower() != ".pdf":
        with atomic_file(path) as f:
            f.write(html.encode("utf-8"))
        return path
    return _write_pdf(html, path)


def _write_pdf(html: str, path: Path) -> Path:
    """Prints into memory first, so a failure half-way leaves no partial PDF at `path`."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = _a4_writer(buffer)
    pdf_document(html).print_(writer)
    del writer  # the PDF is complete once the writer is gone
    buffer.close()
    with atomic_file(path) as f:
        f.write(bytes(data))
    return path


def _a4_writer(device):
    """A4 portrait with 15 mm margins: the page `PAGE_PX` describes."""
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter

    writer = QPdfWriter(device)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    return writer


def pdf_document(html: str):
    """The report as a QTextDocument laid out on the A4 text block, its drawings held as image
    resources (rich text cannot draw SVG); also what a test renders to look at the page."""
    from PySide6.QtCore import QSizeF
    from PySide6.QtGui import QTextDocument

    document = QTextDocument()
    document.setPageSize(QSizeF(*PAGE_PX))  # paginated: printed at this scale, not Qt's default 2 cm margins
    document.setHtml(printable_html(html, document))
    return document


def printable_html(html: str, document) -> str:
    """`html` with every `<svg>` replaced by an `<img>` of a resource added to `document`, and the
    molecule cards in a table (rich text ignores the HTML version's flex layout)."""
    numbers = itertools.count(1)
    image = lambda svg, scale=1.0: _image_tag(svg, document, next(numbers), scale)  # noqa: E731
    html = _MOLECULES.sub(lambda m: _card_table(_CARD.findall(m.group(1)), image), html)
    return _SVG.sub(lambda m: image(m.group(0)), html)


def _image_tag(svg: str, document, number: int, scale: float = 1.0) -> str:
    """Registers the drawing under a name unique in `document`; the tag gives its printed size in CSS
    pixels (the SVG's own size times `scale`). An unreadable SVG is left out."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    image, size = svg_image(svg)
    if image is None:
        return ""
    name = f"{IMAGE_SCHEME}://{number}"
    document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
    return f"<img src='{name}' width='{round(size.width() * scale)}' height='{round(size.height() * scale)}'>"


def svg_image(svg: str):
    """(image, size in CSS pixels), or (None, None) when Qt cannot read `svg`: drawn on white at
    `PRINT_SCALE` pixels per CSS pixel, opaque so the PDF holds no separate transparency mask."""
    from PySide6.QtCore import QByteArray, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(_standalone(svg).encode("utf-8")))
    size = renderer.defaultSize()
    if not renderer.isValid() or size.isEmpty():
        return None, None
    image = QImage(size * PRINT_SCALE, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    return image, size


def _standalone(svg: str) -> str:
    """Inline SVG in HTML may omit the SVG namespace (the probability bar does); a file needs it."""
    head = _SVG_TAG.match(svg)
    if head is None or "xmlns=" in head.group(0):
        return svg
    return "<svg xmlns='http://www.w3.org/2000/svg'" + svg[4:]


def _card_table(cards: list[tuple[str, str]], image) -> str:
    """(SVG, caption) pairs `CARDS_PER_ROW` to a row, each caption under its drawing; `image` turns
    an SVG at a scale into an `<img>` tag."""
    cells = [f"<td align='center' valign='top' style='{_CARD_STYLE}'>{image(svg, CARD_SCALE)}<br>{caption}</td>"
             for svg, caption in cards]
    rows = ("".join(cells[i:i + CARDS_PER_ROW]) for i in range(0, len(cells), CARDS_PER_ROW))
    return "<table cellspacing='6' style='margin:8px 0'>" + "".join(f"<tr>{row}</tr>" for row in rows) + "</table>"
