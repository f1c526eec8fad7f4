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

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from live.audio import SAMPLE_RATE
from live.errors import ConfigError
from live.events import Notice
from live.language import LANGUAGE_NAMES, LANGUAGES, SessionLanguage
from live.session.loading import ModelLoad

if TYPE_CHECKING:
    import numpy as np

    from live.asr.base import Engine
    from live.config import Settings
    from live.captions import Caption
    from live.session.loading import EngineLoader

log = logging.getLogger("live.session")

# (language, the running engine) or (the running engine, language) -> the loader of a faster engine, or None
FasterEngine = Callable[..., "EngineLoader | None"]


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
    """The session language settled once from the first seconds of speech; ``language`` is None before.

    ``asked``: the session's --language; anything but "auto" is kept as it is (nothing is settled).
    ``faster(language, engine)``: the loader of a faster engine for a language, or None.
    """

    def __init__(self, asked: str = "auto", options: AutoLanguageOptions | None = None,
                 faster: FasterEngine | None = None) -> None:
        self.asked = asked
        self.options = options or AutoLanguageOptions()
        self.faster = faster
        self.language: str | None = None
        self._policy = SessionLanguage()

    @classmethod
    def for_settings(cls, settings: Settings, faster: FasterEngine | None) -> AutoLanguage:
        """For a session's settings; ``faster``: the governor's faster-engine finder (None: the session does
        not load its own engine). Only Whisper moves, and only without --model: base to tiny.en for English."""
        if faster is None or settings.model is not None:
            return cls(settings.language)
        find = faster

        def whisper(language: str, engine: Engine) -> EngineLoader | None:
            loader = find(engine, language) if engine.name == "whisper" else None
            if loader is None:
                return None
            return lambda status: (loader(status)[0], "whisper tiny.en (English only, the fastest for the English heard)")

        return cls(settings.language, faster=whisper)

    def observe(self, caption: Caption) -> str | None:
        """Take one caption; the session language at the moment it is settled, else None."""
        if self.asked != "auto" or self.language is not None or not caption.text \
                or caption.language not in LANGUAGES[1:]:
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

    def heard(self, caption: Caption, engine: Engine | None, emit: Callable[[object], None],
              load: ModelLoad | None, standing_in: bool = False) -> ModelLoad | None:
        """Take one caption; once the language is settled, say so (``emit``) and start loading the fastest
        engine for it, unless a model is loading (``load``) or the lag governor's stands in. Returns the
        load the worker holds from now on."""
        language = self.observe(caption)
        if language is None:
            return load
        faster = self.faster_engine(engine) if load is None and not standing_in else None
        said = f"language: {LANGUAGE_NAMES.get(language, language)}"
        emit(Notice("information", f"{said}; loading a faster engine for it…" if faster else said))
        return ModelLoad(faster, lambda text: log.info("%s", text)) if faster is not None else load

    def language_for(self, audio: np.ndarray | float) -> str:
        """The language to decode ``audio`` (samples, or its length in seconds) in."""
        seconds = audio if isinstance(audio, (int, float)) else len(audio) / SAMPLE_RATE
        if self.asked == "auto" and self.language is not None and seconds < self.options.short_s:
            return self.language
        return self.asked

    def faster_engine(self, engine: Engine | None) -> EngineLoader | None:
        """The loader of the fastest engine for the settled language, if ``engine`` is not it."""
        if self.language is None or self.faster is None or engine is None:
            return None
        return self.faster(self.language, engine)
