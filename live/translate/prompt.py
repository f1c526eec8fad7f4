"""What a translation request says, and how its answer is read.

A request is a system prompt that stays the same all lecture (the instructions and the course's terms:
a prefix the provider's cache keeps) and one user message: the glossary entries for the terms the batch
and its context say (the whole glossary every time would cost more than the captions: benchmarks/
language_live.py), the last finals translated (for continuity), then the batch as numbered lines
``[N] text``, N the final's index. The answer is one ``[N] translation`` line per final, followed by
``= term => translation`` lines for technical terms the model translated that are not in the glossary
yet; those join the glossary, so a term is written the same way for the rest of the lecture.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from live.language import LANGUAGE_NAMES
from live.notes.prompts import Prompts
from live.text import CJK
from live.translate.queue import Pending

SYSTEM = "translate_system"
USER = "translate"
MAX_TERMS_LISTED = 80  # course terms named in the system prompt
MAX_ENTRY_CHARS = 80

NAMES = {**LANGUAGE_NAMES, "zh": "Simplified Chinese", "zh-hant": "Traditional Chinese", "yue": "Cantonese",
         "nl": "Dutch", "ar": "Arabic", "hi": "Hindi", "vi": "Vietnamese", "th": "Thai", "id": "Indonesian",
         "tr": "Turkish", "pl": "Polish", "uk": "Ukrainian", "sv": "Swedish"}

# "[12] text", "【12】text", "(12) text", "12. text", "12: text": a number in brackets or before a delimiter
_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:[\[【(（]\s*(\d{1,9})\s*[\]】)）]|(\d{1,9})\s*[.:：、)）])\s*(.*)$")
_ENTRY = re.compile(r"^\s*[-*]?\s*=\s*(.+?)\s*(?:=>|⇒|→)\s*(.+?)\s*$")
_FENCE = re.compile(r"^\s*```\w*\s*$")
_WIDE = re.compile(f"[{CJK}]")


def target_name(code: str) -> str:
    """The language's name for the prompt ("zh" → "Simplified Chinese"); an unknown code as it is."""
    return NAMES.get(code) or NAMES.get(code.split("-")[0], code)


class Glossary:
    """The course's terms and how they are translated, in the order they were learned.

    It starts from the vocabulary's terms (untranslated: the system prompt names them) and grows with the
    model's ``= term => translation`` lines; the first translation of a term is the one kept."""

    def __init__(self, terms: Iterable[str] = (), max_entries: int = 150) -> None:
        self.terms = [t for t in dict.fromkeys(" ".join(t.split()) for t in terms) if t][:MAX_TERMS_LISTED]
        self.max_entries = max_entries
        self.entries: dict[str, str] = {}  # term → translation
        self._keys: set[str] = set()

    def learn(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Take new entries (a term already known keeps its translation); how many were new."""
        new = 0
        for term, translation in pairs:
            term, translation = " ".join(term.split()), " ".join(translation.split())
            key = term.casefold()
            if (not term or not translation or key in self._keys or len(self.entries) >= self.max_entries
                    or len(term) > MAX_ENTRY_CHARS or len(translation) > MAX_ENTRY_CHARS
                    or key == translation.casefold()):
                continue
            self.entries[term] = translation
            self._keys.add(key)
            new += 1
        return new

    def relevant(self, texts: Iterable[str]) -> list[tuple[str, str]]:
        """The entries whose term occurs in ``texts`` (ignoring case, hyphens and spacing): what a request
        needs to write those terms as before, without the cost of the whole glossary every time."""
        said = " ".join(_folded(t) for t in texts)
        return [(term, translation) for term, translation in self.entries.items() if _folded(term) in said]


def _folded(text: str) -> str:
    return " ".join(re.sub(r"[-‐‑–_/]+", " ", text.casefold()).split())


def system_prompt(prompts: Prompts, target: str, glossary: Glossary) -> str:
    terms = ""
    if glossary.terms:
        terms = ("The course's own terms (from its slides and word list); translate each the same way every "
                 "time: " + "; ".join(glossary.terms) + ".")
    return prompts.render(SYSTEM, target=target_name(target), terms=terms).strip()


def messages(prompts: Prompts, target: str, glossary: Glossary, batch: Sequence[Pending],
             context: Sequence[tuple[Pending, str]] = ()) -> list[dict[str, str]]:
    """The request for ``batch`` (oldest first)."""
    parts = []
    entries = glossary.relevant([p.text for p in batch] + [p.text for p, _ in context])
    if entries:
        parts.append("Glossary (always translate these terms this way):\n"
                     + "\n".join(f"= {term} => {translation}" for term, translation in entries))
    if context:
        parts.append("Just before (already translated; context only, do not translate again):\n"
                     + "\n".join(f"[{p.index}] {_one_line(p.text)}\n=> {_one_line(text)}" for p, text in context))
    user = prompts.render(USER, target=target_name(target), before="\n\n".join(parts),
                          captions="\n".join(f"[{p.index}] {_one_line(p.text)}" for p in batch)).strip()
    return [{"role": "system", "content": system_prompt(prompts, target, glossary)},
            {"role": "user", "content": user}]


def parse_answer(text: str, wanted: Iterable[int]) -> tuple[dict[int, str], list[tuple[str, str]]]:
    """(index → translation, [(term, translation)]) from an answer. Lines for indices that were not asked
    for are ignored; a line without a number continues the translation above it."""
    wanted = set(wanted)
    found: dict[int, str] = {}
    entries: list[tuple[str, str]] = []
    current: int | None = None
    for line in text.splitlines():
        if not line.strip() or _FENCE.match(line):
            continue
        if entry := _ENTRY.match(line):
            entries.append((entry.group(1).strip("`*\"' "), entry.group(2).strip("`*\"' ")))
            current = None
            continue
        match = _LINE.match(line)
        if match:
            index = int(match.group(1) or match.group(2))
            current = index if index in wanted and index not in found else None  # the first answer counts
            if current is not None:
                found[current] = match.group(3).strip()
        elif current is not None:
            found[current] = _join(found[current], line.strip())
    return {i: t for i, t in found.items() if t}, entries


def _join(before: str, after: str) -> str:
    """Two pieces of one translation: no space next to CJK text, one elsewhere."""
    if not before:
        return after
    return before + after if _WIDE.match(before[-1]) or _WIDE.match(after[:1] or " ") else f"{before} {after}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
