"""The slides as part of a notes request: their text fitted to a budget, with instructions."""

from __future__ import annotations

import functools
from pathlib import Path

from live.slides.deck import Deck
from live.slides.read import deck_version, version


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


def slides_context(path: Path | None) -> str | None:
    """The deck at ``path`` as a block for the notes' system prompt (SlidesError in one line if it cannot
    be read); None without slides. The CLI checks the deck before the UI, the notes read it after: it is
    parsed once (``read_deck``) and fitted once per version of the file."""
    return None if path is None else _context(*version(path))


@functools.lru_cache(maxsize=4)
def _context(path: Path, mtime_ns: int, size: int) -> str:
    return slides_prompt_block(deck_version(path, mtime_ns, size))
