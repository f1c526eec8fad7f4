"""``--language auto``: the lecture's language from the first seconds of speech, then decoding made for it.

A multilingual Whisper detects the language of each decode. Once ``detect_s`` seconds of speech have
been heard in captions (one partial that long, or finals adding up to it, weighed as
live.language.SessionLanguage weighs them), the session language is settled, once:

- the worker moves to the fastest engine for it (tiny.en for English, live.asr.loader.faster_engine),
  loaded in the background and attached between two decodes, nothing lost or repeated;
- a segment shorter than ``short_s`` is decoded in that language: a second of speech is too little to
  detect one (measured: right on 16 of 19 clips at 1 s, 18 at 2 s, 19 whole, benchmarks/whisper_window.py),
  and a one-word Mandarin reply came out in English. Longer segments still detect their own, so an
  English sentence in a Mandarin lecture is written in English.

A plain object with no clock and no thread: the worker feeds it captions (``heard``) and asks it the
language of each decode (``language_for``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from live.audio import SAMPLE_RATE
from live.errors import ConfigError
from live.language import LANGUAGE_NAMES, LANGUAGES, SessionLanguage

if TYPE_CHECKING:
    import numpy as np

    from live.asr.base import Engine
    from live.captions import Caption
    from live.session.loading import EngineLoader

# The loader of a faster engine for a language than the one running, or None when it is the fastest.
FasterEngine = Callable[[str, "Engine"], "EngineLoader | None"]


@dataclass(frozen=True)
class AutoLanguageOptions:
    """When the language counts as detected, and which segments are decoded in it.

    Attributes:
        detect_s: seconds of speech, heard in captions, that settle the session language.
        short_s: a segment shorter than this is decoded in the session language once it is settled.
    """

    detect_s: float = 3.0
    short_s: float = 2.0

    def __post_init__(self) -> None:
        if self.detect_s <= 0 or self.short_s < 0:
            raise ConfigError("language detection: detect_s > 0 and short_s >= 0 seconds")


class AutoLanguage:
    """The session language settled once from the first seconds of speech; ``language`` is None before."""

    def __init__(self, options: AutoLanguageOptions | None = None, faster: FasterEngine | None = None) -> None:
        self.options = options or AutoLanguageOptions()
        self.faster = faster
        self.language: str | None = None
        self._policy = SessionLanguage()

    def observe(self, caption: Caption) -> str | None:
        """Take one caption; the session language at the moment it is settled, else None."""
        if self.language is not None or not caption.text or caption.language not in LANGUAGES[1:]:
            return None
        seconds = caption.end - caption.start
        if caption.kind == "partial":
            if seconds < self.options.detect_s:
                return None
            self.language = caption.language
        else:
            self._policy.observe(caption.language, seconds)
            if self._policy.heard_s < self.options.detect_s:
                return None
            self.language = self._policy.current
        return self.language

    def heard(self, caption: Caption, engine: Engine | None, idle: bool = True) -> tuple[str, EngineLoader | None] | None:
        """Take one caption; at the moment the language is settled, what to tell the user and the loader
        of a faster engine for it (``idle``: no other engine is loading or standing in), else None."""
        language = self.observe(caption)
        if language is None:
            return None
        faster = self.faster_engine(engine) if idle else None
        said = f"language: {LANGUAGE_NAMES.get(language, language)}"
        return (f"{said}; loading a faster engine for it…" if faster else said), faster

    def language_for(self, audio: np.ndarray | float, asked: str) -> str:
        """The language to decode ``audio`` (samples, or its length in seconds) in, ``asked`` being the
        session's setting."""
        seconds = audio if isinstance(audio, (int, float)) else len(audio) / SAMPLE_RATE
        if asked == "auto" and self.language is not None and seconds < self.options.short_s:
            return self.language
        return asked

    def faster_engine(self, engine: Engine | None) -> EngineLoader | None:
        """The loader of the fastest engine for the settled language, if ``engine`` is not it."""
        if self.language is None or self.faster is None or engine is None:
            return None
        return self.faster(self.language, engine)
