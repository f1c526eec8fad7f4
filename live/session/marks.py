"""Markers (bookmarks, pause, resume) wait until the speech before them has its caption.

A student presses ``b`` while a sentence is still being spoken: the partial is on screen, its final
comes seconds later. Written at once, the bookmark would sit *before* that caption in the transcript
and on screen, although the caption began earlier. So a marker is held until every segment that began
before its moment has been captioned (or given up on), and until the VAD has heard up to that moment;
markers leave in the order they were made. ``MarkerQueue`` only decides; the worker writes and emits.

A held marker is in memory only: ``max_hold_s`` bounds what a crash can lose (and how long a marker
waits when decoding is far behind), at the cost of its place in the order.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from live.session.events import Marker

if TYPE_CHECKING:
    from live.captions import Captioner

MAX_HOLD_S = 30.0


class MarkerQueue:
    """Markers in the order they were made, released once the speech before them is captioned."""

    def __init__(self, max_hold_s: float = MAX_HOLD_S) -> None:
        self.max_hold_s = max_hold_s
        self._held: deque[Marker] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, marker: Marker) -> None:
        self._held.append(marker)

    def due(self, captioner: Captioner, now: float, *, everything: bool = False) -> list[Marker]:
        """The markers that may be shown now, oldest first (all of them with ``everything``: the
        session is ending, or no caption is coming — recognition stopped, the microphone is gone)."""
        out: list[Marker] = []
        while self._held:
            at = self._held[0].at
            if not everything and now - at < self.max_hold_s and _speech_before(captioner, at):
                break
            out.append(self._held.popleft())
        return out


def _speech_before(captioner: Captioner, at: float) -> bool:
    """Whether speech that began before ``at`` may still become a caption."""
    segmenter = captioner.segmenter
    if segmenter.clock < at:
        return True  # the VAD has not heard that far yet: a segment may still open before ``at``
    span = segmenter.open_span
    if span is not None and span[1] < at:
        return True  # the sentence being spoken when the marker was made
    start = captioner.pending_start
    return start is not None and start < at  # closed, waiting for its decode
