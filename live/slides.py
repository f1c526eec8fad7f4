"""Course slides as context for the notes: the text of a PDF or PowerPoint deck, slide by slide.

The notes model gets each slide's number, title and text (so it can say "slide 7" where a topic was
taught) and a list of the deck's technical terms (so it can spell what speech recognition misheard
the way the slides do). pypdf and python-pptx are pure Python and imported only when a deck is read.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from live.errors import InputError

log = logging.getLogger("live.slides")

FORMATS = (".pdf", ".pptx")
FORMATS_HINT = "give a PDF or a PowerPoint .pptx file (export other formats to PDF first)"
# A title is set larger than the body; below this ratio the first line is taken instead.
TITLE_SIZE_RATIO = 1.15


class SlidesError(InputError):
    """A --slides deck that is missing, of an unsupported format, encrypted, empty or damaged."""


@dataclass(frozen=True)
class Slide:
    """One slide: its number in the deck (from 1), its title, its body text and the speaker notes."""

    number: int
    title: str
    text: str
    notes: str = ""


@dataclass
class Deck:
    """A slide deck's text."""

    path: Path
    slides: list[Slide] = field(default_factory=list)

    def as_context(self, max_chars: int = 12_000) -> str:
        """The slides as ``Slide N: title`` blocks, at most ``max_chars`` long.

        Every slide keeps its heading while room allows; when the whole text does not fit, the
        bodies are shortened evenly (short slides keep all of theirs, long ones give up their tails).
        """
        heads = [f"Slide {s.number}: {s.title or '(untitled)'}" for s in self.slides]
        bodies = [_join(s.text, f"Speaker notes: {s.notes}" if s.notes else "") for s in self.slides]
        sep = "\n\n"
        fixed = sum(len(h) for h in heads) + len(sep) * max(0, len(heads) - 1) + len(heads)  # + "\n" each
        if fixed > max_chars:
            return _headings_only(heads, max_chars)
        limits = _fair_shares([len(b) for b in bodies], max_chars - fixed)
        blocks = []
        for head, body, limit in zip(heads, bodies, limits):
            body = _shorten(body, limit)
            blocks.append(f"{head}\n{body}" if body else head)
        return sep.join(blocks)

    def terms(self, limit: int = 40) -> list[str]:
        """Technical terms of the deck, most widespread first (see `find_terms`)."""
        return find_terms([_join(s.title, s.text, s.notes) for s in self.slides], limit)


# --- reading decks --------------------------------------------------------------------------------


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


# --- context for the notes ------------------------------------------------------------------------


def _join(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def _fair_shares(sizes: list[int], room: int) -> list[int]:
    """Split ``room`` characters among texts of ``sizes``: each gets at most its size, the rest evenly."""
    shares = [0] * len(sizes)
    left = sorted(range(len(sizes)), key=lambda i: sizes[i])
    room = max(0, room)
    while left:
        each = room // len(left)
        i = left[0]
        if sizes[i] <= each:
            shares[i] = sizes[i]
            room -= sizes[i]
            left.pop(0)
        else:
            for j in left:
                shares[j] = each
            break
    return shares


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit < 2:
        return ""
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _headings_only(heads: list[str], max_chars: int) -> str:
    out: list[str] = []
    used = 0
    for i, head in enumerate(heads):
        more = f"… ({len(heads) - i} more slides)"
        if used + len(head) + 1 + len(more) > max_chars and i < len(heads) - 1:
            out.append(more)
            break
        if used + len(head) > max_chars:
            break
        out.append(head)
        used += len(head) + 1
    return "\n".join(out)[:max_chars]


def slides_prompt_block(deck: Deck, max_chars: int = 12_000) -> str:
    """The part of a notes request that carries the slides, ``max_chars`` at most.

    It goes after the notes' system prompt: it tells the model to cite slide numbers and to spell
    terms as the slides do, then lists the terms and the slides' text.
    """
    terms = deck.terms(40)
    head = (
        "# The lecture's slides\n\n"
        f"The lecturer taught from a deck of {len(deck.slides)} slides, whose text follows slide by slide. "
        'Where a topic in the notes was taught from a slide, cite it as "(slide N)". Spell technical terms '
        "as the slides spell them, and use the slides to correct terms the speech recognition misheard. "
        "Do not copy material from the slides that the lecture did not cover, except under "
        '"Beyond the lecture".\n\n'
    )
    if terms:
        head += "Terms used on the slides: " + ", ".join(terms) + "\n\n"
    opening, closing = "<slides>\n", "\n</slides>"
    room = max_chars - len(head) - len(opening) - len(closing)
    if room < 200 and terms:  # a small budget: the text of the slides matters more than the term list
        head = head.split("Terms used on the slides:")[0]
        room = max_chars - len(head) - len(opening) - len(closing)
    if room <= 0:
        return head[:max_chars]
    return head + opening + deck.as_context(room) + closing


# --- terms ----------------------------------------------------------------------------------------

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each either else etc few for from further
had has have having he her here hers him his how i if in into is it its itself just let like may me
might more most much must my no nor not now of off on once one only or other our ours out over own per
same she should so some such than that the their theirs them then there these they this those through
thus to too two under until up upon us use used uses using very via was we were what when where which
while who whom why will with would yes yet you your yours
""".split())
# Words that open slides and sentences in capitals without being terms.
GENERIC = frozenset("""
agenda outline overview introduction summary conclusion conclusions questions question example examples
exercise exercises today lecture chapter part section slide slides recap review motivation goal goals
definition definitions theorem lemma proof note notes remark figure table appendix references thanks
thank key idea ideas step steps problem problems solution solutions background results result method
methods approach next first second third finally however therefore hence consider suppose recall
""".split())

_WORD = r"[A-Za-z][A-Za-z0-9]*(?:[-'.][A-Za-z0-9]+)*"
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9&]{1,7}s?\b")
_CAMEL = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z0-9]*\b")
_DIGITS = re.compile(r"\b(?:[A-Za-z]+[-.]?\d+[A-Za-z0-9]*|\d+[A-Za-z]+[A-Za-z0-9]*)(?:[-.][A-Za-z0-9]+)*\b")
_ORDINAL = re.compile(r"\d+(st|nd|rd|th|s)", re.IGNORECASE)
_TOKEN = re.compile(_WORD)


def find_terms(texts: list[str], limit: int = 40) -> list[str]:
    """Technical terms in ``texts`` (one string per slide), ranked by how many slides use them.

    Simple heuristics: acronyms (CNN, LSTMs), camel-case names (PyTorch), words with digits
    (ResNet50, GPT-4, IPv6), capitalized words inside a sentence (Fourier, Markov chain) and
    their runs (Hidden Markov Model), and two- or three-word phrases of ordinary words that
    recur on several slides (gradient descent, learning rate).
    """
    slides_with: Counter[str] = Counter()
    total: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    spelled: dict[str, Counter[str]] = {}
    order = 0
    for text in texts:
        found = _terms_in(text)
        for term in found:
            key = term.lower()
            spelled.setdefault(key, Counter())[term] += 1
            total[key] += 1
            if key not in first_seen:
                first_seen[key] = order
                order += 1
        for key in {t.lower() for t in found}:
            slides_with[key] += 1
    keys = []
    for key in total:
        words = key.split()
        if len(words) > 1 and not _marked(spelled[key]) and slides_with[key] < 2:
            continue  # plain-word phrases count only when they recur across slides
        keys.append(key)
    keys.sort(key=lambda k: (-slides_with[k], -total[k], first_seen[k]))
    return [spelled[k].most_common(1)[0][0] for k in keys[:limit]]


def _marked(spellings: Counter[str]) -> bool:
    """Whether a phrase is a term by its form (capitals or digits), not only by recurring."""
    return any(any(ch.isupper() or ch.isdigit() for ch in s) for s in spellings)


def _terms_in(text: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        shouting = line.isupper() and len(line) > 12  # an ALL-CAPS heading is not a row of acronyms
        here: list[str] = []
        if not shouting:
            here += [m.group(0) for m in _ACRONYM.finditer(line) if _acronym(m.group(0))]
        here += [m.group(0) for m in _CAMEL.finditer(line)]
        here += [m.group(0) for m in _DIGITS.finditer(line) if not _ORDINAL.fullmatch(m.group(0))]
        for sentence in re.split(r"(?<=[.!?:;])\s+|\s+[-–•]\s+|\s*\|\s*", line):
            here += _capital_runs(sentence)
            here += _phrases(sentence)
        found += dict.fromkeys(here)  # a word two patterns match counts once
    return found


def _acronym(word: str) -> bool:
    core = word[:-1] if word.endswith("s") and word[:-1].isupper() else word
    return len(core) >= 2 and core.lower() not in STOPWORDS and core.lower() not in GENERIC


def _capital_runs(sentence: str) -> list[str]:
    """Capitalized words and their runs, except the word that opens the sentence."""
    tokens = _TOKEN.findall(sentence)
    runs: list[str] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        capital = _capitalized(token)
        if capital and (i > 0 or current) and token.lower() not in GENERIC:
            current.append(token)
            continue
        if capital and i == 0 and len(tokens) > 1 and _capitalized(tokens[1]):
            current.append(token)  # "Fourier Transform ..." at the start: the run makes it a term
            continue
        if current:
            runs.append(" ".join(current))
            current = []
    if current:
        runs.append(" ".join(current))
    return [r for r in runs if len(r) > 2]


def _capitalized(token: str) -> bool:
    return token[0].isupper() and not token.isupper() and token.lower() not in STOPWORDS


def _phrases(sentence: str) -> list[str]:
    """Two- and three-word runs of lower-case content words (candidate noun phrases)."""
    words = _TOKEN.findall(sentence)
    if words and words[0][:1].isupper() and words[0][1:].islower():
        words[0] = words[0].lower()  # the capital that opens a sentence says nothing
    out: list[str] = []
    for n in (2, 3):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            if all(w.islower() and len(w) > 2 and w not in STOPWORDS and w not in GENERIC for w in gram):
                out.append(" ".join(gram))
    return out
