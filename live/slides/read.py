"""Reading a course's slides: the text of a PDF or PowerPoint deck, slide by slide.

pypdf and python-pptx are pure Python and imported only when a deck is read. Errors are one line
saying what to do, as for every other input.
"""

from __future__ import annotations

import functools
import logging
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from live.errors import InputError
from live.slides.deck import Deck, Slide

log = logging.getLogger("live.slides")

FORMATS = (".pdf", ".pptx")
FORMATS_HINT = "give a PDF or a PowerPoint .pptx file (export other formats to PDF first)"
# A title is set larger than the body; below this ratio the first line is taken instead.
TITLE_SIZE_RATIO = 1.15


class SlidesError(InputError):
    """A --slides deck that is missing, of an unsupported format, encrypted, empty or damaged."""


def load_slides(path: str | Path) -> Deck:
    """Read a .pdf or .pptx deck; SlidesError (one line saying what to do) when that is impossible."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if path.is_dir():
        raise SlidesError(f"{path} is a folder; --slides takes one PDF or .pptx file")
    if suffix not in FORMATS:
        kind = f"'{path.suffix}'" if path.suffix else "without an extension"
        raise SlidesError(f"{path}: slides {kind} are not supported; {FORMATS_HINT}")
    if not path.exists():
        raise SlidesError(f"{path}: no such file; check the path given to --slides")
    if path.stat().st_size == 0:
        raise SlidesError(f"{path} is empty (0 bytes); {FORMATS_HINT}")
    slides = _read_pdf(path) if suffix == ".pdf" else _read_pptx(path)
    slides = _drop_boilerplate(slides)
    if not any(s.title or s.text or s.notes for s in slides):
        raise SlidesError(f"no text found in {path} (scanned slides?); give a deck with text, e.g. the original "
                          "PowerPoint or a PDF exported from it")
    log.info("read %d slides from %s", len(slides), path)
    return Deck(path, slides)


def _read_pdf(path: Path) -> list[Slide]:
    try:
        import pypdf
        from pypdf.errors import DependencyError, PdfReadError
    except ImportError as exc:
        raise SlidesError(f"reading PDF slides needs pypdf: pip install pypdf ({exc})") from None

    def damaged(exc: BaseException) -> SlidesError:
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        return SlidesError(f"{path} is not a readable PDF ({reason}); export the slides to PDF again")

    # pypdf logs its repairs of damaged files ("EOF marker not found") as warnings: the one-line error
    # below says what matters, so they are kept off the user's terminal while the deck is read.
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" only to set permissions, with an empty password that opens them.
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise SlidesError(f"{path} is encrypted with AES, which needs the cryptography package to "
                                  "open: pip install cryptography, or give an unencrypted copy") from None
            if not opened:
                raise SlidesError(f"{path} is encrypted (password-protected); save an unprotected copy "
                                  "(e.g. print it to a new PDF) and give that")
        pages = list(reader.pages)
        return [_pdf_slide(number, page) for number, page in enumerate(pages, 1)]
    except SlidesError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # pypdf raises plain Python errors as well as its own on damaged files
        raise damaged(exc) from None
    finally:
        pypdf_log.setLevel(level)


def _pdf_slide(number: int, page: Any) -> Slide:
    """A page's text, its title being the run of the largest type at the top (else the first line)."""
    runs: list[tuple[str, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if text.strip():
            runs.append((text.strip(), size * _scale(tm, cm)))

    text = _clean(page.extract_text(visitor_text=visit) or "")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return Slide(number, "", "")
    title = lines[0]
    if runs:
        sizes = [size for run, size in runs for _ in run]  # weighted by characters
        typical, largest = statistics.median(sizes), max(size for _, size in runs)
        if largest >= TITLE_SIZE_RATIO * typical:
            big = []
            for run, size in runs:
                if size >= largest * 0.95:
                    big.append(run)
                elif big:
                    break  # the first block of large type only
            title = " ".join(" ".join(big).split())
    body = lines
    flat_title = " ".join(title.split())
    # Drop the title's lines from the body when the page starts with it (it usually does).
    for k in range(1, min(len(lines), 4) + 1):
        if " ".join(" ".join(lines[:k]).split()) == flat_title:
            body = lines[k:]
            break
    return Slide(number, flat_title, "\n".join(body))


def _scale(tm: list[float], cm: list[float]) -> float:
    """How much the text and transformation matrices enlarge type (1 for plain text)."""
    a = tm[0] * cm[0] + tm[1] * cm[2]
    b = tm[0] * cm[1] + tm[1] * cm[3]
    c = tm[2] * cm[0] + tm[3] * cm[2]
    d = tm[2] * cm[1] + tm[3] * cm[3]
    return abs(a * d - b * c) ** 0.5 or 1.0


def _read_pptx(path: Path) -> list[Slide]:
    try:
        from pptx import Presentation
        from pptx.exc import PackageNotFoundError
    except ImportError as exc:
        raise SlidesError(f"reading PowerPoint slides needs python-pptx: pip install python-pptx ({exc})") from None
    import zipfile

    try:
        deck = Presentation(str(path))
        slides = []
        for number, slide in enumerate(deck.slides, 1):
            title_shape = slide.shapes.title
            title = _clean(title_shape.text_frame.text) if title_shape is not None else ""
            # python-pptx makes a new proxy at each access: shapes are compared by id, not identity.
            title_id = title_shape.shape_id if title_shape is not None else None
            parts = [t for shape in slide.shapes if shape.shape_id != title_id for t in _shape_texts(shape)]
            notes = ""
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = _clean(slide.notes_slide.notes_text_frame.text)
            body = "\n".join(p for p in parts if p)
            if not title and body:  # a slide without a title placeholder: its first line stands in
                first, _, rest = body.partition("\n")
                title, body = first, rest
            slides.append(Slide(number, " ".join(title.split()), body, " ".join(notes.split())))
        return slides
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise SlidesError(f"{path} is not a readable PowerPoint file ({reason}); save it again as .pptx "
                          "or export it to PDF") from None


def _shape_texts(shape: Any) -> list[str]:
    """Text of a shape, of each cell of a table, and of the shapes inside a group, in reading order."""
    texts: list[str] = []
    if getattr(shape, "shape_type", None) is not None and hasattr(shape, "shapes"):  # a group
        for inner in shape.shapes:
            texts += _shape_texts(inner)
    if getattr(shape, "has_text_frame", False):
        texts.append(_clean(shape.text_frame.text))
    if getattr(shape, "has_table", False):
        for row in shape.table.rows:
            cells = [" ".join(cell.text.split()) for cell in row.cells]
            texts.append(" | ".join(c for c in cells if c))
    return [t for t in texts if t]


def _clean(text: str) -> str:
    """Lines stripped of extra blanks; PowerPoint's vertical tab (a soft line break) made a newline."""
    text = text.replace("\x0b", "\n").replace("\r", "\n")
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _drop_boilerplate(slides: list[Slide]) -> list[Slide]:
    """Remove footer lines repeated on most slides (course name, author) and bare page numbers."""
    counts = Counter(line for s in slides for line in set(s.text.splitlines()))
    many = len(slides) >= 4
    repeated = {line for line, n in counts.items() if many and n >= 0.6 * len(slides)}
    page_number = re.compile(r"\d{1,4}(\s*(/|of)\s*\d{1,4})?")

    def keep(line: str) -> bool:
        return line not in repeated and not page_number.fullmatch(line.strip())

    return [Slide(s.number, s.title, "\n".join(l for l in s.text.splitlines() if keep(l)), s.notes) for s in slides]



def read_deck(path: Path) -> Deck:
    """The deck at ``path``, parsed once per version of the file however many parts of a session need it
    (the notes, the vocabulary, the CLI's check before the UI); SlidesError in one line."""
    return deck_version(*version(path))


def version(path: Path) -> tuple[Path, int, int]:
    """What tells one version of a file from another: its resolved path, mtime and size."""
    path = Path(path).expanduser()
    try:
        stat = path.stat()
    except OSError:
        return path, 0, 0  # load_slides says what is wrong with it
    return path.resolve(), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def deck_version(path: Path, mtime_ns: int, size: int) -> Deck:
    """The deck of one version of a file (see ``version``), parsed once."""
    return load_slides(path)
