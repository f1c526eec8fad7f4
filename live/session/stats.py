"""Where a session's time and CPU went, in memory that does not grow with the lecture.

``live bench`` reads these back (``--stats-file``). Decodes are kept as running sums per kind and length
bin, plus the most recent ones for plots; nothing is kept per decode for the whole session.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field

LENGTH_BINS = ((0, 2), (2, 5), (5, 10), (10, 30), (30, 3600))  # seconds of audio in one decode
RECENT_DECODES = 2000
LAG_EVERY_S = 0.25  # stream seconds between two samples of the lag (bench's plot of lag over time)


def length_bin(audio_s: float) -> str:
    for lo, hi in LENGTH_BINS:
        if audio_s < hi:
            return f"{lo}-{hi}"
    return f"{LENGTH_BINS[-1][0]}-"


class DecodeCost:
    """How long a decode of so many seconds of audio takes lately, from the decodes recorded (a
    session's own, or a shared decoder's calls). Any thread.

    A decode costs a fixed part and a part per second of audio: a line fitted to the recent decodes
    of a second or more. Whisper's fixed part is most of it (it decodes at least a 15 s window),
    SenseVoice's is small, so neither is scaled from a short piece as if it were the other (as an
    average of seconds decoded per second, which the server kept before, scales Whisper's)."""

    def __init__(self, keep: int = 20) -> None:
        self._recent: deque[tuple[float, float]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, audio_s: float, wall_s: float) -> None:
        if audio_s >= 1.0:  # shorter: mostly the call's own overhead
            with self._lock:
                self._recent.append((audio_s, wall_s))

    def time(self, audio_s: float) -> float | None:
        """Seconds to decode ``audio_s`` seconds now (None: too few decodes to tell)."""
        with self._lock:
            points = list(self._recent)
        if len(points) < 3:
            return None
        mean_a = sum(a for a, _ in points) / len(points)
        mean_w = sum(w for _, w in points) / len(points)
        spread = sum((a - mean_a) ** 2 for a, _ in points)
        if spread < len(points) * 1.0:  # all about one length: no slope to see, scale only from near it
            near = [w * audio_s / a for a, w in points if a >= 0.6 * audio_s]
            return statistics.median(near) if near else None
        per_s = max(0.0, sum((a - mean_a) * (w - mean_w) for a, w in points) / spread)
        return max(0.0, mean_w - per_s * mean_a) + per_s * audio_s


@dataclass
class SessionStats:
    """Figures of one session, updated by the worker thread only."""

    started: float = field(default_factory=time.monotonic)
    engine_ready_s: float | None = None  # since the worker started
    first_final_s: float | None = None
    max_backlog_s: float = 0.0
    max_lag_s: float = 0.0  # the longest the oldest uncaptioned speech waited (live.session.governor)
    governor_steps: int = 0  # levels shed or restored
    deepest_shed: str | None = None  # the most the governor shed in this session
    lag_samples: deque = field(default_factory=lambda: deque(maxlen=RECENT_DECODES))  # (clock, lag s, behind s)
    input_latency_s: float = 0.0  # the source's own (PortAudio's, for a microphone)
    overflows: int = 0
    finals: int = 0
    # Process CPU and wall seconds once the model is loaded: busy (speech, a queued final or a decode)
    # or idle (what a silent classroom costs).
    cpu_speech_s: float = 0.0
    wall_speech_s: float = 0.0
    cpu_silence_s: float = 0.0
    wall_silence_s: float = 0.0
    decode_s: float = 0.0  # wall seconds spent decoding, all kinds
    # "kind length-bin" -> [decodes, audio s, wall s]
    decode_bins: dict[str, list[float]] = field(default_factory=dict)
    recent_decodes: deque = field(default_factory=lambda: deque(maxlen=RECENT_DECODES))  # (kind, audio s, wall s)
    _cost: DecodeCost = field(default_factory=DecodeCost, repr=False)
    _last: tuple[float, float, bool] | None = None
    _decoded_since: bool = False

    def record_decode(self, kind: str, audio_s: float, wall_s: float) -> None:
        self.decode_s += wall_s
        row = self.decode_bins.setdefault(f"{kind} {length_bin(audio_s)}", [0, 0.0, 0.0])
        row[0] += 1
        row[1] += audio_s
        row[2] += wall_s
        self.recent_decodes.append((kind, round(audio_s, 3), round(wall_s, 4)))
        self._cost.record(audio_s, wall_s)
        self._decoded_since = True

    def decode_time(self, audio_s: float) -> float | None:
        """How long a decode of ``audio_s`` seconds takes lately (None: too few decodes to tell)."""
        return self._cost.time(audio_s)

    def sample_lag(self, clock: float, lag_s: float, behind_s: float) -> None:
        self.max_lag_s = max(self.max_lag_s, lag_s)
        if not self.lag_samples or clock - self.lag_samples[-1][0] >= LAG_EVERY_S:
            self.lag_samples.append((round(clock, 2), round(lag_s, 3), round(behind_s, 2)))

    def account(self, busy: bool) -> None:
        """Charge the time since the last call to speech if the session was busy then or since
        (a decode recorded in between counts as busy)."""
        busy, self._decoded_since = busy or self._decoded_since, False
        now, cpu = time.monotonic(), time.process_time()
        if self._last is not None:
            wall_d, cpu_d, was_busy = now - self._last[0], cpu - self._last[1], self._last[2]
            if was_busy or busy:
                self.cpu_speech_s += cpu_d
                self.wall_speech_s += wall_d
            else:
                self.cpu_silence_s += cpu_d
                self.wall_silence_s += wall_d
        self._last = (now, cpu, busy)

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_") and k != "started"}
        out["recent_decodes"] = list(self.recent_decodes)
        out["lag_samples"] = list(self.lag_samples)
        return out
