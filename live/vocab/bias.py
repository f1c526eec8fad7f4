"""What to tell Whisper about the vocabulary: a comma-separated list of terms, most relevant first.

faster-whisper puts ``hotwords`` (every 30 s window) and ``initial_prompt`` (the first window only when,
as here, decoding is not conditioned on earlier text) after ``<|startofprev|>``, ahead of the
transcript; each is cut to ``448 // 2 - 1 = 223`` tokens, and what the prompt takes is taken from the
448-token context the transcript is written into. The list is therefore built whole terms at a time
until the next term would not fit the budget (223 tokens for both fields together, so the transcript
always keeps at least half the context). Terms in scripts an English-only model cannot write are left out.

Measured on Whisper tiny.en (int8, beam 1; benchmarks/vocab_recall.py, a spoken lecture passage with
six course terms of which the plain model writes one): a plain comma-separated list beats a
"Glossary: ..." sentence (the word leaks into the transcript); ending it with a period makes the
transcript open with a capital. With the six terms (or the whole course's 43 English terms) the model
writes 4 (5) of 6 right. ``hotwords`` and ``initial_prompt`` are the same tokens for clips up to 30 s
(every live segment), so they score the same there; past 30 s only hotwords reach the later windows.
"both" repeats the list, gets half the budget for each copy and no more terms right. So: hotwords.
A bias also spoils what it should not (+2 to +3 errors per 100 words on the gold English clips); the
engine's check (WhisperEngine's ``verify_bias``, live.vocab.gains) undoes that, which is why the
default budget is the whole room faster-whisper keeps: more terms, nothing lost elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from live.vocab.terms import Vocabulary

BiasMode = Literal["hotwords", "prompt", "both"]
MODES: tuple[str, ...] = ("hotwords", "prompt", "both")
WHISPER_CONTEXT = 448
PROMPT_BUDGET = WHISPER_CONTEXT // 2 - 1  # what faster-whisper keeps of a prompt; shared by both fields
DEFAULT_BUDGET = PROMPT_BUDGET  # about 40 English terms; see the module docstring
SEPARATOR = ", "
END = "."  # the transcript after the list then opens a sentence (a capital) instead of going on with it


@dataclass(frozen=True)
class WhisperBias:
    """What goes into ``WhisperModel.transcribe``.

    Attributes:
        hotwords: the term list for every window, or None.
        initial_prompt: the term list for the first window, or None.
        terms: the terms that fit, most relevant first.
        left_out: how many terms of the vocabulary did not fit the budget (or the model's script).
        tokens: tokens the bias takes (both fields together), as ``count_tokens`` counted them.
    """

    hotwords: str | None = None
    initial_prompt: str | None = None
    terms: tuple[str, ...] = ()
    left_out: int = 0
    tokens: int = 0

    def kwargs(self) -> dict[str, str]:
        """The keyword arguments for WhisperEngine (or faster-whisper's transcribe), Nones left out."""
        return {k: v for k, v in (("hotwords", self.hotwords), ("initial_prompt", self.initial_prompt)) if v}


def estimate_tokens(text: str) -> int:
    """An upper estimate of Whisper's BPE tokens without its tokenizer: half a token an ASCII
    character (real technical terms: 2.2-8 characters a token), one a UTF-8 byte otherwise."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 2) + len(text.encode("utf-8")) - ascii_chars


def whisper_bias(vocab: Vocabulary, *, mode: BiasMode = "hotwords", max_tokens: int = DEFAULT_BUDGET,
                 count_tokens: Callable[[str], int] | None = None, english_only: bool = False) -> WhisperBias:
    """The vocabulary as Whisper's ``hotwords`` and/or ``initial_prompt``, within ``max_tokens``.

    ``count_tokens`` should be the model's own tokenizer (``WhisperEngine.count_tokens``); without it a
    cautious estimate is used. ``mode="both"`` gives each field half the budget and the same list.
    ``english_only`` (tiny.en and other ``*.en`` models) leaves out terms that are not Latin script.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if not 0 < max_tokens <= PROMPT_BUDGET:
        raise ValueError(f"max_tokens must be between 1 and {PROMPT_BUDGET} (got {max_tokens})")
    count = count_tokens or estimate_tokens
    budget = max_tokens // 2 if mode == "both" else max_tokens
    candidates = [t.text for t in vocab if not english_only or _latin(t.text)]
    chosen: list[str] = []
    used = 0
    for term in candidates:
        # faster-whisper encodes " " + the text: count it the same way, whole list at a time (BPE merges
        # across the separator, so a sum per term can be off by one).
        tokens = count(" " + SEPARATOR.join([*chosen, term]) + END)
        if tokens > budget:
            continue  # a shorter, less relevant term may still fit
        chosen.append(term)
        used = tokens
    text = SEPARATOR.join(chosen) + END if chosen else None
    fields = {"hotwords": (text, None), "prompt": (None, text), "both": (text, text)}[mode]
    return WhisperBias(hotwords=fields[0], initial_prompt=fields[1], terms=tuple(chosen),
                       left_out=len(vocab) - len(chosen), tokens=used * (2 if mode == "both" else 1))


def _latin(text: str) -> bool:
    """Whether an English-only model can write ``text`` (ASCII and Latin letters with accents)."""
    return all(ord(ch) < 0x250 or ch in "‐‑–—’" for ch in text)
