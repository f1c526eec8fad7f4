"""The segmenter: webrtcvad frame by frame, segments opened, closed and cut (see ``live.vad``)."""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from live.audio import SAMPLE_RATE, rms_dbfs
from live.vad.options import VadOptions

logger = logging.getLogger("live.vad")


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
        self._energies: deque[tuple[int, float]] = deque()  # (frame, energy) of the search window
        self.limit(opts.max_segment_s)

        self._remainder = np.zeros(0, dtype=np.float32)  # samples short of a whole frame
        self._base = round(start_s * SAMPLE_RATE)  # the stream's first sample on its clock
        self._samples_fed = 0
        self._frames_done = 0  # frame k covers stream samples [k * frame, (k + 1) * frame)
        self._level = -100.0
        self._voiced_window: deque[bool] = deque(maxlen=self._start_frames)
        # Idle: recent frames (pre-roll plus the opening window), all after the last segment's end.
        self._history: deque[np.ndarray] = deque(maxlen=self._preroll_frames + self._start_frames)
        # Open segment: audio in a buffer sized for the longest segment, so growing it never copies.
        self._buf = np.zeros(int(opts.max_segment_s * SAMPLE_RATE) + self._frame, dtype=np.float32)
        self._len = 0
        self._seg_start = 0  # stream sample index of _buf[0]
        self._in_speech = False
        self._first_voiced = 0  # frame indices
        self._last_voiced = 0
        self._silence_run = 0
        self._continued = False  # the open segment is the rest of a cut one: never dropped
        self._next_index = first_index
        self._pauses: deque[int] = deque(maxlen=64)  # recent pauses inside speech, in frames

    def limit(self, max_segment_s: float) -> None:
        """Cut segments at ``max_segment_s`` from now on, at most the options' own (the lag governor
        shortens them while captions are behind: a shorter segment's final decodes sooner)."""
        opts = self.options
        self.max_segment_s = min(max(1.0, max_segment_s), opts.max_segment_s)
        self._max_samples = int(self.max_segment_s * SAMPLE_RATE)
        # Never search more than half a segment back, so a cut always leaves a real first part.
        self._search_frames = max(1, int(min(opts.cut_search_s, self.max_segment_s / 2) * 1000 / opts.frame_ms))
        self._ahead_frames = min(self._search_frames - 1, round(opts.cut_ahead_s * 1000 / opts.frame_ms))
        # An early cut is looked for once the segment is full but for the search window.
        self._early_samples = self._max_samples - (self._search_frames - self._ahead_frames) * self._frame
        self._energies = deque(self._energies, maxlen=self._search_frames)

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
    def tentative_cut_end(self) -> float | None:
        """Where an early cut (``cut_ahead_s``), or the cut of the full segment, falls if no quieter frame
        comes before it is decided (stream seconds); None while no cut is in sight. Cheap: no audio is copied."""
        cut = self._tentative_cut()
        return None if cut is None else (self._base + cut) / SAMPLE_RATE

    @property
    def tentative_cut(self) -> Segment | None:
        """The segment that cut would close, for a decode started ahead of the decision."""
        cut = self._tentative_cut()
        return None if cut is None else self._segment(self._seg_start, cut)

    def _tentative_cut(self) -> int | None:
        ahead = self._ahead_frames
        if not self._in_speech or not ahead or self._len < self._early_samples - ahead * self._frame:
            return None
        c = self._quietest()[0]  # cut where no quieter frame comes within ``ahead``
        if c < self._frames_done - 1 - ahead or (c + 1 + ahead) * self._frame - self._seg_start < self._early_samples:
            # The quietest frame is too early to cut: it holds the early cut off, and the cut falls when
            # the segment is full, at the quietest frame of the last search window, unless one quieter comes.
            c = self._quietest(self._seg_start + self._max_samples - self._search_frames * self._frame)[0]
            if c < 0:
                return None
        return c * self._frame + self._frame // 2

    def _quietest(self, since: int = 0) -> tuple[int, int]:
        """The quietest frame of the search window inside the open segment (-1 if none), and how
        many frames were looked at. ``since``: only frames from this sample on."""
        since = max(since, self._seg_start)
        candidates = [(e, f) for f, e in self._energies if f * self._frame >= since]
        return (min(candidates)[1] if candidates else -1), len(candidates)

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
        if length_s <= opts.shrink_after_s or self.max_segment_s <= opts.shrink_after_s:
            return base
        least = max(1, min(base, -(-opts.min_silence_ms // opts.frame_ms)))
        share = min(1.0, (length_s - opts.shrink_after_s) / (self.max_segment_s - opts.shrink_after_s))
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
        k = self._quietest()[0]
        if k >= 0:
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
        quietest, looked_at = self._quietest()
        if looked_at == self._search_frames and quietest == k - self._ahead_frames:
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
