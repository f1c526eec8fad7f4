"""The course's vocabulary: terms with weights, from a ``--vocab`` file and from the slides.

A vocabulary file is UTF-8 text, one term a line, optionally followed by a weight after a tab or a
final comma (``Kullback-Leibler divergence<TAB>3``, ``Laplacian, 2``); a line that starts with ``#`` is
a comment, and so is the rest of a line after `` #``. Terms are matched ignoring case, hyphens and
spacing, so ``Kullback-Leibler`` and ``kullback leibler`` are one term (the first spelling is kept, with
the larger weight). More weight means more relevant: those terms go first into Whisper's prompt and
win ties in the corrector.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from live.errors import ConfigError

DEFAULT_WEIGHT = 1.0
MAX_TERM_CHARS = 80  # longer is a sentence or a paste gone wrong, not a term
FORMAT_HINT = "one term a line, optionally a tab or comma and a weight (e.g. 'Laplacian, 2'); # starts a comment"

_WEIGHT = re.compile(r"^(?P<term>.*?)(?:\t+|\s*,\s*)(?P<weight>[-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*$")
_COMMENT = re.compile(r"(?:^|\s)#.*$")


class VocabError(ConfigError):
    """A --vocab file that is missing, empty, not UTF-8 text, or has a bad line."""


def term_key(text: str) -> str:
    """What makes two spellings one term: case, hyphens and spacing ignored."""
    return " ".join(re.sub(r"[-‐‑–_/]+", " ", text.casefold()).split())


@dataclass(frozen=True)
class Term:
    """One term: its spelling (what corrections write) and its weight (more is more relevant)."""

    text: str
    weight: float = DEFAULT_WEIGHT

    @property
    def key(self) -> str:
        return term_key(self.text)


class Vocabulary:
    """Terms in order of relevance: heavier first, then in the order they were given."""

    def __init__(self, terms: Iterable[Term] = (), source: str = "") -> None:
        merged: dict[str, Term] = {}
        for term in terms:
            text = " ".join(term.text.split())
            if not term.key:
                continue
            if not (math.isfinite(term.weight) and term.weight > 0):
                raise ValueError(f"term {text!r}: weight must be a positive number (got {term.weight})")
            seen = merged.get(term.key)
            weight = max(seen.weight, term.weight) if seen else term.weight
            merged[term.key] = Term(seen.text if seen else text, weight)
        order = {key: i for i, key in enumerate(merged)}
        self.terms: tuple[Term, ...] = tuple(sorted(merged.values(), key=lambda t: (-t.weight, order[t.key])))
        self.source = source

    @classmethod
    def from_terms(cls, terms: Iterable[str | tuple[str, float] | Term], weight: float = DEFAULT_WEIGHT,
                   source: str = "") -> Vocabulary:
        """From plain strings (e.g. ``Deck.terms()``, already most relevant first), (text, weight) pairs or Terms."""
        made: list[Term] = []
        for item in terms:
            if isinstance(item, Term):
                made.append(item)
            elif isinstance(item, str):
                made.append(Term(item, weight))
            else:
                made.append(Term(item[0], float(item[1])))
        return cls(made, source)

    def merged_with(self, other: Vocabulary) -> Vocabulary:
        """Both vocabularies; a term in both keeps this one's spelling and weight (the file wins over
        the slides: ``load_vocab(path).merged_with(Vocabulary.from_terms(deck.terms()))``)."""
        mine = {t.key for t in self.terms}
        source = " + ".join(s for s in (self.source, other.source) if s)
        return Vocabulary(list(self.terms) + [t for t in other.terms if t.key not in mine], source)

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and any(t.key == term_key(text) for t in self.terms)

    def __repr__(self) -> str:
        shown = ", ".join(t.text for t in self.terms[:5])
        more = f", … {len(self.terms) - 5} more" if len(self.terms) > 5 else ""
        return f"Vocabulary({shown}{more})"


def load_vocab(path: str | Path) -> Vocabulary:
    """Read a vocabulary file; VocabError (one line saying what to do) when that is impossible."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise VocabError(f"{path} is a folder; --vocab takes one text file ({FORMAT_HINT})")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VocabError(f"{path}: no such file; check the path given to --vocab") from None
    except OSError as error:
        raise VocabError(f"cannot read {path} ({error.strerror or error}); check the path given to --vocab") from None
    if not data.strip():
        raise VocabError(f"{path} is empty; write {FORMAT_HINT}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise VocabError(f"{path} is not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8") from None
    if "\x00" in text:
        raise VocabError(f"{path} is not a text file; --vocab takes {FORMAT_HINT}")
    terms = [term for number, line in enumerate(text.splitlines(), 1)
             if (term := parse_line(line, f"{path} line {number}")) is not None]
    if not terms:
        raise VocabError(f"no terms in {path} (only comments or blank lines); write {FORMAT_HINT}")
    return Vocabulary(terms, source=str(path))


def parse_line(line: str, where: str = "line") -> Term | None:
    """One line of a vocabulary file: a Term, or None for a blank or comment line."""
    line = _COMMENT.sub("", line).strip()
    if not line:
        return None
    text, weight = line, DEFAULT_WEIGHT
    if match := _WEIGHT.match(line):
        text, weight = match["term"].strip(), float(match["weight"])
        if not text:
            raise VocabError(f"{where}: a weight without a term; write {FORMAT_HINT}")
        if weight <= 0:
            raise VocabError(f"{where}: weight {match['weight']} must be above 0 (drop the line to leave "
                             f"{text!r} out)")
    elif "\t" in line:
        raise VocabError(f"{where}: {line.split(chr(9))[-1].strip()!r} after the tab is not a number; "
                         f"write {FORMAT_HINT}")
    text = " ".join(text.split())
    if len(text) > MAX_TERM_CHARS:
        raise VocabError(f"{where}: {len(text)} characters is too long for one term (at most "
                         f"{MAX_TERM_CHARS}); write {FORMAT_HINT}")
    if not term_key(text):
        raise VocabError(f"{where}: {text!r} has no letters; write {FORMAT_HINT}")
    return Term(text, weight)
