"""What a session tells its front end, and what a front end may ask of it (the ground every layer may read).

A front end (the TUI, headless mode, file transcription, a server connection) renders these events
and sends the commands; it never builds a pipeline of its own. Captions are ``live.captions.Caption``;
notes requests report ``live.notes.NotesEvent``. Everything else is here.

``Marker``, ``Translation`` and ``SpeakerLabel`` are also lines of ``transcript.jsonl``: their JSON form
is defined here, once, and ``live.transcript.schema`` reads the file through them.
"""

from __future__ import annotations

import math
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

    @classmethod
    def from_json(cls, obj: dict) -> Marker:
        """The marker of a ``bookmark`` or ``marker`` line; ValueError/KeyError/TypeError if it is not one."""
        kind = "bookmark" if obj.get("type") == "bookmark" else obj.get("kind") if obj.get("type") == "marker" else None
        if kind not in ("bookmark", "pause", "resume", "gap"):
            raise ValueError(f"not a marker line: {obj.get('type')!r}")
        return cls(kind, _finite(obj["at"]), str(obj.get("note") or ""))


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

    @classmethod
    def from_json(cls, obj: dict) -> Translation:
        if obj.get("type") != "translation" or not isinstance(obj.get("lang"), str):
            raise ValueError("not a translation line")
        return cls(int(obj["index"]), obj["lang"], str(obj.get("text") or ""))


@dataclass(frozen=True)
class SpeakerLabel:
    """Who said final ``index``: ``speaker`` is "lecturer" or "audience"; ``voice`` numbers the distinct
    audience voices (None for the lecturer). Saved after its final; a later label for the same index
    replaces an earlier one."""

    index: int
    speaker: Literal["lecturer", "audience"]
    voice: int | None = None

    def to_json(self) -> dict:
        return {"type": "speaker", "index": self.index, "speaker": self.speaker, "voice": self.voice}

    @classmethod
    def from_json(cls, obj: dict) -> SpeakerLabel:
        speaker, voice = obj.get("speaker"), obj.get("voice")
        if obj.get("type") != "speaker" or speaker not in ("lecturer", "audience"):
            raise ValueError("not a speaker line")
        return cls(int(obj["index"]), speaker, None if voice is None else int(voice))


def _finite(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"not a time: {value!r}")
    return number


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
