"""Cut a 16 kHz stream into speech segments with webrtcvad, one frame at a time.

`Segmenter` is a plain object fed blocks of any size: no thread, no clock but the samples fed, so a
recording replayed through it gives the same segments as the same audio from a microphone, and the
tests drive it without one.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from live.audio import SAMPLE_RATE, rms_dbfs
from live.errors import ConfigError

logger = logging.getLogger("live.vad")


@dataclass
class VadOptions:
    """How speech is found and cut into segments.

    Attributes:
        aggressiveness: webrtcvad mode, 0 (keeps most audio as speech) to 3 (rejects most noise).
        frame_ms: webrtcvad frame length: 10, 20 or 30 ms.
        start_ms: voiced audio (``start_ratio`` of this window) needed to open a segment.
        start_ratio: share of the frames in the ``start_ms`` window that must be voiced.
        preroll_ms: audio kept before the opening window, so the first syllable is not clipped.
        silence_ms: unvoiced audio that closes a segment.
        tail_ms: audio kept after the last voiced frame of a closed segment (at most ``silence_ms``).
        max_segment_s: longest segment; a longer stretch of speech is cut at its quietest frame.
        cut_search_s: how far back from ``max_segment_s`` that quietest frame is looked for.
        cut_ahead_s: when above 0, once the segment is ``max_segment_s - cut_search_s`` long, a frame
            that is the quietest of the ``cut_search_s`` window ending this long after it is cut then
            (the same choice, made sooner); at ``max_segment_s`` the quietest frame is cut as before.
        shrink_after_s: past this length the silence that closes a segment shrinks, linearly, to
            ``min_silence_ms`` at ``max_segment_s``: a lecturer who never stops for half a second still
            breathes, and closing there beats a forced cut (which lands seconds back and costs latency).
        min_silence_ms: the shortest closing silence, reached at ``max_segment_s``.
        min_segment_ms: shortest voiced span (first to last voiced frame) kept; shorter blips
            (a cough, a click) are dropped.
        energy_floor_dbfs: frames quieter than this are unvoiced whatever webrtcvad says (it
            calls faint steady noise speech); -100 disables the floor.
        adapt_floor_ms: when above 0, the closing silence adapts to the speaker: once enough pauses
            inside speech have been heard, it is their 90th percentile plus a margin, between this
            floor and ``silence_ms`` (a speaker who pauses briefly mid-sentence gets captions sooner).
    """

    aggressiveness: int = 2
    frame_ms: int = 30
    start_ms: int = 90
    start_ratio: float = 0.8
    preroll_ms: int = 300
    silence_ms: int = 500
    tail_ms: int = 150
    max_segment_s: float = 15.0
    # 1.5 s, not 3: on run-on talks (ibm_11) a forced cut's final came up to 2.8 s after the cut point;
    # searching half as far back put p95 at 0.9 s with the same WER (benchmarks/forced_cuts.py).
    cut_search_s: float = 1.5
    # Decided 0.5 s after its frame, not at max_segment_s: on the three IBM talks the same WER (72/974
    # words against a long-form decode) and a forced cut's close lag max 0.53 s instead of 1.39 s.
    cut_ahead_s: float = 0.5
    shrink_after_s: float = 6.0
    min_silence_ms: int = 180
    min_segment_ms: int = 250
    energy_floor_dbfs: float = -55.0
    adapt_floor_ms: int = 0

    def __post_init__(self) -> None:
        def bad(what: str) -> ConfigError:
            return ConfigError(f"VAD setting {what}; fix it in the config or on the command line")

        if self.aggressiveness not in (0, 1, 2, 3):
            raise bad(f"aggressiveness must be 0, 1, 2 or 3 (got {self.aggressiveness})")
        if self.frame_ms not in (10, 20, 30):
            raise bad(f"frame_ms must be 10, 20 or 30 (got {self.frame_ms})")
        if not self.frame_ms <= self.start_ms <= 2000:
            raise bad(f"start_ms must be between frame_ms and 2000 (got {self.start_ms})")
        if not 0.0 < self.start_ratio <= 1.0:
            raise bad(f"start_ratio must be in (0, 1] (got {self.start_ratio})")
        if not 0 <= self.preroll_ms <= 5000:
            raise bad(f"preroll_ms must be between 0 and 5000 (got {self.preroll_ms})")
        if not self.frame_ms <= self.silence_ms <= 10000:
            raise bad(f"silence_ms must be between frame_ms and 10000 (got {self.silence_ms})")
        if not 0 <= self.tail_ms <= self.silence_ms:
            raise bad(f"tail_ms must be between 0 and silence_ms (got {self.tail_ms})")
        if not 1.0 <= self.max_segment_s <= 600.0:
            raise bad(f"max_segment_s must be between 1 and 600 (got {self.max_segment_s})")
        if not 0.0 < self.cut_search_s:
            raise bad(f"cut_search_s must be positive (got {self.cut_search_s})")
        if not 0.0 <= self.cut_ahead_s < self.cut_search_s:
            raise bad(f"cut_ahead_s must be at least 0 and below cut_search_s (got {self.cut_ahead_s})")
        if not 0 <= self.min_segment_ms < self.max_segment_s * 1000:
            raise bad(f"min_segment_ms must be between 0 and max_segment_s (got {self.min_segment_ms})")
        if (self.preroll_ms + self.start_ms) * 2 > self.max_segment_s * 1000:
            raise bad(f"preroll_ms + start_ms must be at most half of max_segment_s (got {self.preroll_ms} + "
                      f"{self.start_ms} ms for {self.max_segment_s} s)")
        if not 0 <= self.adapt_floor_ms <= self.silence_ms:
            raise bad(f"adapt_floor_ms must be between 0 and silence_ms (got {self.adapt_floor_ms})")
        if not -100.0 <= self.energy_floor_dbfs <= 0.0:
            raise bad(f"energy_floor_dbfs must be between -100 and 0 (got {self.energy_floor_dbfs})")


@dataclass(frozen=True)
class Segment:
    """A stretch of speech.

    ``start``/``end`` are seconds on the stream's audio clock (samples fed / 16000); ``audio`` is the
    float32 16 kHz audio between them.
    """

    index: int
    start: float
    end: float
    audio: np.ndarray
    speech_end: float | None = None  # the end of its last voiced frame (``end`` adds the kept tail)

    @property
    def duration(self) -> float:
        return self.end - self.start


def _to_pcm16(frame: np.ndarray) -> bytes:
    return (np.clip(frame, -1.0, 32767 / 32768) * 32768.0).astype("<i2").tobytes()


class Segmenter:
    """Streaming speech segmentation: ``feed`` audio, get the segments that closed.

    Speech opens a segment after ``start_ms`` of mostly voiced frames (with ``preroll_ms`` before
    them) and closes it after ``silence_ms`` of unvoiced ones, keeping ``tail_ms`` past the last
    voiced frame. Segments never overlap. A segment about to exceed ``max_segment_s`` is cut in the
    middle of its quietest frame within the last ``cut_search_s``; the rest stays open, so the two
    parts meet at the same sample and no audio is lost or doubled.

    An open segment whose voiced span stays under ``min_segment_ms`` is dropped when it closes: it
    was shown by `open_segment` but never comes out of `feed`, so a partial caption drawn from it
    must be cleared when `in_speech` turns False with no segment returned.
    """

    def __init__(self, options: VadOptions | None = None, *, start_s: float = 0.0, first_index: int = 0) -> None:
        """``start_s``/``first_index``: where the stream's clock and segment numbers begin (a resumed
        session continues its own)."""
        import webrtcvad  # small C extension, but keep the import where it is used

        self.options = opts = options or VadOptions()
        self._vad = webrtcvad.Vad(opts.aggressiveness)
        self._frame = SAMPLE_RATE * opts.frame_ms // 1000
        def frames(ms: float) -> int:
            return max(1, math.ceil(ms / opts.frame_ms))

        self._start_frames = frames(opts.start_ms)
        self._start_needed = max(1, math.ceil(opts.start_ratio * self._start_frames - 1e-9))
        self._preroll_frames = math.ceil(opts.preroll_ms / opts.frame_ms)
        self._silence_frames = frames(opts.silence_ms)
        self._tail_frames = math.ceil(opts.tail_ms / opts.frame_ms)
        self._min_voiced_frames = math.ceil(opts.min_segment_ms / opts.frame_ms)
        self._max_samples = int(opts.max_segment_s * SAMPLE_RATE)
        # Never search more than half a segment back, so a cut always leaves a real first part.
        self._search_frames = max(1, int(min(opts.cut_search_s, opts.max_segment_s / 2) * 1000 / opts.frame_ms))
        self._ahead_frames = min(self._search_frames - 1, round(opts.cut_ahead_s * 1000 / opts.frame_ms))
        # An early cut is looked for once the segment is full but for the search window.
        self._early_samples = self._max_samples - (self._search_frames - self._ahead_frames) * self._frame

        self._remainder = np.zeros(0, dtype=np.float32)  # samples short of a whole frame
        self._base = round(start_s * SAMPLE_RATE)  # the stream's first sample on its clock
        self._samples_fed = 0
        self._frames_done = 0  # frame k covers stream samples [k * frame, (k + 1) * frame)
        self._level = -100.0
        self._voiced_window: deque[bool] = deque(maxlen=self._start_frames)
        # Idle: recent frames (pre-roll plus the opening window), all after the last segment's end.
        self._history: deque[np.ndarray] = deque(maxlen=self._preroll_frames + self._start_frames)
        # Open segment: audio in a buffer sized for the longest segment, so growing it never copies.
        self._buf = np.zeros(self._max_samples + self._frame, dtype=np.float32)
        self._len = 0
        self._seg_start = 0  # stream sample index of _buf[0]
        self._in_speech = False
        self._first_voiced = 0  # frame indices
        self._last_voiced = 0
        self._silence_run = 0
        self._continued = False  # the open segment is the rest of a cut one: never dropped
        self._energies: deque[tuple[int, float]] = deque(maxlen=self._search_frames)
        self._next_index = first_index
        self._pauses: deque[int] = deque(maxlen=64)  # recent pauses inside speech, in frames

    # ---------------------------------------------------------------------------------- state

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def trailing_silence_ms(self) -> int:
        """Unvoiced audio at the end of the open segment; 0 when none is open."""
        return self._silence_run * self.options.frame_ms if self._in_speech else 0

    @property
    def clock(self) -> float:
        """Seconds of audio fed so far."""
        return (self._base + self._samples_fed) / SAMPLE_RATE

    @property
    def horizon(self) -> float:
        """The earliest a segment not open yet can begin: one opening now starts its pre-roll and its
        opening window before ``clock``."""
        lookback = self._history.maxlen * self._frame  # what ``_open`` turns into the segment's start
        return (self._base + self._samples_fed - lookback) / SAMPLE_RATE

    @property
    def level_dbfs(self) -> float:
        """Level of the last whole frame, for the meter."""
        return self._level

    @property
    def open_span(self) -> tuple[int, float, float] | None:
        """(index, start, end) of the open segment without copying its audio; None outside speech."""
        if not self._in_speech:
            return None
        start = self._base + self._seg_start
        return self._next_index, start / SAMPLE_RATE, (start + self._len) / SAMPLE_RATE

    @property
    def tentative_cut(self) -> Segment | None:
        """The segment an early cut (``cut_ahead_s``) closes if no quieter frame comes before it is
        decided, for a decode started ahead of the decision; None while no cut is in sight."""
        ahead = self._ahead_frames
        if not self._in_speech or not ahead or self._len < self._early_samples - ahead * self._frame:
            return None
        candidates = [(e, f) for f, e in self._energies if f * self._frame >= self._seg_start]
        c = min(candidates)[1] if candidates else -1  # cut where no quieter frame comes within ``ahead``
        if c < self._frames_done - 1 - ahead or (c + 1 + ahead) * self._frame - self._seg_start < self._early_samples:
            return None
        return self._segment(self._seg_start, c * self._frame + self._frame // 2)

    @property
    def open_segment(self) -> Segment | None:
        """The growing segment (pre-roll to the last whole frame), or None outside speech."""
        if not self._in_speech:
            return None
        return self._segment(self._seg_start, self._seg_start + self._len)

    # ---------------------------------------------------------------------------------- feeding

    def feed(self, samples: np.ndarray) -> list[Segment]:
        """Add audio (float32 16 kHz mono, any length); returns the segments that closed, in order."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._samples_fed += x.size
        if self._remainder.size:
            x = np.concatenate([self._remainder, x])
        whole = x.size - x.size % self._frame
        closed: list[Segment] = []
        for offset in range(0, whole, self._frame):
            self._step(x[offset:offset + self._frame], closed)
        self._remainder = x[whole:].copy()
        return closed

    def flush(self) -> list[Segment]:
        """Close the open segment now (end of stream, quit, pause); returns it unless it was a blip."""
        closed: list[Segment] = []
        if self._in_speech:
            self._close(closed)
        self._history.clear()
        self._voiced_window.clear()
        return closed

    def _step(self, frame: np.ndarray, closed: list[Segment]) -> None:
        k = self._frames_done
        self._frames_done += 1
        self._level = rms_dbfs(frame)
        voiced = self._level > self.options.energy_floor_dbfs and self._vad.is_speech(
            _to_pcm16(frame), SAMPLE_RATE
        )
        self._voiced_window.append(voiced)
        if not self._in_speech:
            self._history.append(frame.copy())
            if len(self._voiced_window) == self._start_frames and sum(self._voiced_window) >= self._start_needed:
                self._open(k)
            return
        if self._len + self._frame > self._max_samples:
            self._cut(closed)
        self._buf[self._len:self._len + self._frame] = frame
        self._len += self._frame
        self._energies.append((k, float(np.dot(frame, frame))))
        if self._ahead_frames and self._len >= self._early_samples:
            self._cut_early(k, closed)
        if voiced:
            if self._silence_run >= 2:  # a pause inside speech: how this speaker pauses
                self._pauses.append(self._silence_run)
            self._last_voiced = k
            self._silence_run = 0
        else:
            self._silence_run += 1
            if self._silence_run >= self._closing_silence():
                self._close(closed)

    @property
    def closing_silence_ms(self) -> int:
        """The silence that would close the open segment now (it shrinks as the segment grows)."""
        return self._closing_silence() * self.options.frame_ms

    def _base_silence(self) -> int:
        """Frames of silence that end speech for this speaker: ``silence_ms``, or less once their own
        pauses inside speech say they resume sooner (``adapt_floor_ms``)."""
        opts = self.options
        if not opts.adapt_floor_ms or len(self._pauses) < 8:
            return self._silence_frames
        p90 = sorted(self._pauses)[int(0.9 * (len(self._pauses) - 1))]
        floor = max(1, -(-opts.adapt_floor_ms // opts.frame_ms))
        return max(floor, min(self._silence_frames, p90 + 3))  # 90 ms over what this speaker resumes after

    def _closing_silence(self) -> int:
        """Frames of silence that close the open segment: fewer the longer it has grown."""
        opts = self.options
        base = self._base_silence()
        length_s = self._len / SAMPLE_RATE
        if length_s <= opts.shrink_after_s or opts.max_segment_s <= opts.shrink_after_s:
            return base
        least = max(1, min(base, -(-opts.min_silence_ms // opts.frame_ms)))
        share = min(1.0, (length_s - opts.shrink_after_s) / (opts.max_segment_s - opts.shrink_after_s))
        return max(least, round(base - share * (base - least)))

    def _open(self, k: int) -> None:
        """Open a segment whose opening window ends with frame ``k``; history becomes its audio."""
        frames = list(self._history)
        self._history.clear()
        audio = np.concatenate(frames)
        self._buf[: audio.size] = audio
        self._len = audio.size
        self._seg_start = (k + 1) * self._frame - audio.size
        window_start = k + 1 - self._start_frames
        self._first_voiced = window_start + self._voiced_window.index(True)
        self._last_voiced = k
        self._silence_run = 0
        self._continued = False
        self._in_speech = True
        self._energies.clear()
        first = self._seg_start // self._frame
        for i, f in enumerate(frames):
            self._energies.append((first + i, float(np.dot(f, f))))

    def _close(self, closed: list[Segment]) -> None:
        """End the open segment a tail past its last voiced frame; the silence after it is history."""
        seg_end = self._seg_start + self._len
        end = min((self._last_voiced + 1 + self._tail_frames) * self._frame, seg_end)
        voiced_frames = self._last_voiced - self._first_voiced + 1
        if end > self._seg_start and (self._continued or voiced_frames >= self._min_voiced_frames):
            closed.append(self._emit(self._seg_start, end))
        elif end > self._seg_start:
            logger.debug("dropped a %d ms blip at %.2f s", voiced_frames * self.options.frame_ms,
                         self._seg_start / SAMPLE_RATE)
        # Whole frames after the segment's end stay available as pre-roll for the next one.
        keep_from = -(-max(end, self._seg_start) // self._frame) * self._frame
        for s in range(keep_from, seg_end, self._frame):
            i = s - self._seg_start
            self._history.append(self._buf[i:i + self._frame].copy())
        self._in_speech = False
        self._continued = False
        self._len = 0
        self._silence_run = 0

    def _cut(self, closed: list[Segment]) -> None:
        """Split an over-long segment in the middle of its quietest recent frame; the rest stays open."""
        candidates = [(e, k) for k, e in self._energies if k * self._frame >= self._seg_start]
        if candidates:
            _, k = min(candidates)
            cut = k * self._frame + self._frame // 2
        else:  # cannot happen with a search window shorter than the segment; cut at the end
            cut = self._seg_start + self._len
        closed.append(self._emit(self._seg_start, cut))
        rest = self._seg_start + self._len - cut
        self._buf[:rest] = self._buf[cut - self._seg_start:self._len]
        self._len = rest
        self._seg_start = cut
        self._continued = True

    def _cut_early(self, k: int, closed: list[Segment]) -> None:
        """Cut now if the frame ``cut_ahead_s`` back is the quietest of the search window ending here."""
        candidates = [(e, f) for f, e in self._energies if f * self._frame >= self._seg_start]
        if len(candidates) == self._search_frames and min(candidates)[1] == k - self._ahead_frames:
            self._cut(closed)

    def _segment(self, start: int, end: int) -> Segment:
        i, j = start - self._seg_start, end - self._seg_start
        voiced = min(end, (self._last_voiced + 1) * self._frame)
        return Segment(
            index=self._next_index,
            start=(self._base + start) / SAMPLE_RATE,
            end=(self._base + end) / SAMPLE_RATE,
            audio=self._buf[i:j].copy(),
            speech_end=(self._base + max(start, voiced)) / SAMPLE_RATE,
        )

    def _emit(self, start: int, end: int) -> Segment:
        segment = self._segment(start, end)
        self._next_index += 1
        return segment
