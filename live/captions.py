"""The streaming policy: VAD segments in, partial and final captions out.

SenseVoice is not a streaming model. While a segment is open it is re-decoded as soon as the previous
decode has finished (a *partial*, shown, never saved); when the segment closes it is decoded once more
(a *final*, saved). At most one decode is in flight because this object is driven from one thread, so
the decoder paces the partials, not a timer. When the machine falls behind, pending finals go first and
partials are skipped; finals are never dropped, duplicated or reordered.

Drive it without a microphone, like whisper_streaming's OnlineASRProcessor::

    captioner.insert_audio(block)      # any block length
    for caption in captioner.process_iter(behind=False): ...
    for caption in captioner.finish(): ...

``behind`` says that audio is already waiting to be read: the decoder is not keeping up, so no partial
(and no speculative decode) is started; finals only, until it has caught up. A recording replayed as
fast as it decodes is always behind, so it costs one decode per final. With ``BatchOptions`` (file
transcription) closed segments are merged into decode batches of up to ~30 s first: SenseVoice costs
~0.6 s a call however short the audio.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from live.asr.base import Engine
from live.audio import SAMPLE_RATE
from live.errors import ConfigError
from live.textnorm import TextNormalizer
from live.vad import Segment, Segmenter

CaptionKind = Literal["partial", "final"]


@dataclass(frozen=True)
class Caption:
    """One caption as the user sees it.

    Attributes:
        kind: "partial" (a guess for the open segment, replaced by the next) or "final" (saved).
        start: seconds of audio since the stream began where the segment starts.
        end: where it ends (for a partial: how far the decoded audio reaches).
        text: the caption text, without tags.
        language, emotion, events: SenseVoice's rich tags as data (None/empty when unknown).
        emitted: the audio-clock second at which the caption was produced.
        index: the segment number; a final replaces the partials of the same index.
        speech_end: the end of the segment's last voiced frame (``end`` adds the tail the VAD keeps, for
            subtitle timing); ``emitted - speech_end`` is the latency a listener feels.
    """

    kind: CaptionKind
    start: float
    end: float
    text: str
    language: str | None = None
    emotion: str | None = None
    events: tuple[str, ...] = field(default_factory=tuple)
    emitted: float = 0.0
    index: int = 0
    speech_end: float | None = None

    @property
    def latency(self) -> float:
        """From the end of speech (the end of the segment when that is unknown) to the caption."""
        return self.emitted - (self.speech_end if self.speech_end is not None else self.end)

    def to_json(self) -> dict:
        """The stable JSON form (headless ``--json`` lines and ``transcript.jsonl``)."""
        return {
            "type": self.kind,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "language": self.language,
            "emotion": self.emotion,
            "events": list(self.events),
            "emitted": round(self.emitted, 3),
            "index": self.index,
            "speech_end": None if self.speech_end is None else round(self.speech_end, 3),
        }

    @classmethod
    def from_json(cls, obj: dict) -> Caption:
        return cls(
            kind=obj["type"], start=float(obj["start"]), end=float(obj["end"]), text=obj.get("text", ""),
            language=obj.get("language"), emotion=obj.get("emotion"), events=tuple(obj.get("events") or ()),
            emitted=float(obj.get("emitted", obj["end"])), index=int(obj.get("index", 0)),
            speech_end=None if obj.get("speech_end") is None else float(obj["speech_end"]),
        )


@dataclass
class BatchOptions:
    """How closed segments are merged into decode calls (file transcription; live captions decode
    each segment alone so that it shows as soon as it is said).

    Attributes:
        max_batch_s: longest merged audio; 0 decodes each segment alone (the live path's way).
        max_gap_s: a pause longer than this between two segments ends the batch, so a caption never
            spans a long silence (its cues are timed across its whole span).
    """

    max_batch_s: float = 28.0  # under Whisper's 30 s window, so a batch is one window
    max_gap_s: float = 2.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_batch_s <= 120.0:
            raise ConfigError(f"batch length must be between 0 and 120 seconds (got {self.max_batch_s:g})")
        if self.max_gap_s < 0:
            raise ConfigError(f"the longest pause inside a batch must be 0 or more (got {self.max_gap_s:g})")


@dataclass(frozen=True)
class Batch:
    """Adjacent speech segments decoded together; the caption spans ``start``..``end``."""

    segments: tuple[Segment, ...]

    @property
    def start(self) -> float:
        return self.segments[0].start

    @property
    def end(self) -> float:
        return self.segments[-1].end

    @property
    def speech_s(self) -> float:
        return sum(s.duration for s in self.segments)

    def audio(self) -> np.ndarray:
        """The segments end to end. The silence between them is dropped: each segment already
        carries its VAD lead-in and tail, and segments cut out of one long stretch of speech meet
        at the same sample, so joining them restores that stretch exactly."""
        if len(self.segments) == 1:
            return self.segments[0].audio
        return np.concatenate([s.audio for s in self.segments])

    def as_segment(self, index: int) -> Segment:
        return Segment(index, self.start, self.end, self.audio(), self.segments[-1].speech_end)


class Batcher:
    """Groups segments as they close: ``add`` returns the batches that are complete, ``flush`` the rest."""

    def __init__(self, options: BatchOptions | None = None) -> None:
        self.options = options or BatchOptions()
        self._open: list[Segment] = []
        self._length = 0.0

    def add(self, segment: Segment) -> list[Batch]:
        done: list[Batch] = []
        if self._open:
            gap = segment.start - self._open[-1].end
            if gap > self.options.max_gap_s or self._length + segment.duration > self.options.max_batch_s:
                done += self.flush()
        self._open.append(segment)
        self._length += segment.duration
        if self._length >= self.options.max_batch_s:
            done += self.flush()
        return done

    def flush(self) -> list[Batch]:
        if not self._open:
            return []
        batch = Batch(tuple(self._open))
        self._open, self._length = [], 0.0
        return [batch]


@dataclass
class CaptionOptions:
    """How eagerly partials are decoded.

    Attributes:
        partials: decode open segments at all (off saves CPU; finals are unaffected).
        speculate_ms: once an open segment has been quiet this long, decode it; if the VAD then closes
            it with no more speech, that decode is its final (0 turns this off). The decode overlaps
            the rest of the silence the VAD waits for, which takes most of the decode off the latency.
        min_growth_s: re-decode an open segment only when it has grown this much since the last decode.
        min_partial_s: do not decode an open segment shorter than this (too little to say anything).
        quiet_ms: skip a partial when the open segment already ends in this much silence: it is likely to
            close soon, and a decode started now would delay its final.
    """

    partials: bool = True
    speculate_ms: int = 240
    min_growth_s: float = 0.3
    min_partial_s: float = 0.5
    quiet_ms: int = 150


DecodeRecord = Callable[[str, float, float], None]  # (kind, audio seconds, wall seconds)


class Captioner:
    """Turns a segmenter's output into captions with one engine, one decode at a time.

    A decode that raises leaves its final queued (it is tried again once an engine is attached
    again) and the exception propagates: the session decides what the user is told.
    """

    def __init__(
        self,
        segmenter: Segmenter,
        engine: Engine | None = None,
        *,
        language: str = "auto",
        options: CaptionOptions | None = None,
        clock: Callable[[], float] | None = None,
        batching: BatchOptions | None = None,
        on_decode: DecodeRecord | None = None,
        text: TextNormalizer | None = None,
    ) -> None:
        """``text``: what every decode's text goes through (live.textnorm; default: Mandarin in
        simplified characters, no stray spaces in CJK text)."""
        self.segmenter = segmenter
        self.text = text or TextNormalizer()
        self.engine = engine
        self.language = language
        self.options = options or CaptionOptions()
        self._clock = clock or (lambda: segmenter.clock)
        self._batcher = Batcher(batching) if batching is not None and batching.max_batch_s > 0 else None
        self._on_decode = on_decode
        self._pending: deque[Segment] = deque()
        self._partial_key: tuple[int, float] | None = None  # the open segment whose partial is shown
        self._partial_end = 0.0
        self._spec: tuple[tuple[int, float], float, Caption] | None = None  # (key, voiced end, caption)
        self.reused_finals = 0
        self.segments = 0  # closed segments taken in
        self.batches = 0  # batches made of them (with BatchOptions)
        self.final_decodes = 0

    @property
    def pending_finals(self) -> int:
        return len(self._pending)

    @property
    def pending_audio_s(self) -> float:
        """Seconds of closed speech waiting for its final decode (what falling behind costs in memory)."""
        return sum(seg.duration for seg in self._pending)

    def drop_oldest(self) -> Segment | None:
        """Give up on the oldest waiting final (the session is too far behind to keep its audio)."""
        return self._pending.popleft() if self._pending else None

    def insert_audio(self, samples: np.ndarray) -> None:
        self._take(self.segmenter.feed(samples))

    def close_segment(self) -> None:
        """End the open segment now (pause, quit, end of input); its final comes from process_iter."""
        self._take(self.segmenter.flush())
        if self._batcher is not None:
            self._queue(self._batcher.flush())

    def _take(self, closed: list[Segment]) -> None:
        self.segments += len(closed)
        if self._batcher is None:
            self._pending.extend(closed)
            return
        for segment in closed:
            self._queue(self._batcher.add(segment))

    def _queue(self, batches: list[Batch]) -> None:
        for batch in batches:
            self._pending.append(batch.as_segment(self.batches))  # numbered in order, as segments are
            self.batches += 1

    def process_iter(self, behind: bool = False) -> list[Caption]:
        """Do at most one decode and return what it produced (possibly nothing).

        ``behind``: audio is already waiting to be read, so only finals are decoded."""
        if self.engine is None:
            return []
        if self._pending:
            self._partial_key = None
            seg = self._pending[0]
            reused = self._take_speculation(seg)
            caption = reused if reused is not None else self._decode(seg, "final")
            self._pending.popleft()  # only now: a decode that raised leaves it queued
            self.final_decodes += reused is None
            return [caption]
        span = self.segmenter.open_span
        if span is None:
            if self._partial_key is not None and self.options.partials:
                # The open segment was a blip too short to keep: take its partial off the screen.
                cleared = Caption("partial", self._partial_end, self._partial_end, "", emitted=self._clock(),
                                  index=self._partial_key[0])
                self._partial_key = None
                return [cleared]
            return []
        if behind:
            return []
        index, start, end = span
        # Keyed by (index, start): a dropped blip's index is reused by the next segment.
        key = (index, start)
        silence = self.segmenter.trailing_silence_ms
        # A long segment closes after a shorter silence: speculate early enough to beat it.
        speculate_at = min(self.options.speculate_ms, self.segmenter.closing_silence_ms - 90)
        if self.options.speculate_ms and silence >= max(60, speculate_at):
            voiced_end = end - silence / 1000
            if self._spec is None or self._spec[:2] != (key, voiced_end):
                return self._speculate(self.segmenter.open_segment, key, voiced_end)
        if not self.options.partials:
            return []
        grown = end - (self._partial_end if key == self._partial_key else start)
        if (
            end - start < self.options.min_partial_s
            or grown < self.options.min_growth_s
            or silence >= self.options.quiet_ms
        ):
            return []
        self._partial_key, self._partial_end = key, end
        caption = self._decode(self.segmenter.open_segment, "partial")
        return [caption] if caption.text else []

    def _speculate(self, seg: Segment, key: tuple[int, float], voiced_end: float) -> list[Caption]:
        """Decode a segment that has gone quiet before the VAD closes it, so the decode overlaps the
        silence the VAD still waits for. If it closes with no more speech, this becomes its final."""
        caption = self._decode(seg, "partial", label="speculative")
        self._spec = (key, voiced_end, caption)
        self._partial_key, self._partial_end = key, seg.end
        return [caption] if caption.text and self.options.partials else []

    def _take_speculation(self, seg: Segment) -> Caption | None:
        spec, self._spec = self._spec, None
        if self._batcher is not None:
            return None
        if spec is None:
            return None
        key, voiced_end, caption = spec
        opts = self.segmenter.options
        tail = math.ceil(opts.tail_ms / opts.frame_ms) * opts.frame_ms / 1000
        # Same segment, closed by silence right after the speech the speculative decode heard
        # (a segment cut at max length, or one where speech resumed, ends elsewhere).
        if key != (seg.index, seg.start) or abs(seg.end - tail - voiced_end) > opts.frame_ms / 1000 + 1e-6:
            return None
        self.reused_finals += 1
        return replace(caption, kind="final", end=seg.end, emitted=self._clock(), speech_end=seg.speech_end)

    def finish(self) -> list[Caption]:
        """Close the open segment and decode every pending final."""
        self.close_segment()
        out: list[Caption] = []
        while self._pending and self.engine is not None:
            out.extend(self.process_iter())
        return out

    def _decode(self, seg: Segment, kind: CaptionKind, label: str | None = None) -> Caption:
        assert self.engine is not None
        began = time.perf_counter()
        result = self.engine.transcribe(seg.audio, self.language)
        if self._on_decode is not None:
            self._on_decode(label or kind, len(seg.audio) / SAMPLE_RATE, time.perf_counter() - began)
        language = result.language or (None if self.language == "auto" else self.language)
        return Caption(
            kind=kind, start=seg.start, end=seg.end, text=self.text(result.text, language), language=result.language,
            emotion=result.emotion, events=result.events, emitted=self._clock(), index=seg.index,
            speech_end=seg.speech_end,
        )
