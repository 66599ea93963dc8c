"""One trial's report as PDF (desktop/report_file.py): Qt's rich text cannot draw SVG, so the molecule
drawings and the probability bar go in as images; the file is written whole or not at all."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.records import read_record
from engine.records.trial import Drug
from engine.scoring import ScoredTrial
from tests.gui_helpers import ActiveCriteriaPredictor

pytestmark = pytest.mark.gui
EXAMPLE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "NCT09990001.xml"
BLUE = (0x2F, 0x6F, 0xB0)  # the probability bar's fill (engine/export.py)


@pytest.fixture
def scored():
    """The example trial with four drugs as the predictor would resolve them: three molecules and a
    placebo (one card more than fits a row)."""
    trial = read_record(EXAMPLE)[0]
    resolved = trial.replace(drugs=[Drug("Metformin hydrochloride", "CN(C)C(=N)N=C(N)N", "small_molecule"),
                                    Drug("Placebo", None, "placebo"),
                                    Drug("Aspirin", "CC(=O)Oc1ccccc1C(=O)O", "small_molecule"),
                                    Drug("Caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "small_molecule")])
    return ScoredTrial(trial, ActiveCriteriaPredictor().predict(trial), resolved=resolved)


def images_in(pdf: bytes) -> int:
    return len(re.findall(rb"/Subtype\s*/Image", pdf))


def test_the_pdf_embeds_the_molecules_and_the_bar_and_no_note(qapp, scored, tmp_path):
    from desktop.report_file import write_trial_report

    pdf = write_trial_report(scored, tmp_path / "report.pdf", "double").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    assert images_in(pdf) == 4 + 1  # four drawings and the bar
    assert list(tmp_path.iterdir()) == [tmp_path / "report.pdf"]


def test_the_html_keeps_its_svg(qapp, scored, tmp_path):
    from desktop.report_file import write_trial_report

    html = write_trial_report(scored, tmp_path / "report.html").read_text()
    assert html.count("<svg") == 5 and "<img" not in html


def test_every_svg_becomes_a_named_image_and_the_cards_a_table(qapp, scored):
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    from desktop.report_file import IMAGE_SCHEME, printable_html
    from engine.export import html_report

    document = QTextDocument()
    html = printable_html(html_report([scored]), document)
    names = re.findall(r"<img src='([^']+)' width='\d+' height='\d+'>", html)
    assert "<svg" not in html and "<figure" not in html and len(set(names)) == 5
    assert all(n.startswith(f"{IMAGE_SCHEME}://") for n in names)
    assert all(not document.resource(QTextDocument.ResourceType.ImageResource, QUrl(n)).isNull() for n in names)
    assert html.count("<tr><td align='center'") == 2  # 3 + 1 cards, captions under the drawings
    assert "Metformin hydrochloride" in html and "placebo" in html


def test_an_unreadable_svg_is_left_out_not_raised(qapp):
    from PySide6.QtGui import QTextDocument

    from desktop.report_file import printable_html

    assert printable_html("<p>a<svg width='10'>not closed</svg>b</p>", QTextDocument()) == "<p>ab</p>"


def test_a_failed_write_keeps_the_old_pdf(qapp, scored, tmp_path, monkeypatch):
    from engine import atomic
    from desktop.report_file import write_trial_report

    target = tmp_path / "report.pdf"
    target.write_bytes(b"old")

    def fail(path):
        assert path.read_bytes() == b"old"  # nothing of the new PDF is visible before the swap
        raise OSError("disk full")

    monkeypatch.setattr(atomic, "before_swap", fail)
    with pytest.raises(OSError, match="disk full"):
        write_trial_report(scored, target)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


def test_page_one_shows_the_bar_with_the_drawings_below_it(qapp, scored, tmp_path):
    """Page 1 as printed (the document's own pagination), saved as report-page1.png for a person to look
    at: one thin bar in its blue, and the molecules' oxygens (RDKit's red) below it."""
    from desktop.report_file import pdf_document
    from engine.export import html_report

    document = pdf_document(html_report([scored]))
    assert "HTML version" not in document.toPlainText()  # the old "drawings are elsewhere" note
    image = page_image(document, 0)
    image.save(str(tmp_path / "report-page1.png"))
    bar, oxygens = rows_with(image, BLUE), rows_with(image, (255, 0, 0), 40)
    assert bar and max(bar) - min(bar) < 40  # 8 CSS px at 2×, not blue all over
    assert oxygens and min(oxygens) > max(bar)


def page_image(document, page: int, scale: float = 2.0):
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter

    size = document.pageSize()
    image = QImage(int(size.width() * scale), int(size.height() * scale), QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    painter.scale(scale, scale)
    painter.translate(0, -page * size.height())
    document.drawContents(painter, QRectF(0, page * size.height(), size.width(), size.height()))
    painter.end()
    return image


def rows_with(image, rgb, tolerance: int = 12) -> list[int]:
    """The pixel rows holding the colour `rgb`."""
    return [y for y in range(image.height())
            if any(close(image.pixelColor(x, y), rgb, tolerance) for x in range(0, image.width(), 3))]


def close(color, rgb, tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip((color.red(), color.green(), color.blue()), rgb))
