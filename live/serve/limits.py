"""What one key and the whole server may use, and the bookkeeping of stream slots.

Over a limit a stream gets an ``error`` message and a close (``server_full``/``too_many_streams``:
1013, try again later; ``quota_exceeded``: 4429); a file upload gets HTTP 429 with ``Retry-After``
(or 413 when it is too large).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from live.errors import ConfigError


@dataclass
class Limits:
    """The server's limits; a key's own ``max_streams``/``minutes_per_day`` replace the per-key ones.

    Attributes:
        max_streams: streams (and file transcriptions) in progress at once, all keys together.
        streams_per_key: of those, at most this many for one key.
        minutes_per_day: audio minutes one key may send per UTC day (0: no limit).
        upload_mb: the largest file ``/v1/audio/transcriptions`` takes.
        max_frame_s: the longest audio in one binary frame (at the stream's sample rate).
        idle_timeout_s: a stream that sends nothing for this long is closed.
        max_session_h: the longest stream, resumes included (a lecture is 90 minutes).
        buffer_s: audio held per connection before the server stops reading its socket (backpressure).
        request_timeout_s: the longest a connection may take to send a request's headers, or stall
            in the middle of its body (slow clients hold sockets open for nothing).
    """

    max_streams: int = 32
    streams_per_key: int = 4
    minutes_per_day: float = 0.0
    upload_mb: float = 200.0
    max_frame_s: float = 1.0
    idle_timeout_s: float = 60.0
    max_session_h: float = 4.0
    buffer_s: float = 2.0
    request_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        checks = (
            (self.max_streams >= 1, "--max-streams must be at least 1"),
            (self.streams_per_key >= 1, "--streams-per-key must be at least 1"),
            (self.minutes_per_day >= 0, "--minutes-per-day must be 0 (no limit) or more"),
            (self.upload_mb > 0, "--upload-mb must be above 0"),
            (0.01 <= self.max_frame_s <= 10, "--max-frame-s must be between 0.01 and 10"),
            (self.idle_timeout_s > 0, "--idle-timeout-s must be above 0"),
            (self.max_session_h > 0, "--max-session-h must be above 0"),
            (0.1 <= self.buffer_s <= 60, "--buffer-s must be between 0.1 and 60"),
            (0 < self.request_timeout_s <= 3600, "--request-timeout-s must be above 0 (and at most 3600)"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_json(self) -> dict:
        """What a ``ready`` message tells the client."""
        out = asdict(self)
        out["max_frame_bytes_16k"] = self.frame_bytes(16000)
        return out

    def frame_bytes(self, rate: int) -> int:
        return int(self.max_frame_s * rate) * 2

    def per_key_streams(self, key_max: int | None) -> int:
        return key_max if key_max is not None else self.streams_per_key

    def per_key_minutes(self, key_minutes: float | None) -> float:
        return key_minutes if key_minutes is not None else self.minutes_per_day


def seconds_to_utc_midnight(now: datetime | None = None) -> int:
    """When a day's quota comes back: the ``Retry-After`` of a 429 for it."""
    now = now or datetime.now(timezone.utc)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()) + 1)


class Slots:
    """Streams in progress, per key and in all; ``take`` says why not when it cannot."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._per_key: dict[str, int] = {}
        self.total = 0

    def take(self, key_id: str, key_max: int | None = None) -> str | None:
        with self._lock:
            if self.total >= self.limits.max_streams:
                return "server_full"
            if self._per_key.get(key_id, 0) >= self.limits.per_key_streams(key_max):
                return "too_many_streams"
            self._per_key[key_id] = self._per_key.get(key_id, 0) + 1
            self.total += 1
            return None

    def give_back(self, key_id: str) -> None:
        with self._lock:
            left = self._per_key.get(key_id, 0) - 1
            if left > 0:
                self._per_key[key_id] = left
            else:
                self._per_key.pop(key_id, None)
            self.total = max(0, self.total - 1)

    @property
    def free(self) -> int:
        return max(0, self.limits.max_streams - self.total)
