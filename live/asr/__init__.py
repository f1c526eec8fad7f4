"""Speech recognition engines behind one interface (see ``base.Engine``)."""

from live.asr.base import Engine, Transcription

__all__ = ["Engine", "Transcription"]
