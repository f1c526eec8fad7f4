"""What a session tells its front end, and what a front end may ask of it (the ground every layer may read).

A front end (the TUI, headless mode, file transcription, a server connection) renders these events
and sends the commands; it never builds a pipeline of its own. Captions are ``live.captions.Caption``;
notes requests report ``live.notes.NotesEvent``. Everything else is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

StatusCallback = Callable[[str], None]  # a line of progress (a model loading, a build step) for the status bar


@dataclass(frozen=True)
class Status:
    """A ~10 Hz snapshot for the status bar."""

    clock: float  # seconds since the stream began
    level_dbfs: float
    in_speech: bool
    overflows: int
    backlog_s: float  # audio received but not yet through the VAD
    pending_finals: int
    paused: bool
    latency: float | None  # of the last final
    behind: bool = False  # captions are falling behind the speech
    behind_s: float = 0.0  # seconds of speech heard but not yet captioned
    lag_s: float = 0.0  # how long the oldest speech not yet captioned has waited (the next final's latency, at least)
    shed: str | None = None  # the work the lag governor has shed ("finals only", ...); None: none


@dataclass(frozen=True)
class EngineState:
    """Recognition: loading, ready (``message`` says which engine and why) or failed (what stopped it)."""

    state: Literal["loading", "ready", "failed"]
    message: str
    engine: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Notice:
    """A message for the user. ``device_lost`` marks the microphone being gone (and retried)."""

    level: Literal["information", "warning", "error"]
    message: str
    device_lost: bool = False


MarkerKind = Literal["bookmark", "pause", "resume", "gap"]


@dataclass(frozen=True)
class Marker:
    """A moment the user marked (a bookmark, with an optional note), a pause/resume of listening, or
    the gap where a resumed session continues (its note says how long it was away). Saved in
    transcript.jsonl in the order shown."""

    kind: MarkerKind
    at: float
    note: str = ""

    def to_json(self) -> dict:
        if self.kind == "bookmark":
            return {"type": "bookmark", "at": round(self.at, 3), "note": self.note}
        line = {"type": "marker", "kind": self.kind, "at": round(self.at, 3)}
        return {**line, "note": self.note} if self.note else line


@dataclass(frozen=True)
class Translation:
    """A final's translation (``index`` is the final's): saved in transcript.jsonl as a line of its own
    after that final, never rewriting it, and shown under it. ``at`` (the final's start) is for display."""

    index: int
    lang: str
    text: str
    at: float = 0.0

    def to_json(self) -> dict:
        return {"type": "translation", "index": self.index, "lang": self.lang, "text": self.text}


@dataclass(frozen=True)
class Finished:
    """The worker is done; ``folder`` holds the session (None when nothing was recorded), ``error`` says
    what stopped it when something did (the front end exits non-zero)."""

    folder: str | None
    error: str | None = None


# --- commands: sent from any thread, carried out by the worker in order ---------------------------------


@dataclass(frozen=True)
class Pause:
    paused: bool


@dataclass(frozen=True)
class Bookmark:
    at: float
    note: str = ""


@dataclass(frozen=True)
class Retry:
    """Reconnect a lost microphone now, or restart recognition that stopped (the model reloaded)."""


Command = Pause | Bookmark | Retry
