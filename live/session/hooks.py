"""What the course's vocabulary and the translator ask of a session's worker — the local one and
``live run --server``'s alike — in one object the worker is given.

- ``revise(final)``: each final, before it is saved (the vocabulary's corrections); by default the final
  as it is.
- ``append(event)``: from any thread, a line the transcript owes (the translation of a final saved
  earlier). The worker takes them in its command step (``deliver``) and saves and shows each one, so
  only the worker writes the session folder.
- ``settle(serve)``: once the last final is out, before the folder closes; ``serve`` carries out the
  commands queued meanwhile (the translator waits a bounded time for its last lines with it).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from live.captions import Caption
    from live.events import Translation


class WorkerHooks:
    """The hooks of one session; the defaults change nothing."""

    def __init__(self, revise: Callable[[Caption], Caption] | None = None,
                 settle: Callable[[Callable[[], None]], None] | None = None) -> None:
        self._revise = revise
        self._settle = settle
        self._lines: queue.SimpleQueue[Translation] = queue.SimpleQueue()

    def revise(self, caption: Caption) -> Caption:
        return self._revise(caption) if self._revise is not None and caption.text else caption

    def append(self, event: Translation) -> None:
        """Any thread: a line for the transcript, written by the worker in order with everything else."""
        self._lines.put(event)

    def deliver(self, write: Callable[[Translation], None]) -> None:
        """The worker's thread: each line appended since, to ``write`` (save, then show)."""
        while True:
            try:
                event = self._lines.get_nowait()
            except queue.Empty:
                return
            write(event)

    def settle(self, serve: Callable[[], None]) -> None:
        if self._settle is not None:
            self._settle(serve)
