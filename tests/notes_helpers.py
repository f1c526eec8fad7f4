"""Helpers shared by test_notes.py and test_tui_notes.py: captions, a clock, an event recorder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llm_server import LLMServer

from live.llm import LLMClient, LLMSettings
from live.notes import NotesEvent, NotesKeeper

KEY = "sk-test-SECRET-1234567890abcdef"


@dataclass(frozen=True)
class Cap:
    """A caption with the attribute names of live.captions.Caption (duck-typed on purpose)."""

    kind: str
    start: float
    end: float
    text: str
    language: str | None = "en"


def final(i: int, text: str | None = None, language: str = "en", every: float = 10.0) -> Cap:
    """The i-th final of a lecture: one every ``every`` seconds, 8 s long, with a unique word."""
    return Cap("final", i * every, i * every + 8.0, text or f"w{i:03d}x the lecturer explains step {i} of the method",
               language)


class Clock:
    """An injected monotonic clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Events:
    """Records NotesEvents from the worker thread; lets a test wait for one."""

    def __init__(self) -> None:
        self.items: list[NotesEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: NotesEvent) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[NotesEvent], bool], timeout: float = 5.0) -> NotesEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.items:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such event within {timeout} s; got {self.items}")
                self._cond.wait(left)

    def ended(self, request: str, n: int = 1, timeout: float = 5.0) -> list[NotesEvent]:
        """Wait until ``n`` requests of this kind have ended (done or error); return those events."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                ends = [e for e in self.items if e.request == request and e.kind in ("done", "error")]
                if len(ends) >= n:
                    return ends
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(ends)} of {n} {request} requests ended; got {self.items}")
                self._cond.wait(left)

    def kinds(self, request: str) -> list[str]:
        return [e.kind for e in self.items if e.request == request]


def settings_for(server: LLMServer, **overrides) -> LLMSettings:
    settings = LLMSettings(base_url=server.url, model="test-model", timeout_s=5.0, max_retries=2)
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings.validate()


def make_keeper(server: LLMServer, session: Path, clock: Clock | None = None, **overrides) -> NotesKeeper:
    """A keeper talking to ``server`` with an injected clock and a sleep that does not wait."""
    settings = settings_for(server, **overrides)
    client = LLMClient(settings, KEY, sleep=lambda _s: None, rng=lambda: 0.5)
    return NotesKeeper(client, session, settings, clock=clock or Clock())
