"""The lecture's language: each segment's detected language in, one session language out.

With ``--language auto`` every segment is recognized in the language detected for it, so an English
sentence in a Chinese lecture is written in English. The session language (what the notes are written
in) must not follow each sentence: over the first ``min_switch_s`` seconds of speech it is the
majority so far; after that it changes only when another language has held most of the recent speech — ``switch_share`` of the last ``window_s`` seconds,
and at least ``min_switch_s`` seconds of it. One English sentence, a quotation, a code-switched
aside leave it alone; a lecturer who goes on in English for minutes moves it. Speech is weighed by
its duration, so a long sentence counts for more than a one-word reply.

A plain object with no clock and no thread: feed it finals in order (``observe``) and read
``current``; ``lecture_language`` replays a whole transcript through it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from live.errors import ConfigError

LANGUAGES = ("auto", "zh", "en", "yue", "ja", "ko")  # what the engines recognize (--language)
LANGUAGE_NAMES = {
    "zh": "Chinese", "en": "English", "yue": "Cantonese", "ja": "Japanese", "ko": "Korean",
    "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ru": "Russian",
}
_CHINESE_NAMES = ("chinese", "mandarin", "cantonese", "中文", "汉语", "漢語", "普通话", "普通話", "粤语", "粵語")
_CODE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
_NOT_A_LANGUAGE = {None, "", "auto", "nospeech", "unknown"}


def is_chinese(language: str | None) -> bool:
    """True for a language code or name that means Chinese ("zh", "zh-TW", "yue", "Chinese", "中文", ...)."""
    if not language:
        return False
    name = language.strip().casefold()
    return name in ("zh", "yue") or name.startswith(("zh-", "zh_")) or any(n in name for n in _CHINESE_NAMES)


def check_target(code: str) -> str:
    """A language code to translate into, normalized ("ZH" → "zh"); ConfigError if it is not one (it
    names files: transcript.zh.srt)."""
    text = str(code or "").strip().lower().replace("_", "-")
    if not _CODE.fullmatch(text):
        raise ConfigError(f"--translate takes a language code such as zh, en, ja, de or pt-br (got {code!r})")
    return text


@dataclass(frozen=True)
class LanguageOptions:
    """When the session language changes.

    Attributes:
        window_s: how much recent speech (seconds) the vote looks at.
        switch_share: the share of that speech another language must hold to take over.
        min_switch_s: and at least this much of it, so a short window after the start cannot flip it.
    """

    window_s: float = 120.0
    switch_share: float = 0.6
    min_switch_s: float = 30.0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or not 0.5 <= self.switch_share <= 1.0 or self.min_switch_s < 0:
            raise ConfigError("language policy: window_s > 0, switch_share in [0.5, 1], min_switch_s >= 0")


class Timed(Protocol):
    start: float
    end: float
    language: str | None


class SessionLanguage:
    """The sticky majority over the recent speech; ``current`` is None until a language is heard."""

    def __init__(self, options: LanguageOptions | None = None) -> None:
        self.options = options or LanguageOptions()
        self.current: str | None = None
        self.switches = 0
        self._recent: deque[list] = deque()  # [language, seconds], oldest first
        self._held = 0.0  # seconds in the window
        self._heard = 0.0  # seconds heard in all

    @property
    def heard_s(self) -> float:
        """Seconds of speech heard in a language so far."""
        return self._heard

    def observe(self, language: str | None, seconds: float) -> str | None:
        """Take one segment (its detected language and length in seconds); return the session language."""
        if language in _NOT_A_LANGUAGE or seconds <= 0:
            return self.current
        self._heard += seconds
        self._recent.append([language, seconds])
        self._held += seconds
        while self._held - self._recent[0][1] >= self.options.window_s:  # keep one window of speech
            self._held -= self._recent.popleft()[1]
        if self._held > self.options.window_s:  # trim the oldest entry to the window
            cut = self._held - self.options.window_s
            self._recent[0][1] -= cut
            self._held -= cut
        totals: dict[str, float] = {}
        for code, length in self._recent:
            totals[code] = totals.get(code, 0.0) + length
        leader, held = max(totals.items(), key=lambda item: item[1])
        if self._heard <= self.options.min_switch_s:  # too little heard to be sticky: the majority so far
            self.current = leader
        elif (leader != self.current and held >= self.options.min_switch_s
                and held >= self.options.switch_share * self._held):
            self.current = leader
            self.switches += 1
        return self.current


def lecture_language(finals: Iterable[Timed], options: LanguageOptions | None = None) -> str | None:
    """The session language at the end of ``finals`` (in order), as a live session would have it."""
    policy = SessionLanguage(options)
    for final in finals:
        policy.observe(final.language, final.end - final.start)
    return policy.current
