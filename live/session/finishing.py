"""``live finish``: caption the speech a session heard but left uncaptioned — a quit while the captions
were behind, recognition that stopped — from the session's own audio, into the same transcript.

Each ``uncaptioned`` line of transcript.jsonl names a span of audio.wav; its final is appended with
``"finished": true`` (so a second run does nothing more) and the text and subtitle files are rendered
again in time order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.asr.base import Engine
from live.audio import SAMPLE_RATE
from live.captions import Caption
from live.errors import SessionError
from live.textnorm import TextNormalizer, TextOptions
from live.transcript import AUDIO, SessionWriter
from live.transcript.schema import Uncaptioned, uncaptioned


@dataclass(frozen=True)
class FinishResult:
    """What ``finish_session`` did: spans captioned, seconds of speech, finals with text."""

    spans: int
    seconds: float
    captions: int


def pending_spans(folder: Path) -> list[Uncaptioned]:
    """The spans still to caption; SessionError (one line) for a folder that is no session."""
    if not (folder / "transcript.jsonl").exists():
        raise SessionError(f"{folder} is not a session folder (no transcript.jsonl); give a folder from `live sessions`")
    return uncaptioned(folder)


def finish_session(folder: Path, engine: Engine, *, language: str = "auto", script: str | None = None,
                   on_span: Callable[[int, int], None] | None = None) -> FinishResult:
    """Decode every uncaptioned span of ``folder`` with ``engine``; ``on_span(done, total)`` as it goes."""
    import soundfile as sf

    spans = pending_spans(folder)
    if not spans:
        return FinishResult(0, 0.0, 0)
    if not (folder / AUDIO).exists():
        raise SessionError(f"{folder} has no {AUDIO} (recorded with --no-audio?): its uncaptioned speech is lost")
    text = TextNormalizer(TextOptions(script))
    writer = SessionWriter(folder, record_audio=False, resume=True)
    captions = 0
    try:
        with sf.SoundFile(folder / AUDIO) as wav:
            for done, span in enumerate(spans, 1):
                start, end = span.start, span.end
                wav.seek(min(int(start * SAMPLE_RATE), wav.frames))
                audio = wav.read(max(0, int((end - start) * SAMPLE_RATE)), dtype="float32")
                result = engine.transcribe(np.asarray(audio, dtype=np.float32), language)
                words = text(result.text, result.language or (None if language == "auto" else language))
                caption = Caption("final", start, end, words, language=result.language, emotion=result.emotion,
                                  events=result.events, emitted=end, index=span.index, finished=True)
                writer.add_entry(caption.to_json())
                captions += bool(words.strip())
                if on_span is not None:
                    on_span(done, len(spans))
    finally:
        writer.close()  # renders txt/srt/vtt again, in time order
    if writer.error:
        raise SessionError(writer.error)
    return FinishResult(len(spans), sum(s.end - s.start for s in spans), captions)
