"""Closed segments merged into decode batches (file transcription): SenseVoice costs ~0.6 s a call
however short the audio, and its real-time factor falls from 0.33 at 2 s to 0.12 at 30 s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from live.errors import ConfigError
from live.vad import Segment


@dataclass
class BatchOptions:
    """How closed segments are merged into decode calls (file transcription; live captions decode
    each segment alone so that it shows as soon as it is said).

    Attributes:
        max_batch_s: longest merged audio; 0 decodes each segment alone (the live path's way).
        max_gap_s: a pause longer than this between two segments ends the batch, so a caption never
            spans a long silence (its cues are timed across its whole span).
        voice_change: ``(earlier, later)`` True when two adjacent segments are different voices (the
            speaker labels' test): the batch ends there, so a question is never one caption with the
            lecture around it. None: voices are not looked at.
    """

    max_batch_s: float = 28.0  # under Whisper's 30 s window, so a batch is one window
    max_gap_s: float = 2.5
    voice_change: Callable[[Segment, Segment], bool] | None = field(default=None, compare=False, repr=False)

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
            if gap > self.options.max_gap_s or self._length + segment.duration > self.options.max_batch_s or (
                    self.options.voice_change is not None and self.options.voice_change(self._open[-1], segment)):
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
