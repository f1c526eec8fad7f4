"""Markers (bookmarks, pause, resume) wait until the speech before them has its caption.

A student presses ``b`` while a sentence is still being spoken: the partial is on screen, its final
comes seconds later. Written at once, the bookmark would sit *before* that caption in the transcript
and on screen, although the caption began earlier. So a marker is held until every segment that began
before its moment has been captioned (or given up on), and until the VAD has heard far enough past that
moment that no segment still to open can begin before it (a new one takes back its pre-roll);
markers leave in the order they were made. ``MarkerQueue`` only decides; the worker writes and emits.

However late the captions are (recognition behind), a marker waits for them: it is shown where its
moment is. Only when no caption may be coming at all (``stalled``: recognition stopped, the microphone
gone) does a marker leave after ``max_hold_s`` all the same, and the VAD is then only waited for while
it is within ``max_lag_s`` of the marker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from live.events import Marker

if TYPE_CHECKING:
    from live.captions import Captioner

MAX_HOLD_S = 30.0
MAX_LAG_S = 1.0


class MarkerQueue:
    """Markers in the order they were made, released once the speech before them is captioned."""

    def __init__(self, captioner: Captioner, *, max_hold_s: float = MAX_HOLD_S, max_lag_s: float = MAX_LAG_S) -> None:
        self.captioner = captioner
        self.max_hold_s = max_hold_s
        self.max_lag_s = max_lag_s
        self._held: deque[Marker] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, marker: Marker) -> None:
        self._held.append(marker)

    def due(self, now: float, *, everything: bool = False, stalled: bool = False) -> list[Marker]:
        """The markers that may be shown at stream time ``now``, oldest first (all with ``everything``:
        the session is ending). ``stalled``: no caption may be coming (recognition or the input down)."""
        out: list[Marker] = []
        while self._held:
            marker = self._held[0]
            given_up = stalled and now - marker.at >= self.max_hold_s
            if not everything and not given_up and self._speech_before(marker, stalled):
                break
            out.append(self._held.popleft())
        return out

    def release(self, now: float, emit: Callable[[Marker], None], *, everything: bool = False,
                stalled: bool = False) -> None:
        """Hand each marker that is due to ``emit`` (the worker's: save, then show)."""
        for marker in self.due(now, everything=everything, stalled=stalled):
            emit(marker)

    def _speech_before(self, marker: Marker, stalled: bool = False) -> bool:
        """Whether speech that began before the marker may still become a caption."""
        segmenter, at = self.captioner.segmenter, marker.at
        # A segment opening a moment from now takes its pre-roll back and may still begin before a
        # bookmark pressed as a sentence starts. Pause and resume are made where the worker itself
        # closes the speech (and then feeds silence): hearing up to them is enough. Audio still
        # waiting to be read (the session behind) is heard later: the marker waits for it.
        heard = segmenter.horizon if marker.kind == "bookmark" else segmenter.clock
        if heard < at and (not stalled or segmenter.clock >= at - self.max_lag_s):
            return True  # the VAD has not heard far enough past the marker
        span = segmenter.open_span
        if span is not None and span[1] < at:
            return True  # the sentence being spoken when the marker was made
        start = self.captioner.pending_start
        return start is not None and start < at  # closed, waiting for its decode
