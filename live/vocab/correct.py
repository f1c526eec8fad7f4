"""Correct a final's near-misses of the course's terms, for engines that cannot be biased (SenseVoice).

The policy: replace a span of the text only when it sounds and looks like one term closely, and touch
nothing else. English is compared by sound, Double Metaphone keys of word runs as long as the term
(one word more or fewer, so "heavy side" can be "Heaviside"), and by spelling; a span that opens or
closes on a function word ("a", "the", "of") is never taken, so no article is swallowed into a term.
Chinese is compared by tone-less pinyin, character for character, over spans as long as the term; a
span must share a character with the term, and short terms need every syllable to agree exactly.
Spans never cross punctuation. Where candidates overlap, the closest wins (then the heavier term).
A term already spelled right (ignoring case and hyphens; its plural too) is left as it is and blocks
corrections that overlap it. Every replacement is reported, so the caller can mark it in the transcript.

    corrector = Corrector(load_vocab("terms.txt"))
    fixed = corrector.correct("a heavy side step function", "en")
    fixed.text         # 'a Heaviside step function'
    fixed.corrections  # (Correction(original='heavy side', text='Heaviside', start_char=2, ...),)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from live.errors import ConfigError
from live.text import HAN
from live.vocab import phonetic
from live.vocab.terms import Term, Vocabulary, term_key

log = logging.getLogger("live.vocab")

# Words a term does not start or end with unless it is spelled that way.
FUNCTION_WORDS = frozenset("""
a an the of to in on at by for from with and or but as is are was were be been it its this that these
those we you he she they i our your his her their my me us them not no so if then than there here what
which who when where how do does did have has had will would can could should may might must shall
""".split())
HAN_LANGUAGES = frozenset({"zh", "yue", "auto"})  # and None: where Chinese spans are looked for

# Latin-script words (a possessive 's stays outside them), in runs broken at punctuation; Han text is
# matched apart, by pinyin.
_LETTER = "0-9A-Za-z\u00c0-\u024f"
_WORD = re.compile(f"[{_LETTER}]+(?:['’][{_LETTER}]+)*")
_BREAK = re.compile(r"[^\w\s'’\-‐‑]|_")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)


@dataclass
class CorrectorOptions:
    """How close a span must be to a term to be replaced by it.

    Attributes:
        min_score: English: the least score, ``sound_weight`` × sound + the rest × spelling similarity.
        min_sound: English: the least sound similarity (Levenshtein on Double Metaphone keys, 0..1).
        min_spelling_one_word: English: the least spelling similarity of a one-word span, which is more
            often a real word than a misheard term ("present" sounds much like "ResNet").
        sound_weight: English: the share of sound in the score.
        min_key: English terms whose sound key is shorter than this are never corrected: too many
            ordinary words sound like a two-consonant key ("Fourier" is "FR", like "for").
        extra_words: a span may have this many words more or fewer than the term.
        min_han: Chinese terms with fewer characters than this are never corrected.
        fuzzy_pinyin: the score of a syllable that matches only as fuzzy pinyin (zh/z, l/n, an/ang, …);
            0 turns fuzzy matching off.
        min_score_zh: Chinese: the least mean syllable score (1 a syllable that reads the same).
        exact_below: Chinese terms with fewer characters than this need every syllable to read the same.
        min_shared: Chinese: characters a span must share with the term.
    """

    min_score: float = 0.8
    min_sound: float = 0.8
    min_spelling_one_word: float = 0.8
    sound_weight: float = 0.6
    min_key: int = 3
    extra_words: int = 1
    min_han: int = 2
    fuzzy_pinyin: float = 0.8
    min_score_zh: float = 0.9
    exact_below: int = 3
    min_shared: int = 1

    def __post_init__(self) -> None:
        def bad(what: str) -> ConfigError:
            return ConfigError(f"vocabulary corrector setting {what}")

        for name in ("min_score", "min_sound", "min_spelling_one_word", "sound_weight", "min_score_zh"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise bad(f"{name} must be in (0, 1] (got {getattr(self, name)})")
        if not 0.0 <= self.fuzzy_pinyin < 1.0:
            raise bad(f"fuzzy_pinyin must be in [0, 1) (got {self.fuzzy_pinyin})")
        if not 1 <= self.min_key <= 10:
            raise bad(f"min_key must be between 1 and 10 (got {self.min_key})")
        if not 0 <= self.extra_words <= 3:
            raise bad(f"extra_words must be between 0 and 3 (got {self.extra_words})")
        if not 1 <= self.min_han <= 10 or not 1 <= self.exact_below <= 10:
            raise bad(f"min_han and exact_below must be between 1 and 10 (got {self.min_han}, {self.exact_below})")
        if not 0 <= self.min_shared < self.min_han:
            raise bad(f"min_shared must be at least 0 and below min_han (got {self.min_shared})")


@dataclass(frozen=True)
class Correction:
    """One replacement.

    Attributes:
        original: the text that was replaced ("heavy side").
        text: the term written instead ("Heaviside").
        start_char: where ``text`` starts in the corrected text.
        original_start_char: where ``original`` started in the text given.
        score: how close they were (0..1; 1 sounds the same).
    """

    original: str
    text: str
    start_char: int
    original_start_char: int
    score: float

    def to_json(self) -> dict:
        return {"from": self.original, "to": self.text, "start_char": self.start_char,
                "original_start_char": self.original_start_char, "score": round(self.score, 3)}


@dataclass(frozen=True)
class Corrected:
    """A final after correction: its text and what was replaced (empty when nothing was)."""

    text: str
    corrections: tuple[Correction, ...] = ()


@dataclass(frozen=True)
class _Latin:
    term: Term
    words: tuple[str, ...]
    keys: frozenset[str]


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    term: Term
    score: float  # above 1.0: the term is already there (blocks, replaces nothing)


class Corrector:
    """Replaces near-misses of a vocabulary's terms in text; a plain object, no state between calls."""

    def __init__(self, vocab: Vocabulary, options: CorrectorOptions | None = None) -> None:
        self.vocab = vocab
        self.options = options or CorrectorOptions()
        self._latin: list[_Latin] = []
        self._han: list[Term] = []
        for term in vocab:
            if phonetic.has_han(term.text):
                if all(phonetic.is_han(ch) for ch in term.text.replace(" ", "")):
                    self._han.append(term)  # mixed scripts ("K均值") are left alone
                continue
            words = tuple(m.group(0) for m in _WORD.finditer(term.text))
            keys = _sound_keys(words)
            if words and max(map(len, keys), default=0) >= self.options.min_key:
                self._latin.append(_Latin(term, words, keys))

    def correct(self, text: str, language: str | None = None) -> Corrected:
        """``text`` with near-misses replaced; ``language`` "zh"/"yue"/"auto"/None also looks at Chinese."""
        if not text or not (self._latin or self._han):
            return Corrected(text)
        found: list[_Candidate] = []
        for run in _runs(text):
            found += self._latin_candidates(text, run)
        if self._han and (language is None or language in HAN_LANGUAGES):
            for match in re.finditer(f"[{HAN}]+", text):
                found += self._han_candidates(match.group(0), match.start())
        return _apply(text, _select(found))

    # --- English -------------------------------------------------------------------------------------

    def _latin_candidates(self, text: str, run: list[tuple[int, int]]) -> list[_Candidate]:
        opts = self.options
        words = [text[s:e] for s, e in run]
        out: list[_Candidate] = []
        for entry in self._latin:
            k = len(entry.words)
            first, last = entry.words[0].casefold(), entry.words[-1].casefold()
            for n in range(max(1, k - opts.extra_words), k + opts.extra_words + 1):
                for i in range(len(run) - n + 1):
                    span = tuple(words[i:i + n])
                    if (span[0].casefold() in FUNCTION_WORDS and span[0].casefold() != first) or \
                            (span[-1].casefold() in FUNCTION_WORDS and span[-1].casefold() != last):
                        continue
                    start, end = run[i][0], run[i + n - 1][1]
                    key = term_key(" ".join(span))
                    if key in (entry.term.key, entry.term.key + "s", entry.term.key + "es"):
                        out.append(_Candidate(start, end, entry.term, 2.0))  # right already (or a plural)
                        continue
                    sound = max((phonetic.similarity(a, b) for a in _sound_keys(span) for b in entry.keys), default=0.0)
                    if sound < opts.min_sound - 1e-9:
                        continue
                    spelling = phonetic.spelling_similarity(" ".join(span), entry.term.text)
                    if n == 1 and spelling < opts.min_spelling_one_word:
                        continue
                    score = opts.sound_weight * sound + (1 - opts.sound_weight) * spelling
                    if score >= opts.min_score - 1e-9:
                        out.append(_Candidate(start, end, entry.term, score))
        return out

    # --- Chinese -------------------------------------------------------------------------------------

    def _han_candidates(self, run: str, offset: int) -> list[_Candidate]:
        opts = self.options
        out: list[_Candidate] = []
        for term in self._han:
            chars = term.text.replace(" ", "")
            m = len(chars)
            if m < opts.min_han:
                continue
            fuzzy = opts.fuzzy_pinyin if m >= opts.exact_below else 0.0
            for i in range(len(run) - m + 1):
                span = run[i:i + m]
                if span == chars:
                    out.append(_Candidate(offset + i, offset + i + m, term, 2.0))
                    continue
                if sum(a == b for a, b in zip(chars, span)) < opts.min_shared:
                    continue
                scores = [phonetic.syllable_score(a, b, fuzzy) for a, b in zip(chars, span)]
                score = sum(scores) / m
                if min(scores) > 0 and score >= opts.min_score_zh:
                    out.append(_Candidate(offset + i, offset + i + m, term, score))
        return out


@lru_cache(maxsize=8192)
def _sound_keys(words: tuple[str, ...]) -> frozenset[str]:
    return phonetic.sound_keys(words)


def _runs(text: str) -> list[list[tuple[int, int]]]:
    """Runs of Latin-script words between punctuation, as (start, end) of each word."""
    runs: list[list[tuple[int, int]]] = []
    position = 0
    for piece in _BREAK.split(text):
        words = []
        for match in _WORD.finditer(piece):
            end = match.end() - (2 if _POSSESSIVE.search(match.group(0)) and len(match.group(0)) > 2 else 0)
            words.append((position + match.start(), position + end))
        if words:
            runs.append(words)
        position += len(piece) + 1  # the break character
    return runs


def _select(found: list[_Candidate]) -> list[_Candidate]:
    """Non-overlapping candidates, the closest first (then heavier terms, then longer spans).

    A term already spelled right blocks what overlaps it, except a longer term that contains it whole
    ("卷机神经网络" is still 卷积神经网络 though 神经网络 is a term too)."""
    taken: list[_Candidate] = []
    for cand in sorted(found, key=lambda c: (-c.score, -c.term.weight, c.start - c.end, c.start)):
        if all(cand.end <= t.start or cand.start >= t.end
               or (t.score > 1.0 >= cand.score and cand.start <= t.start and t.end <= cand.end) for t in taken):
            taken.append(cand)
    return sorted((c for c in taken if c.score <= 1.0), key=lambda c: c.start)


def _apply(text: str, chosen: list[_Candidate]) -> Corrected:
    parts: list[str] = []
    corrections: list[Correction] = []
    position = shift = 0
    for cand in chosen:
        original = text[cand.start:cand.end]
        written = cand.term.text
        if original[:1].isupper() and written[:1].islower():
            written = written[0].upper() + written[1:]  # it opened a sentence
        parts += [text[position:cand.start], written]
        corrections.append(Correction(original, written, cand.start + shift, cand.start, cand.score))
        shift += len(written) - len(original)
        position = cand.end
        log.debug("corrected %r -> %r (%.2f)", original, written, cand.score)
    parts.append(text[position:])
    return Corrected("".join(parts), tuple(corrections))
