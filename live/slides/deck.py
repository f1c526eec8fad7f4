"""A slide deck's text as the rest of live uses it: its slides, its terms, and its text fitted to a budget.

Every slide keeps its number and title (so the notes can say "slide 7" where a topic was taught) and as
much of each body as the budget allows, shared out evenly among the slides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from live.slides.terms import find_terms


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
        """The slides as ``Slide N: title`` blocks, at most ``max_chars`` long (see `fit_slides_text`)."""
        return fit_slides_text(self.slides, max_chars)

    def terms(self, limit: int = 40) -> list[str]:
        """Technical terms of the deck, most widespread first (see `find_terms`)."""
        return find_terms([join_lines(s.title, s.text, s.notes) for s in self.slides], limit)


def join_lines(*parts: str) -> str:
    """The non-empty ``parts``, one per line."""
    return "\n".join(p for p in parts if p)


def fit_slides_text(slides: list[Slide], max_chars: int) -> str:
    """The slides as ``Slide N: title`` blocks, at most ``max_chars`` long.

    Every slide keeps its heading while room allows; when the whole text does not fit, the
    bodies are shortened evenly (short slides keep all of theirs, long ones give up their tails).
    """
    heads = [f"Slide {s.number}: {s.title or '(untitled)'}" for s in slides]
    bodies = [join_lines(s.text, f"Speaker notes: {s.notes}" if s.notes else "") for s in slides]
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
