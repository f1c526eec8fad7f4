"""The ``/v1/stream`` WebSocket protocol, version ``live.v1``: its messages, their JSON, and its close codes.

Client → server: one ``Start`` text message, then binary frames of little-endian 16-bit mono PCM
(any length up to the frame limit; ``encode_pcm``), then ``Stop``. Server → client: ``Ready``, then
captions in the ``live --headless --json`` schema (``live.captions.Caption``, partial or final),
``StreamStatus``, ``ServerNotice`` and ``ErrorMessage`` messages, and after ``Stop`` the last finals,
``Done`` and a normal close. A client ignores message types it does not know. Every problem is an
``ErrorMessage`` whose ``code`` is one of ``ERRORS`` below, followed by a close whose code says the same.

Both ends use these types: the server (``live.serve``) reads ``parse_start``/``parse_control`` and sends
each message's ``to_json()``; the remote worker (``live.session.link``) sends ``encode(Start(...))`` and
reads ``decode_server``. The README's "Server" section is the reference for other clients.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from live.captions import Caption
from live.language import LANGUAGES

SUBPROTOCOL = "live.v1"
BEARER_PREFIX = "bearer."  # browsers offer the key as a subprotocol: "bearer.lv_…"
FORMAT = "pcm_s16le"
# Rates the server resamples to 16 kHz itself (what browsers and sound cards deliver).
SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

# error code -> WebSocket close code
ERRORS: dict[str, int] = {
    "bad_json": 1007,              # a text message that is not JSON
    "text_instead_of_audio": 1003,  # a text frame (not a control message) where audio is expected
    "odd_frame": 1007,             # a binary frame with an odd number of bytes (not 16-bit samples)
    "frame_too_large": 1009,       # a binary frame longer than the frame limit
    "bad_message": 4400,           # JSON that is no known message, or a start with bad fields
    "expected_start": 4400,        # audio (or anything else) before the start message
    "unauthorized": 4401,          # no key, an unknown, revoked or expired one (or revoked mid-stream)
    "forbidden_origin": 4403,      # a browser origin that is not allowed
    "unknown_session": 4404,       # resuming a session this server does not have (for this key)
    "idle_timeout": 4408,          # no message for longer than the idle timeout
    "superseded": 4409,            # the same session was resumed on another connection
    "session_limit": 4413,         # the session reached the longest session allowed
    "unsupported_audio": 4415,     # a format other than pcm_s16le, or a rate the server does not take
    "quota_exceeded": 4429,        # the key's audio minutes for today are used up
    "server_full": 1013,           # every stream slot is taken: try again later
    "too_many_streams": 1013,      # this key's concurrent streams are all in use
    "recognition_failed": 1011,    # the model failed on this stream's audio
    "storage_full": 4507,          # the server's disk is full: it cannot keep this session (try again later)
    "server_error": 1011,          # the server cannot open this session (its folder cannot be written)
    "shutting_down": 1001,         # the server is stopping (a client reconnects and resumes)
}
NORMAL_CLOSE = 1000


class ProtocolError(Exception):
    """Something the client sent (or a limit it reached): an ``error`` message, then a close."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def close_code(self) -> int:
        return ERRORS[self.code]

    def to_json(self) -> dict:
        return ErrorMessage(self.code, self.message).to_json()


# --- client → server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The first message of a stream.

    Attributes:
        sample_rate: the rate of the PCM that follows (resampled to 16 kHz by the server).
        language: as ``live run --language``.
        partials: send partial captions too (default True).
        session_id: resume this session (after a dropped connection or a server restart).
        resume_from: seconds of the session's audio that the client's last final covered; the audio
            sent next starts there, and the session's clock and caption indices continue from it.
        next_index: the index after the client's last final (optional: the server works it out).
    """

    sample_rate: int = 16000
    language: str = "auto"
    partials: bool = True
    session_id: str | None = None
    resume_from: float = 0.0
    next_index: int = 0

    def to_json(self) -> dict:
        obj: dict[str, Any] = {"type": "start", "format": FORMAT, "sample_rate": self.sample_rate,
                               "language": self.language, "partials": self.partials}
        if self.session_id or self.resume_from:
            obj.update(resume_from=round(self.resume_from, 3), next_index=self.next_index)
        if self.session_id:
            obj["session_id"] = self.session_id
        return obj

    @classmethod
    def from_json(cls, obj: dict, default_language: str = "auto") -> Start:
        """The start message, checked field by field; ProtocolError says what is wrong."""
        if obj.get("type") != "start":
            raise ProtocolError("expected_start",
                                f"the first message must be {{\"type\": \"start\", …}}, not {obj.get('type')!r}")
        fmt = obj.get("format", FORMAT)
        if fmt != FORMAT:
            raise ProtocolError("unsupported_audio",
                                f"format {fmt!r} is not supported; send {FORMAT} (16-bit little-endian mono)")
        rate = obj.get("sample_rate", 16000)
        if isinstance(rate, bool) or not isinstance(rate, int) or rate not in SAMPLE_RATES:
            raise ProtocolError("unsupported_audio", f"sample_rate {rate!r} is not supported; use one of "
                                                     f"{', '.join(map(str, SAMPLE_RATES))}")
        language = obj.get("language") or default_language
        if language not in LANGUAGES:
            raise ProtocolError("bad_message", f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
        partials = obj.get("partials", True)
        if not isinstance(partials, bool):
            raise ProtocolError("bad_message", "partials must be true or false")
        session_id = obj.get("session_id")
        if session_id is not None and (not isinstance(session_id, str) or not SESSION_ID.match(session_id)):
            raise ProtocolError("bad_message", "session_id must be the id a ready message gave")
        resume_from = _number(obj, "resume_from", 0.0)
        next_index = _number(obj, "next_index", 0)
        if not isinstance(next_index, int) and not float(next_index).is_integer():
            raise ProtocolError("bad_message", "next_index must be a whole number")
        return cls(sample_rate=rate, language=language, partials=partials, session_id=session_id,
                   resume_from=float(resume_from), next_index=int(next_index))


@dataclass(frozen=True)
class Stop:
    """The input has ended: the server captions what it has, then sends ``Done``."""

    def to_json(self) -> dict:
        return {"type": "stop"}


def _object(text: str | bytes, not_json: ProtocolError) -> dict:
    try:
        obj = json.loads(text)
    except ValueError:
        raise not_json from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolError("bad_message", "a message is a JSON object with a string \"type\"")
    return obj


def parse_start(text: str, default_language: str = "auto") -> Start:
    """The first text message of a stream (the server's side); ProtocolError says what is wrong."""
    obj = _object(text, ProtocolError("bad_json", "text messages must be JSON objects such as {\"type\": \"stop\"}"))
    return Start.from_json(obj, default_language)


def _number(obj: dict, name: str, default: float) -> Any:
    value = obj.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e7:
        raise ProtocolError("bad_message", f"{name} must be a number of 0 or more")
    return value


def parse_control(text: str) -> Stop:
    """A text message after start: ``stop`` (anything else is an error)."""
    obj = _object(text, ProtocolError("text_instead_of_audio", "audio goes in binary frames (16-bit PCM); text "
                                                               "frames carry control messages only"))
    if obj["type"] != "stop":
        raise ProtocolError("bad_message", f"unknown message type {obj['type']!r} (after start only \"stop\" is sent)")
    return Stop()


def encode_pcm(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as one binary frame (16-bit little-endian, clipped)."""
    return np.clip(np.rint(np.asarray(samples, np.float32) * 32768.0), -32768, 32767).astype("<i2").tobytes()


def decode_pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


# --- server → client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The answer to ``Start``: the session (new, or ``resumed``) and the clock and index it continues from."""

    session_id: str
    resumed: bool = False
    clock: float = 0.0
    next_index: int = 0
    sample_rate: int = 16000
    limits: dict = field(default_factory=dict, hash=False)
    engine: str | None = None  # the server's model, None while it has none
    model: str | None = None
    protocol: str = SUBPROTOCOL

    def to_json(self) -> dict:
        return {"type": "ready", "session_id": self.session_id, "resumed": self.resumed, "clock": round(self.clock, 3),
                "next_index": self.next_index, "protocol": self.protocol, "sample_rate": self.sample_rate,
                "limits": self.limits,
                "model": {"engine": self.engine, "name": self.model} if self.engine is not None else None}

    @classmethod
    def from_json(cls, obj: dict) -> Ready:
        model = obj.get("model") or {}
        if not isinstance(obj["session_id"], str) or not isinstance(model, dict):
            raise ValueError("a ready message names its session and model")
        return cls(obj["session_id"], bool(obj.get("resumed", False)), float(obj.get("clock", 0.0)),
                   int(obj.get("next_index", 0)), int(obj.get("sample_rate", 16000)), dict(obj.get("limits") or {}),
                   model.get("engine"), model.get("name"), str(obj.get("protocol", SUBPROTOCOL)))


@dataclass(frozen=True)
class StreamStatus:
    """How the server's session is doing (at most twice a second), as ``live.events.Status`` says it:
    ``behind_s`` of speech wait for captions, the oldest for ``lag_s``, ``shed`` the work the lag governor
    has shed; ``buffered_s`` of audio wait to be read from the socket."""

    clock: float = 0.0
    in_speech: bool = False
    pending_finals: int = 0
    behind: bool = False
    behind_s: float = 0.0
    lag_s: float = 0.0
    shed: str | None = None
    buffered_s: float = 0.0

    def to_json(self) -> dict:
        return {"type": "status", "clock": round(self.clock, 3), "in_speech": self.in_speech,
                "pending_finals": self.pending_finals, "behind": self.behind, "behind_s": round(self.behind_s, 2),
                "lag_s": round(self.lag_s, 2), "shed": self.shed, "buffered_s": round(self.buffered_s, 2)}

    @classmethod
    def from_json(cls, obj: dict) -> StreamStatus:
        shed = obj.get("shed")
        return cls(float(obj.get("clock", 0.0)), bool(obj.get("in_speech")), int(obj.get("pending_finals", 0)),
                   bool(obj.get("behind")), float(obj.get("behind_s") or 0.0), float(obj.get("lag_s") or 0.0),
                   shed if isinstance(shed, str) else None, float(obj.get("buffered_s", 0.0)))


@dataclass(frozen=True)
class ServerNotice:
    """A message for the user (the server fell behind, ...)."""

    level: str
    message: str

    def to_json(self) -> dict:
        return {"type": "notice", "level": self.level, "message": self.message}

    @classmethod
    def from_json(cls, obj: dict) -> ServerNotice:
        level = obj.get("level")
        return cls(level if level in ("information", "warning", "error") else "information", str(obj.get("message", "")))


@dataclass(frozen=True)
class ErrorMessage:
    """What went wrong (``code`` is one of ``ERRORS``), then a close; ``retry_after`` seconds for a limit."""

    code: str
    message: str
    retry_after: int | None = None

    def to_json(self) -> dict:
        obj: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        return obj if self.retry_after is None else {**obj, "retry_after": self.retry_after}

    @classmethod
    def from_json(cls, obj: dict) -> ErrorMessage:
        after = obj.get("retry_after")
        return cls(str(obj.get("code", "")), str(obj.get("message", "")), None if after is None else int(after))


@dataclass(frozen=True)
class Done:
    """Every caption of the input has been sent; a normal close follows."""

    def to_json(self) -> dict:
        return {"type": "done"}

    @classmethod
    def from_json(cls, obj: dict) -> Done:
        return cls()


ServerMessage = Ready | Caption | StreamStatus | ServerNotice | ErrorMessage | Done
_SERVER = {"ready": Ready.from_json, "partial": Caption.from_json, "final": Caption.from_json,
           "status": StreamStatus.from_json, "notice": ServerNotice.from_json, "error": ErrorMessage.from_json,
           "done": Done.from_json}


def decode_server(text: str | bytes) -> ServerMessage | None:
    """A message from the server (the client's side); None for a type this client does not know.
    ValueError for one that is not a message of the protocol."""
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("the server sent something that is not a message")
    reader = _SERVER.get(obj.get("type"))  # type: ignore[arg-type]
    if reader is None:
        return None
    try:
        return reader(obj)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the server sent a {obj['type']} message without {exc}") from None


def encode(message: Start | Stop) -> str:
    """A client message as the text frame that carries it."""
    return json.dumps(message.to_json())


def check_frame(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise ProtocolError("frame_too_large", f"a frame holds at most {max_bytes} bytes (got {len(data)}); "
                                               "send shorter frames")
    if len(data) % 2:
        raise ProtocolError("odd_frame", f"a frame of 16-bit samples has an even number of bytes (got {len(data)})")
