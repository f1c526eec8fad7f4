"""How words sound, for matching near-misses: Double Metaphone keys for English, tone-less pinyin for
Chinese. doublemetaphone, pypinyin and rapidfuzz are imported on first use (pypinyin loads its
dictionaries, ~0.3 s), so importing live.vocab stays cheap.
"""

from __future__ import annotations

import re
from functools import lru_cache

from live.errors import ConfigError
from live.text import HAN

HINT = "the vocabulary's sound-alike matching needs {package}: pip install {package} (a dependency of live-captions)"

# Pinyin initials, longest first so "zh" is found before "z".
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r",
             "z", "c", "s", "y", "w")
# What Mandarin speakers (and recognizers) confuse, as input methods' fuzzy pinyin does: each side maps
# to one canonical form.
_FUZZY_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "l": "n", "h": "f", "r": "n"}
_FUZZY_FINALS = {"ang": "an", "eng": "en", "ing": "in", "iang": "ian", "uang": "uan"}
_HAN = re.compile(f"[{HAN}]")


def is_han(ch: str) -> bool:
    return bool(_HAN.fullmatch(ch))


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


def _import(package: str):
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ConfigError(HINT.format(package=package.split(".")[0])) from error


# --- English ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _metaphone():
    return _import("doublemetaphone").doublemetaphone


@lru_cache(maxsize=65536)
def word_codes(word: str) -> tuple[str, str]:
    """Double Metaphone's (primary, alternate) codes of one word; the alternate is the primary when none."""
    primary, alternate = _metaphone()(word.casefold())
    return primary, alternate or primary


def sound_keys(words: tuple[str, ...]) -> frozenset[str]:
    """The ways a run of words can sound: word codes strung together (primary, alternate) and the
    codes of the run written as one word ("heavy side" sounds like "heaviside" either way)."""
    codes = [word_codes(w) for w in words]
    keys = {"".join(c[0] for c in codes), "".join(c[1] for c in codes)}
    if len(words) > 1:
        keys.update(word_codes("".join(words)))
    keys.discard("")
    return frozenset(keys)


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length (1.0: the same, 0.0: nothing alike)."""
    if not a or not b:
        return 0.0
    return _levenshtein().normalized_similarity(a, b)


def spelling_similarity(a: str, b: str) -> float:
    """How alike two spellings are, letters only, ignoring case (Indel ratio, 0..1)."""
    return _indel().normalized_similarity(_letters(a), _letters(b))


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@lru_cache(maxsize=1)
def _levenshtein():
    return _import("rapidfuzz.distance.Levenshtein")


@lru_cache(maxsize=1)
def _indel():
    return _import("rapidfuzz.distance.Indel")


# --- Chinese ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _pypinyin():
    return _import("pypinyin")


@lru_cache(maxsize=65536)
def readings(ch: str) -> frozenset[str]:
    """Every tone-less pinyin reading of one Han character (polyphones have several)."""
    pypinyin = _pypinyin()
    found = pypinyin.pinyin(ch, style=pypinyin.Style.NORMAL, heteronym=True, errors="ignore")
    return frozenset(r.replace("ü", "v") for r in (found[0] if found else ()) if r)


def fuzzy(syllable: str) -> str:
    """A syllable in its fuzzy-pinyin canonical form (zh→z, l→n, ang→an, …)."""
    initial = next((i for i in _INITIALS if syllable.startswith(i) and len(syllable) > len(i)), "")
    final = syllable[len(initial):]
    return _FUZZY_INITIALS.get(initial, initial) + _FUZZY_FINALS.get(final, final)


def syllable_score(term_ch: str, text_ch: str, fuzzy_score: float) -> float:
    """1.0 for the same character or a shared reading, ``fuzzy_score`` for a fuzzy-pinyin match, else 0."""
    if term_ch == text_ch:
        return 1.0
    a, b = readings(term_ch), readings(text_ch)
    if a & b:
        return 1.0
    if fuzzy_score > 0 and {fuzzy(s) for s in a} & {fuzzy(s) for s in b}:
        return fuzzy_score
    return 0.0
