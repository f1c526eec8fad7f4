"""A lost microphone, looked for again every few seconds (or at once when the user asks)."""

from __future__ import annotations

import time

RETRY_S = 3.0  # how often a lost microphone is looked for again


class Reconnect:
    """Whether the source is lost, when to try again, and which failed tries are worth a word."""

    def __init__(self, every_s: float = RETRY_S) -> None:
        self.every_s = every_s
        self.lost: str | None = None  # why, while it is gone
        self._next = 0.0
        self._attempts = 0

    def lose(self, message: str) -> None:
        self.lost, self._attempts = message, 0
        self._next = time.monotonic() + self.every_s

    def due(self, now: bool = False) -> bool:
        """Time for the next try (``now``: the user pressed r); counts it."""
        if not now and time.monotonic() < self._next:
            return False
        self._attempts += 1
        self._next = time.monotonic() + self.every_s
        return True

    def worth_saying(self) -> bool:
        """The first failed try and every tenth after it: a notice, not a flood."""
        return self._attempts == 1 or self._attempts % 10 == 0

    def found(self) -> None:
        self.lost = None
