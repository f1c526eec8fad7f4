"""Word error rate for the tests that check recognition through the live and transcribe paths."""

from __future__ import annotations

import re


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split())


def edits(r: list[str], h: list[str]) -> tuple[int, int]:
    """Levenshtein distance between two token lists, and the reference's length."""
    d = list(range(len(h) + 1))
    for i, rt in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, ht in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rt != ht))
    return d[len(h)], len(r)


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """Word edit distance and the reference length."""
    return edits(normalize(ref).split(), normalize(hyp).split())


_CER_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[a-z0-9']+")


def cer_tokens(text: str) -> list[str]:
    """Chinese characters one by one, Latin words and numbers whole; punctuation and spaces dropped."""
    return _CER_TOKEN.findall(text.lower())


def cer(ref: str, hyp: str) -> tuple[int, int]:
    """Character edit distance (a Latin word counts as one) and the reference length."""
    return edits(cer_tokens(ref), cer_tokens(hyp))
