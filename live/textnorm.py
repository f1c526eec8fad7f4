"""What every engine's text goes through before it becomes a caption, whichever engine wrote it.

- Chinese in one script. Whisper writes Mandarin in traditional characters as often as not (我認為,
  廣州市), SenseVoice in simplified: by default Mandarin is written in simplified characters (OpenCC's
  ``t2s``) and Cantonese keeps the characters it was recognized in. ``script`` asks for one script for
  both: ``simplified``, ``traditional`` (Taiwan's standard characters, OpenCC ``s2tw``) or
  ``traditional-hk`` (Hong Kong's, ``s2hk``). Japanese and Korean are never converted.
- No stray spaces in CJK text: a space stays only where neither side is a CJK character (between Latin
  words, and in Korean, which spaces its words); ``join_text`` joins pieces the same way.
- Chinese punctuation in Chinese text: an ASCII ``,`` or ``?`` written right after a Chinese
  character becomes ``，`` or ``？`` (Whisper mixes them).

The captioner applies it to every partial and final (``live.captions``), so live captions, file
transcription and the server all get it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from live.errors import ConfigError
from live.text import HAN, HANGUL, KANA, UNSPACED

SCRIPTS = ("simplified", "traditional", "traditional-hk")
_OPENCC = {"simplified": "t2s", "traditional": "s2tw", "traditional-hk": "s2hk"}

# Characters that take no space beside them: Han, kana, CJK punctuation, full-width forms.
_SPACE_IN_CJK = re.compile(rf"(?<=[{UNSPACED}])\s+|\s+(?=[{UNSPACED}])")
_HAS_HAN = re.compile(f"[{HAN}]")
_HAS_KANA_OR_HANGUL = re.compile(f"[{KANA}{HANGUL}]")
_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ";": "；", ":": "：", ".": "。"}
_ASCII_PUNCT_AFTER_HAN = re.compile(rf"(?<=[{HAN}])([,?!;:]|\.(?![0-9A-Za-z.]))")  # not 文件.txt, not …


@functools.lru_cache(maxsize=4)
def _converter(config: str):
    try:
        import opencc
    except ImportError as error:
        raise ConfigError("writing Chinese in one script needs OpenCC: pip install opencc") from error
    return opencc.OpenCC(config)


def convert(text: str, config: str) -> str:
    """``text`` through one OpenCC conversion ("t2s", "s2tw", "s2hk", ...)."""
    return _converter(config).convert(text)


def is_simplified(text: str) -> bool:
    """True when OpenCC's t2s would change nothing in ``text``."""
    return convert(text, "t2s") == text


def join_text(parts: Iterable[str]) -> str:
    """Pieces of one caption joined: a space between two Latin words, none beside a CJK character."""
    text = " ".join(part.strip() for part in parts if part and part.strip())
    return _SPACE_IN_CJK.sub("", " ".join(text.split()))


def _chinese_kind(text: str, language: str | None) -> str | None:
    """"mandarin", "cantonese" or None (no Chinese characters, or Japanese/Korean)."""
    if language in ("ja", "ko") or not _HAS_HAN.search(text):
        return None
    if language == "yue":
        return "cantonese"
    if language not in ("zh", None, "auto") and _HAS_KANA_OR_HANGUL.search(text):
        return None
    if language is None and _HAS_KANA_OR_HANGUL.search(text):
        return None
    return "mandarin"


@dataclass(frozen=True)
class TextOptions:
    """How an engine's text is tidied before it becomes a caption.

    Attributes:
        script: None (the default): Mandarin in simplified characters, Cantonese as recognized;
            "simplified", "traditional" (Taiwan) or "traditional-hk" (Hong Kong): both in that script.
    """

    script: str | None = None

    def __post_init__(self) -> None:
        if self.script is not None and self.script not in SCRIPTS:
            raise ConfigError(f"unknown script {self.script!r}: choose one of {', '.join(SCRIPTS)}")


class TextNormalizer:
    """Applies ``TextOptions`` to one engine's texts; ``converted`` counts the texts whose characters
    the script conversion changed (how often the engine wrote the other script)."""

    def __init__(self, options: TextOptions | None = None) -> None:
        self.options = options or TextOptions()
        self.converted = 0

    def __call__(self, text: str, language: str | None) -> str:
        """``text`` as a caption shows it; ``language`` is the engine's (detected or forced) code."""
        text = join_text([text])
        kind = _chinese_kind(text, language)
        if kind is None:
            return text
        text = re.sub(r"\s+(?=[,?!;:.])", "", text)
        text = join_text([_ASCII_PUNCT_AFTER_HAN.sub(lambda m: _FULL_WIDTH[m.group(1)], text)])
        script = self.options.script
        if script is None:
            if kind == "cantonese":
                return text
            script = "simplified"
        done = convert(text, _OPENCC[script])
        if done != text:
            self.converted += 1
        return done
