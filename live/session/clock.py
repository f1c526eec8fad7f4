"""The session's audio clock: seconds of audio since the stream began.

For a live source it is wall time, anchored where the stream must have started: no earlier than now
minus the audio received so far, and the read that waited least in a queue says it best. A late
first read (the model loading) would otherwise set the clock late and make every latency look
smaller than it is. For a file read as fast as it decodes, it is the samples fed to the VAD.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StreamClock:
    """``now(fed)`` where ``fed`` is the VAD's clock (seconds of audio taken in so far)."""

    def __init__(self) -> None:
        self.realtime = True
        self._anchor: tuple[float, float] | None = None  # (monotonic time, stream seconds) of a known point
        self._own: Callable[[], float] | None = None

    def restart(self, source: object) -> None:
        """A new stream (a start, a reconnect): it anchors again at its first block. A source with a
        clock of its own (``stream_time``: bench's accelerated replay) is asked instead."""
        self.realtime = bool(getattr(source, "realtime", True))
        self._own = getattr(source, "stream_time", None)
        self._anchor = None

    def arrived(self, fed: float, block_s: float) -> None:
        """A block of ``block_s`` seconds arrives when ``fed`` seconds were taken in before it."""
        if not self.realtime:
            return
        base = self._anchor[1] if self._anchor is not None else fed
        start = time.monotonic() - (fed + block_s - base)
        if self._anchor is None or start < self._anchor[0]:
            self._anchor = (start, base)

    def now(self, fed: float) -> float:
        if self._own is not None:
            return self._own()
        if not self.realtime or self._anchor is None:
            return fed
        t, at = self._anchor
        return at + (time.monotonic() - t)
