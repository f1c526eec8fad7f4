"""Keep only what a bias gained: a biased decode's changes that write a vocabulary term in full.

A bias helps where a term is said and harms elsewhere: on tiny.en any prompt turns "one, two, three"
into "1, 2, 3", "had he married" becomes "Hadamard" when "Hadamard product" is in the list, and noisy
speech comes out differently. So the same audio is decoded twice, without and with the bias, the two
texts are aligned word by word, and each stretch where they differ is taken from the biased text only
when a whole term (as spelled in the vocabulary, ignoring case, hyphens and a possessive 's) overlaps
it and at most two other words are new there; everything else, spacing and punctuation included, is
the plain decode's. A fragment of a term ("Hadamard" for "Hadamard product") is not a gain, nor is a
stretch of invented text that happens to contain a term. Where the biased stretch rewrote more than
the term, the term replaces only the plain words that sound like it (half-way alike at least).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from live.text import HAN
from live.vocab import phonetic
from live.vocab.terms import term_key

_TOKEN = re.compile(rf"[{HAN}]|[^\W_]+(?:['’][^\W_]+)*")
_LIST_ITEM = re.compile(r"[^,;，；、\n]+")
SLACK = 2  # words of a biased stretch that may be neither the term nor the plain text
RESCUE_SCORE = 0.5  # how much plain words must sound like a term the bias wrote to make room for it


def bias_terms(*bias: str | None) -> list[str]:
    """The terms of comma-separated bias lists (what ``whisper_bias`` writes), trailing periods gone."""
    return [item.strip().rstrip(".。").strip() for text in bias if text for item in _LIST_ITEM.findall(text)
            if item.strip().rstrip(".。").strip()]


def keep_term_gains(plain: str, biased: str, terms: Iterable[str]) -> str:
    """``plain`` with the stretches where ``biased`` writes a whole term of ``terms`` that plain does not."""
    if plain == biased:
        return plain
    patterns = {tuple(_norm(t) for t in _TOKEN.findall(term_key(term))) for term in terms}
    patterns.discard(())
    p_tokens, b_tokens = list(_TOKEN.finditer(plain)), list(_TOKEN.finditer(biased))
    p_norm, b_norm = [_norm(m.group(0)) for m in p_tokens], [_norm(m.group(0)) for m in b_tokens]
    b_terms = _occurrences(b_norm, patterns)
    out = [plain[:p_tokens[0].start()] if p_tokens else ""]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=p_norm, b=b_norm, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(_pieces(plain, p_tokens, i1, i2))
            continue
        if _gain(i2 - i1, j1, j2, b_terms):
            out.append(_pieces(biased, b_tokens, j1, j2))
            continue
        # The bias rewrote more than the term ("measure outliers with the Malala-Bist" -> "Mahalanobis"):
        # put each term it wrote in place of the plain words that sound most like it, keep the rest.
        cursor = i1
        for s, e in sorted((max(s, j1), min(e, j2)) for s, e in b_terms if s < j2 and e > j1):
            span = _sounds_like(p_tokens, cursor, i2, [m.group(0) for m in b_tokens[s:e]])
            if span is not None:
                out += [_pieces(plain, p_tokens, cursor, span[0]), _pieces(biased, b_tokens, s, e)]
                cursor = span[1]
        out.append(_pieces(plain, p_tokens, cursor, i2))
    return "".join(out)


def _sounds_like(tokens: list[re.Match], start: int, stop: int, term: list[str]) -> tuple[int, int] | None:
    """The run of ``tokens[start:stop]`` (up to two words longer than ``term``) that sounds most like
    it, if it does enough (Double Metaphone keys, as the corrector compares; Latin script only)."""
    if not all(w.isascii() for w in term):
        return None
    keys = phonetic.sound_keys(tuple(term))
    best, where = 0.0, None
    for a in range(start, stop):
        for b in range(a + 1, min(stop, a + len(term) + 2) + 1):
            words = tuple(m.group(0) for m in tokens[a:b])
            sound = max((phonetic.similarity(x, y) for x in phonetic.sound_keys(words) for y in keys), default=0.0)
            score = 0.6 * sound + 0.4 * phonetic.spelling_similarity(" ".join(words), " ".join(term))
            if sound >= RESCUE_SCORE and score > best:
                best, where = score, (a, b)
    return where if best >= RESCUE_SCORE else None


def _gain(plain_words: int, j1: int, j2: int, b_terms: list[tuple[int, int]]) -> bool:
    """Whether the biased stretch ``j1:j2`` (for ``plain_words`` plain ones) is a term the bias wrote:
    a term overlaps it (or spans it, for a deletion), and little else is new there. A biased stretch
    that is mostly other words is the bias going astray (a window of invented text that ends in a term),
    and so is one that swallows many plain words."""
    if j1 == j2:
        return any(s < j1 < e for s, e in b_terms)
    covered = {k for s, e in b_terms if s < j2 and e > j1 for k in range(max(s, j1), min(e, j2))}
    return bool(covered) and (j2 - j1) - len(covered) <= SLACK and plain_words <= (j2 - j1) + SLACK


def _norm(token: str) -> str:
    token = token.casefold()
    return token[:-2] if len(token) > 2 and token[-2] in "'’" and token[-1] == "s" else token


def _occurrences(tokens: list[str], patterns: set[tuple[str, ...]]) -> list[tuple[int, int]]:
    """(start, end) token ranges where a term is written in full."""
    found = []
    for pattern in patterns:
        n = len(pattern)
        found += [(i, i + n) for i in range(len(tokens) - n + 1) if tuple(tokens[i:i + n]) == pattern]
    return found


def _pieces(text: str, tokens: list[re.Match], start: int, end: int) -> str:
    """Tokens ``start:end`` of ``text`` with what follows each up to the next token (spaces, punctuation)."""
    if start >= end:
        return ""
    stop = tokens[end].start() if end < len(tokens) else len(text)
    return text[tokens[start].start():stop]
