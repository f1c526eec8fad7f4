"""Real slide decks made by the tests: a PowerPoint file (python-pptx) and PDFs (fpdf2, pypdf)."""

from __future__ import annotations

from pathlib import Path

import pytest

# (title, bullet lines, speaker notes) of a short lecture on hidden Markov models.
LECTURE = [
    ("Hidden Markov Models", ["CS 229 Lecture 7: sequence models"], ""),
    ("The Viterbi Algorithm", ["Dynamic programming over the trellis", "Complexity O(N2 T) for N states"],
     "Stress that Viterbi finds the single most likely state sequence."),
    ("Training with Baum-Welch", ["The EM algorithm for HMMs uses dynamic programming too",
                                  "Forward and backward passes give the posteriors"], ""),
]


def make_pptx(path: Path, lecture: list[tuple[str, list[str], str]] = LECTURE) -> Path:
    """A deck with a title slide, bullet slides with speaker notes, and a table."""
    pptx = pytest.importorskip("pptx", reason="python-pptx reads PowerPoint decks")
    from pptx.util import Inches

    deck = pptx.Presentation()
    for number, (title, bullets, notes) in enumerate(lecture, 1):
        layout = deck.slide_layouts[0 if number == 1 else 1]
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        frame = slide.placeholders[1].text_frame
        frame.text = bullets[0]
        for bullet in bullets[1:]:
            frame.add_paragraph().text = bullet
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    table = deck.slides.add_slide(deck.slide_layouts[5])
    table.shapes.title.text = "Forward Algorithm Cost"
    cells = table.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
    for (row, col), text in {(0, 0): "states", (0, 1): "cost", (1, 0): "N", (1, 1): "O(N2 T)"}.items():
        cells.cell(row, col).text = text
    deck.save(str(path))
    return path


def make_pdf(path: Path, lecture: list[tuple[str, list[str], str]] = LECTURE, *, footer: str | None = None) -> Path:
    """A landscape deck: titles in 30 pt bold, bullets in 16 pt, an optional footer and page numbers."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 makes the test PDFs")
    pdf = fpdf.FPDF(orientation="L")
    pdf.set_auto_page_break(False)
    for number, (title, bullets, _notes) in enumerate(lecture, 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 30)
        pdf.cell(0, 20, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 16)
        for bullet in bullets:
            pdf.cell(0, 10, bullet, new_x="LMARGIN", new_y="NEXT")
        if footer is not None:
            pdf.set_font("Helvetica", "", 9)
            pdf.set_y(-20)
            pdf.cell(0, 5, footer, new_x="LMARGIN", new_y="NEXT")
            pdf.cell(0, 5, f"{number} / {len(lecture)}")
    pdf.output(str(path))
    return path


def make_image_only_pdf(path: Path) -> Path:
    """A page with a drawn shape and no text at all: what a scanned deck looks like to a text extractor."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 makes the test PDFs")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_fill_color(40, 90, 200)
    pdf.rect(20, 20, 120, 80, style="F")
    pdf.ellipse(60, 120, 50, 30, style="F")
    pdf.output(str(path))
    return path


def encrypt_pdf(source: Path, path: Path, user_password: str, owner_password: str | None = None) -> Path:
    """``source`` encrypted with pypdf (RC4-128, which pypdf reads without extra packages)."""
    import pypdf

    writer = pypdf.PdfWriter(clone_from=str(source))
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    with open(path, "wb") as fh:
        writer.write(fh)
    return path
