"""``NotesService``: notes requests on one worker thread, reported as ``NotesEvent``s.

A slow model must never block captions or the UI, so every request runs here and its progress
goes back through a callback (the TUI turns each event into a message).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from live.errors import LiveError
from live.llm import Cancelled
from live.notes.conversation import Conversation
from live.notes.keeper import NotesKeeper

log = logging.getLogger("live.notes")  # the name it had before the split, so log filters still match

RequestKind = Literal["update", "explain", "ask"]
EventKind = Literal["started", "token", "done", "error"]


@dataclass(frozen=True)
class NotesEvent:
    """What the worker reports. ``text``: the question (started/ask), a token, the whole answer
    (done) or a one-line message (error); ``error`` names the error class (e.g. "NoAPIKey")."""

    kind: EventKind
    request: RequestKind
    text: str = ""
    error: str | None = None


class NotesService:
    """Runs notes requests on ONE worker thread so a slow model never blocks captions or the UI.

    ``request()`` returns at once. A second update (or explain) asked for while one is waiting is
    coalesced into it; one asked for while one runs waits as the single "run again after". Events
    go to ``on_event`` from the worker thread (the TUI turns them into messages).
    ``tick_every_s`` lets the worker check ``keeper.due()`` on its own; None leaves that to
    ``tick()``.
    """

    def __init__(self, keeper: NotesKeeper, on_event: Callable[[NotesEvent], None], *,
                 conversation: Conversation | None = None, tick_every_s: float | None = 5.0) -> None:
        self.keeper = keeper
        self.conversation = conversation or Conversation(keeper)
        self._on_event = on_event
        self._tick_every_s = tick_every_s
        self._cond = threading.Condition()
        self._queue: deque[tuple[RequestKind, dict[str, Any]]] = deque()
        self._current: RequestKind | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="live-notes", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._current is not None or bool(self._queue)

    def request(self, kind: RequestKind = "update", *, question: str | None = None,
                seconds: float = 60.0) -> bool:
        """Queue a request; False when it was coalesced into a waiting one (or the service is closed)."""
        if kind not in ("update", "explain", "ask"):
            raise ValueError(f"unknown request kind {kind!r}")
        with self._cond:
            if self._closed:
                return False
            if kind != "ask" and any(k == kind for k, _ in self._queue):
                return False
            self._queue.append((kind, {"question": question or "", "seconds": seconds}))
            self._cond.notify_all()
        return True

    def tick(self, now: float | None = None) -> bool:
        """Request a rolling update if one is due; True when one was queued."""
        return self.keeper.due(now) and self.request("update")

    def cancel(self) -> None:
        """Drop waiting requests and cancel the one in flight (it ends with an error event)."""
        with self._cond:
            self._queue.clear()
        self.keeper.abort()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._current is not None or self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def flush(self, timeout: float = 20.0) -> bool:
        """Bring the notes up to date before quitting: drop waiting questions, run one update,
        wait up to ``timeout``; cancel if that runs out. True when the notes cover every final."""
        with self._cond:
            self._queue = deque(item for item in self._queue if item[0] == "update")
        if self.keeper.pending:
            self.request("update")
        if not self.wait_idle(timeout):
            self.cancel()
            self.wait_idle(2.0)
        return self.keeper.pending == 0

    def close(self, timeout: float = 2.0) -> bool:
        """Cancel everything and stop the worker; True when it has ended within ``timeout``."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        # Abort again while waiting: a request that started just after the first abort is caught too.
        while self._thread.is_alive() and time.monotonic() < deadline:
            self.keeper.abort()
            self._thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
        return not self._thread.is_alive()

    # -- worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(self._tick_every_s)
                    if self._tick_every_s is not None and not self._queue and not self._closed \
                            and self.keeper.due():
                        self._queue.append(("update", {}))
                if self._closed:
                    self._current = None
                    self._cond.notify_all()
                    return
                kind, args = self._queue.popleft()
                self._current = kind
            try:
                self._serve(kind, args)
            finally:
                with self._cond:
                    self._current = None
                    self._cond.notify_all()

    def _serve(self, kind: RequestKind, args: dict[str, Any]) -> None:
        self._emit(NotesEvent("started", kind, args.get("question", "") if kind == "ask" else ""))

        def on_token(token: str) -> None:
            self._emit(NotesEvent("token", kind, token))

        try:
            if kind == "update":
                text = self.keeper.update(on_token)
            elif kind == "explain":
                text = self.keeper.explain_recent(args.get("seconds", 60.0), on_token)
            else:
                text = self.conversation.ask(args.get("question", ""), on_token)
        except LiveError as exc:
            if not isinstance(exc, Cancelled):
                log.warning("notes %s failed: %s", kind, exc)
            self._emit(NotesEvent("error", kind, str(exc), type(exc).__name__))
        except Exception as exc:  # a bug: keep the worker alive, say so, keep the traceback in the log
            log.exception("notes %s failed unexpectedly", kind)
            self._emit(NotesEvent("error", kind, f"internal error: {type(exc).__name__}; see the log", "Bug"))
        else:
            self._emit(NotesEvent("done", kind, text))

    def _emit(self, event: NotesEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # the receiver's bug must not kill the worker; it is logged, not hidden
            log.exception("notes event handler failed on %s", event.kind)
