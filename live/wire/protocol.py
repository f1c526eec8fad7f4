"""The ``/v1/stream`` WebSocket protocol, version ``live.v1``: its messages and its close codes.

Client → server: one ``start`` text message, then binary frames of little-endian 16-bit mono PCM
(any length up to the frame limit), then ``{"type": "stop"}``. Server → client: ``ready``, then
caption events in the ``live --headless --json`` schema (``partial``/``final``), ``status``,
``notice`` and ``error`` messages, and after ``stop`` the last finals, ``done`` and a normal close.
A client ignores message types it does not know. Every problem is an ``error`` message whose
``code`` is one of ``ERRORS`` below, followed by a close whose code says the same. The README's
"Server" section is the reference for clients; this module is the server's half of it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

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
        return error_message(self.code, self.message)


def error_message(code: str, message: str) -> dict:
    return {"type": "error", "code": code, "message": message}


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


def parse_json(text: str) -> dict:
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_json", "text messages must be JSON objects such as {\"type\": \"stop\"}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolError("bad_message", "a message is a JSON object with a string \"type\"")
    return obj


def parse_start(text: str, default_language: str = "auto") -> Start:
    """The start message, checked field by field; ProtocolError says what is wrong."""
    obj = parse_json(text)
    if obj["type"] != "start":
        raise ProtocolError("expected_start", f"the first message must be {{\"type\": \"start\", …}}, not {obj['type']!r}")
    fmt = obj.get("format", FORMAT)
    if fmt != FORMAT:
        raise ProtocolError("unsupported_audio", f"format {fmt!r} is not supported; send {FORMAT} (16-bit little-endian mono)")
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
    return Start(sample_rate=rate, language=language, partials=partials, session_id=session_id,
                 resume_from=float(resume_from), next_index=int(next_index))


def _number(obj: dict, name: str, default: float) -> Any:
    value = obj.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e7:
        raise ProtocolError("bad_message", f"{name} must be a number of 0 or more")
    return value


def parse_control(text: str) -> dict:
    """A text message after start: ``stop`` (anything else is an error)."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError("text_instead_of_audio", "audio goes in binary frames (16-bit PCM); text frames carry "
                                                     "control messages only") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolError("bad_message", "a message is a JSON object with a string \"type\"")
    if obj["type"] != "stop":
        raise ProtocolError("bad_message", f"unknown message type {obj['type']!r} (after start only \"stop\" is sent)")
    return obj


def check_frame(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise ProtocolError("frame_too_large", f"a frame holds at most {max_bytes} bytes (got {len(data)}); "
                                               "send shorter frames")
    if len(data) % 2:
        raise ProtocolError("odd_frame", f"a frame of 16-bit samples has an even number of bytes (got {len(data)})")
