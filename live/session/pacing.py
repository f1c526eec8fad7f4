"""The lag governor applied to one session: the captioner's options shed or restored, the segments
shortened, and a faster engine standing in for the session's own while the captions catch up
(``live.session.governor`` decides; this carries it out, between two decodes).

Sessions that share one decoder (the server's streams) also share a ``SharedPace``: one governor over
the worst lag among them, whose level each of them keeps at least. Their lags rise together when the
decoder is full, and shedding one stream's work helps the others; alone, each would wait to fall
behind on its own before shedding, one step every few seconds. It also counts a lag not there yet:
streams of one lecture, or of speakers who never pause, fill their segments at about the same moment,
and their finals then queue for the decoder one after another — on average for half the time it takes
to decode one full segment of each (their "burst", read from the decoder's recent calls). On 2 cores,
8 streams of full-size SenseVoice int8 make a burst of ~5 s, which shed only once finals were late came
too late for the first one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from live.events import EngineState, Notice
from live.session.governor import FASTER_ENGINE, FINALS_ONLY, FULL, LEVELS, GovernorOptions, LagGovernor

if TYPE_CHECKING:
    from live.asr.base import Engine
    from live.captions import Captioner
    from live.session.loading import EngineLoader

log = logging.getLogger("live.session")

# (the running engine, the session language) -> the loader of a faster engine for it, or None
FasterEngine = Callable[["Engine", "str | None"], "EngineLoader | None"]


class SharedPace:
    """One governor for the sessions sharing a decoder: fed each one's lag, it judges the worst.
    Never the engine step (the decoder's model is shared). Any thread; a monotonic clock of its own,
    since each session's stream clock starts at its own zero."""

    def __init__(self, options: GovernorOptions | None = None, *, clock: Callable[[], float] = time.monotonic,
                 decode_time: Callable[[float], float | None] = lambda audio_s: None) -> None:
        """``decode_time``: how long the decoder takes for so many seconds of audio lately (None: not known)."""
        self.governor = LagGovernor(options, faster_engine=False)
        self._clock = clock
        self._decode_time = decode_time
        self._sessions: dict[int, tuple[float, float]] = {}  # id -> (lag, its own longest segment)
        self._lock = threading.Lock()

    def burst_s(self) -> float:
        """How long the decoder takes for one full segment of every session sharing it."""
        return sum(self._decode_time(segment) or 0.0 for _, segment in self._sessions.values())

    def report(self, who: object, lag_s: float, segment_s: float = 0.0) -> int:
        """``who``'s lag now and its own longest segment; the level every session keeps at least."""
        with self._lock:
            self._sessions[id(who)] = (lag_s, segment_s)
            worst = max(lag for lag, _ in self._sessions.values())
            burst = self.burst_s()
            lag = max(worst, burst / 2)
            change = self.governor.observe(self._clock(), lag)
            if change is not None:
                log.info("%d sessions sharing the decoder (worst lag %.1f s, a burst of their cuts %.1f s): %s",
                         len(self._sessions), worst, burst, change.describe(lag))
            return self.governor.level

    def leave(self, who: object) -> None:
        with self._lock:
            self._sessions.pop(id(who), None)

    @property
    def level(self) -> int:
        return self.governor.level


class Pacer:
    """``tick`` each status round: the events to show and, at the last step, a loader to start."""

    def __init__(self, captioner: Captioner, options: GovernorOptions | None = None,
                 faster_engine: FasterEngine | None = None, *,
                 decode_time: Callable[[float], float | None] = lambda audio_s: None) -> None:
        """``decode_time``: how long a decode of so many seconds of audio takes lately (None: not known)."""
        self.captioner = captioner
        self._decode_time = decode_time
        self.governor = LagGovernor(options)
        self.own_captions = captioner.options  # what the governor sheds from and restores to
        self.own_engine: Engine | None = None  # the session's engine while a faster one stands in
        self._faster_engine = faster_engine
        self.shared: SharedPace | None = None  # set by a front end whose sessions share a decoder
        self.level = FULL  # the level applied: the governor's, or the shared one's if deeper
        self._slow = False  # a full segment's decode alone is past the point of shedding

    @property
    def shed(self) -> str | None:
        """What is shed now, for the status bar (None: nothing)."""
        return None if self.level == FULL else LEVELS[self.level]

    def tick(self, now: float, lag: float) -> tuple[list[object], EngineLoader | None]:
        governor, engine = self.governor, self.captioner.engine
        faster = None
        if self._faster_engine is not None and engine is not None and governor.level >= FINALS_ONLY:
            faster = self._faster_engine(self.own_engine or engine, self.captioner.language)
        governor.faster_engine = faster is not None or self.own_engine is not None
        own_segment = self.captioner.segmenter.options.max_segment_s
        full_decode = self._decode_time(own_segment)  # one fit of the recent decodes per tick
        governor.shorter_segments = self._shorter_helps(own_segment, full_decode)
        full = self._full_segment_s(full_decode)
        change = governor.observe(now, max(lag, full))
        floor = self.shared.report(self, lag, own_segment) if self.shared is not None else FULL
        level = max(governor.level, floor)
        if level == self.level:
            return [], None
        self._apply(level)
        events: list[object] = []
        if change is not None and change.level == level and change.shed and full > lag:
            events.append(Notice("information", f"decoding is slow here (a {own_segment:g} s segment takes "
                                                f"{full:.1f} s): {change.name} until it is faster"))
        elif change is not None and change.level == level:
            events.append(Notice("information", change.describe(lag)))
        elif level > FULL:
            events.append(Notice("information", f"the server is busy: {LEVELS[level]} until it catches up"))
        else:
            events.append(Notice("information", "caught up: full service"))
        if change is not None and change.level == FASTER_ENGINE and faster is not None:
            self.own_engine = engine
            return events, faster
        if change is not None and change.previous == FASTER_ENGINE and self.own_engine is not None:
            own, self.own_engine = self.own_engine, None
            self.captioner.engine = own
            events.append(EngineState("ready", f"back to {own.model}", own.name, own.model))
        return events, None

    def _shorter_helps(self, own_segment: float, full: float | None) -> bool:
        """Whether shorter segments decode much sooner with this engine, as its recent decodes say
        (SenseVoice: about in proportion; Whisper: hardly, its window is at least 15 s)."""
        short = self._decode_time(min(own_segment, self.governor.options.short_segment_s))
        return full is not None and short is not None and short < 0.75 * full

    def _full_segment_s(self, full: float | None) -> float:
        """``full`` (how long a final of one full segment takes to decode now), when that alone is past the point
        of shedding (else 0). A lecturer who hardly pauses is cut every ~15 s and the lag shows only
        after each cut: on one core shared with a busy program (SenseVoice int8, 14 s segments decoded
        in 2-3 s), stepping one level per cut took a minute to reach shorter segments."""
        full = full or 0.0
        options = self.governor.options  # the same hysteresis as the lag's: no flapping at the edge
        self._slow = full > options.shed_s or (self._slow and full > options.restore_s)
        return full if self._slow else 0.0

    def _apply(self, level: int) -> None:
        self.level = level
        self.captioner.options = self.governor.captions(self.own_captions, level)
        segmenter = self.captioner.segmenter
        segmenter.limit(self.governor.max_segment_s(segmenter.options.max_segment_s, level))

    def leave(self) -> None:
        if self.shared is not None:
            self.shared.leave(self)

    @property
    def standing_in(self) -> bool:
        """Whether a faster engine is wanted in place of the session's own right now."""
        return self.own_engine is not None
