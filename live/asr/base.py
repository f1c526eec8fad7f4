"""What every recognition engine promises: 16 kHz mono float32 in, a Transcription out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

ENGINES = ("auto", "sensevoice", "whisper")
BACKENDS = ("auto", "onnx", "torch")  # SenseVoice runtimes


class DecodeCancelled(Exception):
    """A decode stopped because its caller cancelled it (``cancel()`` from another thread)."""


@dataclass(frozen=True)
class Transcription:
    """One decode of one piece of audio.

    Attributes:
        text: the caption text, with no rich tags and no emoji left in it.
        language: the detected (or forced) language code, e.g. "en"; None when unknown.
        emotion: SenseVoice's emotion tag in lower case ("neutral", "happy", ...); None when absent.
        events: audio events such as "Speech", "BGM", "Applause", "Laughter".
    """

    text: str
    language: str | None = None
    emotion: str | None = None
    events: tuple[str, ...] = field(default_factory=tuple)


class Engine(Protocol):
    """A loaded recognizer. ``transcribe`` is called from one worker thread only."""

    name: str  # "sensevoice" or "whisper"
    model: str  # what is loaded, for the status bar (folder name or hub id)

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> Transcription:
        """Recognize ``audio`` (float32, 16 kHz, mono, in [-1, 1])."""
        ...
