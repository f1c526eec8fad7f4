"""What the course's vocabulary and the translator ask of a session's worker — the local one and
``live run --server``'s alike — in one object the worker is given.

- ``revise(final)``: each final, before it is saved (the vocabulary's corrections); by default the final
  as it is.
- ``append(event)``: from any thread, a line the transcript owes (the translation of a final saved
  earlier, its speaker's label). The worker takes them in its command step (``deliver``) and saves and
  shows each one, so only the worker writes the session folder.
- ``hear(block)``: the audio as the VAD gets it (zeros while paused), in order — the speaker labels cut
  each final's voice from it.
- ``settle(serve)``: once the last final is out, before the folder closes; ``serve`` carries out the
  commands queued meanwhile (the translator and the speaker labels wait a bounded time for their last
  lines with it, one after the other).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from live.captions import Caption
    from live.events import Translation
    from live.speakers import SpeakerLabel

    Line = Translation | SpeakerLabel


class WorkerHooks:
    """The hooks of one session; the defaults change nothing."""

    def __init__(self, revise: Callable[[Caption], Caption] | None = None,
                 settle: Callable[[Callable[[], None]], None] | Sequence[Callable[[Callable[[], None]], None]] | None = None,
                 hear: Callable[[np.ndarray], None] | None = None) -> None:
        self._revise = revise
        self._settles = list(settle) if isinstance(settle, Sequence) else [settle] if settle is not None else []
        self._hear = hear
        self._lines: queue.SimpleQueue[Line] = queue.SimpleQueue()

    def revise(self, caption: Caption) -> Caption:
        return self._revise(caption) if self._revise is not None and caption.text else caption

    def hear(self, block: np.ndarray) -> None:
        if self._hear is not None:
            self._hear(block)

    def append(self, event: Line) -> None:
        """Any thread: a line for the transcript, written by the worker in order with everything else."""
        self._lines.put(event)

    def deliver(self, write: Callable[[Line], None]) -> None:
        """The worker's thread: each line appended since, to ``write`` (save, then show)."""
        while True:
            try:
                event = self._lines.get_nowait()
            except queue.Empty:
                return
            write(event)

    def settle(self, serve: Callable[[], None]) -> None:
        for settle in self._settles:
            settle(serve)
