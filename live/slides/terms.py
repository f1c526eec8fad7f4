"""Technical terms of a deck, so the notes spell what speech recognition misheard as the slides do.

Heuristics on the text alone (no language model, no dictionary): they must run in milliseconds on
any deck, in any subject.
"""

from __future__ import annotations

import re
from collections import Counter

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
