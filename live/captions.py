"""The streaming policy: VAD segments in, partial and final captions out.

SenseVoice is not a streaming model. While a segment is open it is re-decoded as soon as the previous
decode has finished (a *partial*, shown, never saved); when the segment closes it is decoded once more
(a *final*, saved). At most one decode is in flight because this object is driven from one thread, so
the decoder paces the partials, not a timer. When the machine falls behind, pending finals go first and
partials are skipped; finals are never dropped, duplicated or reordered.

Drive it without a microphone, like whisper_streaming's OnlineASRProcessor::

    captioner.insert_audio(block)      # any block length
    for caption in captioner.process_iter(): ...
    for caption in captioner.finish(): ...
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
        emitted: the audio-clock second at which the caption was produced; ``emitted - end`` is its latency.
        index: the segment number; a final replaces the partials of the same index.
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

    @property
    def latency(self) -> float:
        return self.emitted - self.end

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
        }

    @classmethod
    def from_json(cls, obj: dict) -> Caption:
        return cls(
            kind=obj["type"], start=float(obj["start"]), end=float(obj["end"]), text=obj.get("text", ""),
            language=obj.get("language"), emotion=obj.get("emotion"), events=tuple(obj.get("events") or ()),
            emitted=float(obj.get("emitted", obj["end"])), index=int(obj.get("index", 0)),
        )


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


class Captioner:
    """Turns a segmenter's output into captions with one engine, one decode at a time."""

    def __init__(
        self,
        segmenter: Segmenter,
        engine: Engine | None = None,
        *,
        language: str = "auto",
        options: CaptionOptions | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.engine = engine
        self.language = language
        self.options = options or CaptionOptions()
        self._clock = clock or (lambda: segmenter.clock)
        self._pending: deque[Segment] = deque()
        self._partial_key: tuple[int, float] | None = None  # the open segment whose partial is shown
        self._partial_end = 0.0
        self._spec: tuple[tuple[int, float], float, Caption] | None = None  # (key, voiced end, caption)
        self.reused_finals = 0
        self.decode_times: list[tuple[str, float, float]] = []  # (kind, audio s, wall s), for benchmarks

    @property
    def pending_finals(self) -> int:
        return len(self._pending)

    def insert_audio(self, samples: np.ndarray) -> None:
        self._pending.extend(self.segmenter.feed(samples))

    def close_segment(self) -> None:
        """End the open segment now (pause, quit, end of input); its final comes from process_iter."""
        self._pending.extend(self.segmenter.flush())

    def process_iter(self) -> list[Caption]:
        """Do at most one decode and return what it produced (possibly nothing)."""
        if self.engine is None:
            return []
        if self._pending:
            self._partial_key = None
            seg = self._pending.popleft()
            reused = self._take_speculation(seg)
            return [reused if reused is not None else self._decode(seg, "final")]
        seg = self.segmenter.open_segment
        if seg is None:
            if self._partial_key is not None and self.options.partials:
                # The open segment was a blip too short to keep: take its partial off the screen.
                cleared = Caption("partial", self._partial_end, self._partial_end, "", emitted=self._clock(),
                                  index=self._partial_key[0])
                self._partial_key = None
                return [cleared]
            return []
        # Keyed by (index, start): a dropped blip's index is reused by the next segment.
        key = (seg.index, seg.start)
        silence = self.segmenter.trailing_silence_ms
        # A long segment closes after a shorter silence: speculate early enough to beat it.
        speculate_at = min(self.options.speculate_ms, self.segmenter.closing_silence_ms - 90)
        if self.options.speculate_ms and silence >= max(60, speculate_at):
            voiced_end = seg.end - silence / 1000
            if self._spec is None or self._spec[:2] != (key, voiced_end):
                return self._speculate(seg, key, voiced_end)
        if not self.options.partials:
            return []
        grown = seg.end - (self._partial_end if key == self._partial_key else seg.start)
        if (
            seg.end - seg.start < self.options.min_partial_s
            or grown < self.options.min_growth_s
            or silence >= self.options.quiet_ms
        ):
            return []
        self._partial_key, self._partial_end = key, seg.end
        caption = self._decode(seg, "partial")
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
        return replace(caption, kind="final", end=seg.end, emitted=self._clock())

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
        self.decode_times.append((label or kind, len(seg.audio) / SAMPLE_RATE, time.perf_counter() - began))
        return Caption(
            kind=kind, start=seg.start, end=seg.end, text=result.text, language=result.language,
            emotion=result.emotion, events=result.events, emitted=self._clock(), index=seg.index,
        )
