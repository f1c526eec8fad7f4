"""The translation policy: which finals go in the next request, and when.

Finals are translated in order, in rolling batches: one request at a time, and the next one takes every
final said since the last one went out (so the batch grows while the model is slow, and cost stays small:
a request carries the instructions and the glossary once for several finals). ``min_interval_s`` spaces
requests out when the model is fast; a backlog larger than one request (the model was away) goes in
several. A request that fails puts its finals back at the head of the queue, to be tried again after
``retry_after_s``; a final that failed ``max_tries`` times, or that waited while ``max_backlog`` newer
ones arrived, is given up (counted, never retried for ever). Captions never wait for any of this.

A plain object with no thread and no clock of its own: the caller passes ``now``, so a test replays a
lecture through it in microseconds::

    queue.add(Pending(index, text, start))
    if queue.due(now) == 0:
        batch = queue.take(now)
        ...                              # the request
        queue.done(results)              # or queue.failed(now)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

from live.errors import ConfigError


@dataclass
class TranslateOptions:
    """How finals are batched for translation and how long the end of a session waits for them.

    Attributes:
        min_interval_s: at least this long between the starts of two requests; what is said meanwhile
            goes in the next one (0: a request as soon as the previous one is done).
        max_batch_finals: the most finals in one request.
        max_batch_chars: the most caption text in one request (a longer backlog goes in several).
        context_finals: finals just before the batch sent again with their translations, for continuity.
        max_backlog: finals waiting at most; beyond, the oldest are given up.
        max_tries: requests a final may be in before it is given up (a failure, or left out of an answer).
        retry_after_s: after a failed request, its finals are tried again this much later.
        finish_timeout_s: at the end of a session, how long pending translations are awaited.
        request_timeout_s: the longest silence from the model within one request (``llm.timeout_s`` if less).
        max_retries: the client's retries of one request (``llm.max_retries`` if less): a translation
            that comes minutes late is of little use beside its caption.
        glossary_max: terms the glossary holds at most (the course's terms first).
    """

    min_interval_s: float = 2.0
    max_batch_finals: int = 12
    max_batch_chars: int = 2000
    context_finals: int = 2
    max_backlog: int = 200
    max_tries: int = 2
    retry_after_s: float = 10.0
    finish_timeout_s: float = 20.0
    request_timeout_s: float = 20.0
    max_retries: int = 1
    glossary_max: int = 150

    def __post_init__(self) -> None:
        def bad(what: str) -> ConfigError:
            return ConfigError(f"translation setting {what}")

        for name in ("min_interval_s", "retry_after_s", "finish_timeout_s"):
            if not 0.0 <= getattr(self, name) <= 3600.0:
                raise bad(f"{name} must be between 0 and 3600 seconds (got {getattr(self, name)})")
        if not 0.0 < self.request_timeout_s <= 600.0:
            raise bad(f"request_timeout_s must be above 0 and at most 600 (got {self.request_timeout_s})")
        for name in ("max_batch_finals", "max_tries", "max_backlog"):
            if getattr(self, name) < 1:
                raise bad(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.max_batch_chars < 100:
            raise bad(f"max_batch_chars must be at least 100 (got {self.max_batch_chars})")
        if self.context_finals < 0 or self.max_retries < 0 or self.glossary_max < 0:
            raise bad("context_finals, max_retries and glossary_max must be 0 or more")


FILE_OPTIONS = TranslateOptions(min_interval_s=0.0, max_batch_finals=20, max_batch_chars=6000,
                                finish_timeout_s=1800.0, request_timeout_s=60.0, max_retries=3)
"""``live transcribe``: nobody waits for a caption, so larger batches, no spacing, and the translation
of the whole file awaited (``finish_timeout_s`` still bounds a model that never answers)."""


@dataclass(frozen=True)
class Pending:
    """A final waiting for its translation."""

    index: int
    text: str
    start: float = 0.0
    language: str | None = None
    tries: int = 0


class TranslationQueue:
    """The finals waiting for translation, the batch in flight, and when the next one may go."""

    def __init__(self, options: TranslateOptions | None = None) -> None:
        self.options = options or TranslateOptions()
        self._waiting: deque[Pending] = deque()
        self._in_flight: list[Pending] = []
        self._last_sent: float | None = None
        self._not_before = 0.0
        self._recent: deque[tuple[Pending, str]] = deque(maxlen=max(1, self.options.context_finals))
        self.given_up = 0  # finals that will never be translated
        self.translated = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        return bool(self._in_flight)

    @property
    def pending(self) -> int:
        """Finals not translated yet: waiting or in flight."""
        return len(self._waiting) + len(self._in_flight)

    def add(self, final: Pending) -> int:
        """Queue a final; returns how many of the oldest waiting were given up to keep the backlog bounded."""
        self._waiting.append(final)
        dropped = 0
        while len(self._waiting) > self.options.max_backlog:
            self._waiting.popleft()
            dropped += 1
        self.given_up += dropped
        return dropped

    def due(self, now: float, *, flushing: bool = False) -> float | None:
        """Seconds until the next batch may go (0: now); None when there is nothing to send or a request
        is in flight. ``flushing`` (the session is ending): nothing is spaced out any more."""
        if not self._waiting or self._in_flight:
            return None
        if flushing:
            return 0.0
        at = self._not_before
        if self._last_sent is not None:
            at = max(at, self._last_sent + self.options.min_interval_s)
        return max(0.0, at - now)

    def take(self, now: float) -> list[Pending]:
        """The next batch, oldest first, within the batch limits (at least one final); it is in flight
        until ``done`` or ``failed``."""
        assert not self._in_flight, "one request at a time"
        batch: list[Pending] = []
        chars = 0
        while self._waiting and len(batch) < self.options.max_batch_finals:
            final = self._waiting[0]
            if batch and chars + len(final.text) > self.options.max_batch_chars:
                break
            batch.append(self._waiting.popleft())
            chars += len(final.text)
        self._in_flight = batch
        self._last_sent = now
        return list(batch)

    def context(self) -> list[tuple[Pending, str]]:
        """The last finals translated, with their translations (what the next request recalls)."""
        return list(self._recent)[-self.options.context_finals:] if self.options.context_finals else []

    def done(self, results: Mapping[int, str]) -> list[Pending]:
        """The batch in flight came back with ``results`` (index → translation). Finals the answer left
        out are tried once more, up to ``max_tries``; returns the ones given up."""
        batch, self._in_flight = self._in_flight, []
        again: list[Pending] = []
        lost: list[Pending] = []
        for final in batch:
            text = results.get(final.index)
            if text:
                self._recent.append((final, text))
                self.translated += 1
            elif final.tries + 1 < self.options.max_tries:
                again.append(replace(final, tries=final.tries + 1))
            else:
                lost.append(final)
        self._waiting.extendleft(reversed(again))
        self.given_up += len(lost)
        return lost

    def failed(self, now: float) -> list[Pending]:
        """The request failed: its finals go back to the head of the queue, tried again after
        ``retry_after_s``; returns those that had their last try (given up)."""
        batch, self._in_flight = self._in_flight, []
        again = [replace(f, tries=f.tries + 1) for f in batch if f.tries + 1 < self.options.max_tries]
        lost = [f for f in batch if f.tries + 1 >= self.options.max_tries]
        self._waiting.extendleft(reversed(again))
        self._not_before = now + self.options.retry_after_s
        self.given_up += len(lost)
        return lost

    def clear(self) -> int:
        """Give up everything not yet translated (translation turned off, or the end came); how many."""
        count = len(self._waiting) + len(self._in_flight)
        self._waiting.clear()
        self._in_flight = []
        self.given_up += count
        return count
