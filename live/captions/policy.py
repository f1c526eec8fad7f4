"""The streaming policy: VAD segments in, decode jobs out, partial and final captions back.

SenseVoice is not a streaming model. While a segment is open it is re-decoded as soon as the previous
decode has finished (a *partial*, shown, never saved); when the segment closes it is decoded once more
(a *final*, saved). One decode is in flight at a time, so the decoder paces the partials, not a timer.
Pending finals go first; finals are never dropped, duplicated or reordered. Once an open segment has
gone quiet it is decoded *speculatively*: if the VAD then closes it with no more speech, that decode
is its final, and most of the decode has overlapped the silence the VAD waited for.

The policy is a plain object: ``step`` says what to show now and what to decode next, ``complete``
takes the decode's result, ``obsolete`` tells a running decode that is no longer wanted (a partial
whose segment has closed: the final must not wait behind it). The session runs the decodes on a
thread of its own; tests and file transcription drive it in one thread, like whisper_streaming's
OnlineASRProcessor::

    captioner.insert_audio(block)      # any block length
    for caption in captioner.process_iter(behind=False): ...
    for caption in captioner.finish(): ...

``behind``: audio is already waiting to be read, so no partial (and no speculative decode) starts;
finals only, until the decoder has caught up. With ``BatchOptions`` closed segments are merged into
decode batches first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from live.asr.base import Engine, Transcription
from live.audio import SAMPLE_RATE
from live.captions.batching import Batch, Batcher, BatchOptions
from live.captions.caption import Caption
from live.textnorm import TextNormalizer, TextOptions
from live.vad import Segment, Segmenter

DecodeRecord = Callable[[str, float, float], None]  # (kind, audio seconds, wall seconds)
Key = tuple[int, float]  # (segment index, start): a dropped blip's index is reused by the next segment


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
        speculate_cuts: decode the segment a forced cut in sight would close while the cut is decided
            (live.vad ``cut_ahead_s``); it is decoded again if the cut moves, so the lag governor turns
            this off first.
        partial_window_s: a partial decodes at most this much of the end of the open segment (0: all
            of it): the latest words are what the partial line shows, and a long segment's partial
            then costs no more than a short one's. Finals and speculative decodes take the whole segment.
        script: how Chinese is written in every caption (live.textnorm.TextOptions: None writes Mandarin
            in simplified characters and keeps Cantonese as recognized).
    """

    partials: bool = True
    speculate_ms: int = 240
    min_growth_s: float = 0.3
    min_partial_s: float = 0.5
    quiet_ms: int = 150
    speculate_cuts: bool = True
    partial_window_s: float = 0.0
    script: str | None = None


@dataclass(frozen=True)
class DecodeJob:
    """One decode to run: ``audio`` for the engine, and what its result becomes."""

    kind: Literal["final", "partial", "speculative"]
    segment: Segment
    key: Key
    voiced_end: float | None = None  # speculative: the speech it heard ends here
    cut_end: float | None = None  # speculative: of the segment a forced cut about to be decided closes
    window_s: float = 0.0  # a partial: decode only this much of the end

    @property
    def audio(self) -> np.ndarray:
        if self.window_s > 0:
            return self.segment.audio[-int(self.window_s * SAMPLE_RATE):]
        return self.segment.audio


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
        batching: BatchOptions | None = None,
        on_decode: DecodeRecord | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.engine = engine
        self.language = language
        self.options = options or CaptionOptions()
        self.text = TextNormalizer(TextOptions(self.options.script))  # every engine's text goes through it
        self._clock = clock or (lambda: segmenter.clock)
        self._batcher = Batcher(batching) if batching is not None and batching.max_batch_s > 0 else None
        self._on_decode = on_decode
        self._pending: deque[Segment] = deque()
        self._partial_key: Key | None = None  # the open segment whose partial is shown
        self._partial_end = 0.0
        self._spec: tuple[DecodeJob, Caption] | None = None  # a speculative decode and its caption
        self.reused_finals = 0
        self.segments = 0  # closed segments taken in
        self.batches = 0  # batches made of them (with BatchOptions)
        self.final_decodes = 0

    # -- audio in --------------------------------------------------------------------------------

    @property
    def pending_finals(self) -> int:
        return len(self._pending)

    @property
    def pending_start(self) -> float | None:
        """Where the oldest segment waiting for its final decode starts (None: none waits)."""
        return self._pending[0].start if self._pending else None

    @property
    def pending_speech_end(self) -> float | None:
        """Where the speech of the oldest segment waiting for its final ended (None: none waits)."""
        if not self._pending:
            return None
        seg = self._pending[0]
        return seg.speech_end if seg.speech_end is not None else seg.end

    @property
    def pending_audio_s(self) -> float:
        """Seconds of closed speech waiting for its final decode (what falling behind costs in memory)."""
        return sum(seg.duration for seg in self._pending)

    def drop_beyond(self, seconds: float) -> list[Segment]:
        """Give up on the oldest waiting finals until at most ``seconds`` of speech wait (the session
        is too far behind to keep their audio); the segments given up on."""
        dropped = []
        while self._pending and self.pending_audio_s > seconds:
            dropped.append(self._pending.popleft())
        return dropped

    def insert_audio(self, samples: np.ndarray) -> None:
        self._take(self.segmenter.feed(samples))

    def close_segment(self) -> None:
        """End the open segment now (pause, quit, end of input); its final comes from the next steps."""
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

    # -- deciding ------------------------------------------------------------------------------------

    def step(self, behind: bool = False) -> tuple[list[Caption], DecodeJob | None]:
        """What to show now (a final from a speculative decode, a blip's partial taken off) and what to
        decode next, if anything. Call it when no decode of this captioner is running."""
        if self.engine is None:
            return [], None
        if self._pending:
            self._partial_key = None
            seg = self._pending[0]
            reused = self._take_speculation(seg)
            if reused is not None:
                self._pending.popleft()
                return [reused], None
            return [], DecodeJob("final", seg, (seg.index, seg.start))
        span = self.segmenter.open_span
        if span is None:
            if self._partial_key is not None and self.options.partials:
                # The open segment was a blip too short to keep: take its partial off the screen.
                cleared = Caption("partial", self._partial_end, self._partial_end, "", emitted=self._clock(),
                                  index=self._partial_key[0])
                self._partial_key = None
                return [cleared], None
            return [], None
        if behind:
            return [], None
        index, start, end = span
        key = (index, start)
        silence = self.segmenter.trailing_silence_ms
        voiced_end = self._quiet_enough()
        if voiced_end is not None:
            if not self._speculated(key, voiced_end=voiced_end):
                self._partial_key, self._partial_end = key, end
                return [], DecodeJob("speculative", self.segmenter.open_segment, key, voiced_end)
        else:
            cut_end = self._cut_in_sight()
            if cut_end is not None:  # a run-on speaker's forced cut: its final decoded while the cut is decided
                if self._speculated(key, cut_end=cut_end):
                    return [], None
                self._partial_key, self._partial_end = key, end
                return [], DecodeJob("speculative", self.segmenter.tentative_cut, key, cut_end=cut_end)
        if not self.options.partials:
            return [], None
        grown = end - (self._partial_end if key == self._partial_key else start)
        if end - start < self.options.min_partial_s or grown < self.options.min_growth_s \
                or silence >= self.options.quiet_ms:
            return [], None
        self._partial_key, self._partial_end = key, end
        return [], DecodeJob("partial", self.segmenter.open_segment, key, window_s=self.options.partial_window_s)

    def obsolete(self, job: DecodeJob) -> bool:
        """True when a running decode is no longer wanted: a partial once a final is waiting, a
        speculative decode of speech that went on or closed elsewhere. A final never is."""
        if job.kind == "final":
            return False
        if job.kind == "partial":
            # A final waits, the segment has gone quiet or a cut is in sight: a speculative decode takes over.
            return bool(self._pending) or self._quiet_enough() is not None or self._cut_in_sight() is not None
        if self._pending:
            return not self._matches(self._pending[0], job)
        span = self.segmenter.open_span
        if span is None or (span[0], span[1]) != job.key:
            return True
        if job.cut_end is not None:  # a quieter frame came: the cut will be elsewhere
            cut_end = self._cut_in_sight()
            return cut_end is None or abs(cut_end - job.cut_end) > 1e-6
        return self.segmenter.trailing_silence_ms == 0  # speech resumed: what it heard is not the end

    def _cut_in_sight(self) -> float | None:
        """Where a forced cut about to be decided falls (live.vad ``cut_ahead_s``), if one is in sight."""
        if not self.options.speculate_ms or not self.options.speculate_cuts or self._batcher is not None:
            return None
        return self.segmenter.tentative_cut_end

    def _speculated(self, key: Key, *, voiced_end: float | None = None, cut_end: float | None = None) -> bool:
        """Whether the last speculative decode was of this very ending (it need not run again)."""
        if self._spec is None:
            return False
        job = self._spec[0]
        return (job.key, job.voiced_end, job.cut_end) == (key, voiced_end, cut_end)

    def _quiet_enough(self) -> float | None:
        """Where the open segment's speech ended, once it has been quiet long enough to decode it
        speculatively; None before. A long segment closes after a shorter silence, so this comes
        earlier for it, early enough to beat the close."""
        if not self.options.speculate_ms or self._batcher is not None:
            return None
        span = self.segmenter.open_span
        silence = self.segmenter.trailing_silence_ms
        speculate_at = min(self.options.speculate_ms, self.segmenter.closing_silence_ms - 90)
        if span is None or silence < max(60, speculate_at):
            return None
        return span[2] - silence / 1000

    def complete(self, job: DecodeJob, result: Transcription | None, wall_s: float = 0.0) -> list[Caption]:
        """Take a decode's result (None: it was cancelled, or it failed — a final then stays queued)."""
        if result is None:
            return []
        if self._on_decode is not None:
            self._on_decode(job.kind, len(job.audio) / SAMPLE_RATE, wall_s)
        seg = job.segment
        text = self.text(result.text, result.language or (None if self.language == "auto" else self.language))
        caption = Caption(
            kind="final" if job.kind == "final" else "partial", start=seg.start, end=seg.end, text=text,
            language=result.language, emotion=result.emotion, events=result.events, emitted=self._clock(),
            index=seg.index, speech_end=seg.speech_end,
        )
        if job.kind == "final":
            if self._pending and self._pending[0] is seg:
                self._pending.popleft()
            self.final_decodes += 1
            return [caption]
        if job.kind == "speculative":
            self._spec = (job, caption)
            if self._pending:  # it closed while this ran: the decode may be its final already
                reused = self._take_speculation(self._pending[0])
                if reused is not None:
                    self._pending.popleft()
                    return [reused]
            return [caption] if caption.text and self.options.partials and not self._pending else []
        if self._pending or (seg.index, seg.start) != self._partial_key:
            return []  # its segment closed meanwhile: the final is what counts now
        return [caption] if caption.text else []

    def _matches(self, seg: Segment, job: DecodeJob) -> bool:
        """Same segment, closed by silence right after the speech a speculative decode heard, or cut
        where that decode's audio ends (a segment cut elsewhere, or where speech resumed, differs)."""
        if job.key != (seg.index, seg.start):
            return False
        if job.cut_end is not None:
            return abs(seg.end - job.cut_end) <= 1e-6
        frame = self.segmenter.options.frame_ms / 1000
        return seg.speech_end is not None and abs(seg.speech_end - (job.voiced_end or 0.0)) <= frame + 1e-6

    def _take_speculation(self, seg: Segment) -> Caption | None:
        spec = self._spec
        if spec is None or self._batcher is not None:
            return None
        job, caption = spec
        if (seg.index, seg.start) != job.key:
            return None
        self._spec = None
        if not self._matches(seg, job):
            return None
        self.reused_finals += 1
        return replace(caption, kind="final", end=seg.end, emitted=self._clock(), speech_end=seg.speech_end)

    # -- driving it in one thread ----------------------------------------------------------------------

    def process_iter(self, behind: bool = False) -> list[Caption]:
        """At most one decode, run here; what it produced (possibly nothing). A decode that raises
        leaves its final queued and the exception propagates."""
        captions, job = self.step(behind)
        if job is not None:
            assert self.engine is not None
            began = time.perf_counter()
            result = self.engine.transcribe(job.audio, self.language)
            captions += self.complete(job, result, time.perf_counter() - began)
        return captions

    def finish(self) -> list[Caption]:
        """Close the open segment and decode every pending final."""
        self.close_segment()
        out: list[Caption] = []
        while self._pending and self.engine is not None:
            out.extend(self.process_iter())
        return out
