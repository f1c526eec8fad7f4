"""Speech recognition engines behind one interface (see ``base.Engine``)."""

from live.asr.base import LANGUAGES, Engine, Transcription

__all__ = ["LANGUAGES", "Engine", "Transcription"]
