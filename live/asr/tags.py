"""SenseVoice's rich tags (``<|en|><|NEUTRAL|><|Speech|><|withitn|>text``) turned into data.

funasr's own ``rich_transcription_postprocess`` turns events and emotions into emoji inside the text;
captions want plain text and the tags as fields, so they are parsed here instead.
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from live.asr.base import Transcription
from live.language import LANGUAGES
from live.text import is_unspaced

log = logging.getLogger("live.asr.tags")

LANGUAGE_TAGS = frozenset(LANGUAGES) - {"auto"}  # the languages SenseVoice names in its first tag
NO_SPEECH_TAG = "nospeech"
EMOTION_TAGS = frozenset({"HAPPY", "SAD", "ANGRY", "NEUTRAL", "FEARFUL", "DISGUSTED", "SURPRISED"})
UNKNOWN_EMOTION_TAG = "EMO_UNKNOWN"
EVENT_TAGS = frozenset({"Speech", "BGM", "Applause", "Laughter", "Cry", "Sneeze", "Breath", "Cough",
                        "Event_UNK"})
ITN_TAGS = frozenset({"withitn", "woitn"})

_TAG = re.compile(r"<\|([^<>|]*)\|>")
_SPACE = re.compile(r"\s+")
# Emoji and pictographs (funasr's post-processing writes 🎼 😊 …) plus the joiners that glue them.
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U00002B00-\U00002BFF\U0000FE0F\U0000200D\U000020E3]"
)


def _join(pieces: list[str]) -> str:
    """Join the text found between tag runs: a space between words, none inside Chinese/Japanese."""
    out = ""
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if out and not (is_unspaced(out[-1]) and is_unspaced(piece[0])):
            out += " "
        out += piece
    return out


def parse_rich(raw: str) -> Transcription:
    """Split SenseVoice's raw output into plain text, language, emotion and events.

    funasr may merge several sub-segments into one string, each with its own tag run; the language
    is the one that carries the most text, the emotion the most frequent one (first seen on a tie),
    events are kept once each in order of appearance.
    """
    languages: Counter[str] = Counter()
    first_language: str | None = None
    emotions: Counter[str] = Counter()
    events: list[str] = []
    pieces: list[str] = []
    current_language: str | None = None
    position = 0
    for match in _TAG.finditer(raw):
        text = raw[position:match.start()]
        pieces.append(text)
        if current_language is not None:
            languages[current_language] += len(text.strip())
        position = match.end()
        tag = match.group(1)
        if tag in LANGUAGE_TAGS:
            current_language = tag
            languages[tag] += 0  # a language with no text still counts, for the first-seen fallback
            first_language = first_language or tag
        elif tag == NO_SPEECH_TAG:
            current_language = None
        elif tag in EMOTION_TAGS:
            emotions[tag.lower()] += 1
        elif tag in EVENT_TAGS:
            if tag not in events:
                events.append(tag)
        elif tag in ITN_TAGS or tag == UNKNOWN_EMOTION_TAG:
            pass  # carry no information a caption needs
        else:
            log.debug("dropping unknown SenseVoice tag <|%s|>", tag)
    tail = raw[position:]
    pieces.append(tail)
    if current_language is not None:
        languages[current_language] += len(tail.strip())

    text = _SPACE.sub(" ", _EMOJI.sub("", _join(pieces))).strip()
    language = first_language
    if languages:
        # Counter.most_common keeps insertion order on ties, i.e. the first language seen wins.
        best, count = languages.most_common(1)[0]
        if count > 0:
            language = best
    emotion = emotions.most_common(1)[0][0] if emotions else None
    return Transcription(text=text, language=language, emotion=emotion, events=tuple(events))
