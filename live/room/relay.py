"""The ``/v1/room`` WebSocket protocol: a sharer publishes its session as a room of a ``live serve``
(here rather than in ``live.wire``: it carries the session's events, which the ground cannot import).

The sharer (``live run --server URL --share``, ``live.room.client``) connects with its API key and
sends, as text messages:

    {"type": "open", "title": "...", "languages": ["zh"], "room_id": null}   first; room_id to reopen
    {"type": "events", "events": [EVENT, ...]}   the session's events, in order (``encode_event``)
    {"type": "rotate"}                            a new code; the old link stops working
    {"type": "close"}                             close the room now
    {"type": "finish", "error": null, "timeout": 5}   the session is over: end the room

The server answers ``{"type": "room", "room_id", "code", "path", "have"}`` to open and rotate
(``have``: how many kept events — finals, markers, translations — it holds from this sharer, so a
reconnecting sharer sends only the rest), ``{"type": "viewers", "count"}`` when that changes,
``{"type": "want", "lang"}`` when a viewer first chooses a language (the sharer translates, once per
language, and publishes the translations), ``{"type": "finished", "delivered"}`` after finish, and
``{"type": "error", "code", "message"}`` before closing on a problem.
"""

from __future__ import annotations

import json

from live.captions import Caption
from live.errors import ConfigError
from live.events import Finished, Marker, SpeakerLabel, Status, Translation
from live.language import check_target
from live.wire.protocol import ProtocolError

ROOM_ID_CHARS = 16
MAX_EVENTS = 500  # in one events message
MAX_TEXT = 4000  # characters of one caption or note


def encode_event(event: object) -> dict | None:
    """A session event as it travels to the server; None for what a room does not show."""
    if isinstance(event, Caption):
        return event.to_json()
    if isinstance(event, (Marker, Translation, SpeakerLabel)):
        return event.to_json()
    if isinstance(event, Status):
        return {"type": "status", "clock": round(event.clock, 3), "paused": event.paused, "behind": event.behind,
                "latency": None if event.latency is None else round(event.latency, 3)}
    if isinstance(event, Finished):
        return {"type": "end", "error": event.error}
    return None


def kept(message: dict) -> bool:
    """Whether the room keeps this event in its history (counted by ``have``)."""
    return message.get("type") in ("final", "bookmark", "marker", "translation", "speaker")


def decode_event(message: dict) -> object:
    """The event ``message`` carries; ProtocolError ``bad_message`` when it is none."""
    try:
        kind = message["type"]
        if kind in ("final", "partial"):
            caption = Caption.from_json(message)
            if len(caption.text) > MAX_TEXT:
                raise ValueError("caption too long")
            return caption
        if kind == "bookmark":
            return Marker("bookmark", float(message["at"]), str(message.get("note", ""))[:MAX_TEXT])
        if kind == "marker":
            if message["kind"] not in ("pause", "resume", "gap"):
                raise ValueError(message["kind"])
            return Marker(message["kind"], float(message["at"]), str(message.get("note", ""))[:MAX_TEXT])
        if kind == "translation":
            return Translation(int(message["index"]), check_target(message["lang"]), str(message["text"])[:MAX_TEXT])
        if kind == "speaker":
            return SpeakerLabel.from_json(message)
        if kind == "status":
            latency = message.get("latency")
            return Status(float(message.get("clock", 0.0)), -100.0, False, 0, 0.0, 0, bool(message.get("paused")),
                          None if latency is None else float(latency), bool(message.get("behind")))
        if kind == "end":
            error = message.get("error")
            return Finished(None, None if error is None else str(error)[:MAX_TEXT])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError("bad_message", f"a room event that cannot be read: {exc}") from None
    raise ProtocolError("bad_message", f"unknown room event type {kind!r}")


def _json(text: str) -> dict:
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_json", "room messages are JSON objects such as {\"type\": \"close\"}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolError("bad_message", "a message is a JSON object with a string \"type\"")
    return obj


def parse_room_message(text: str) -> dict:
    """A message from the sharer, checked for its shape (events are read by ``decode_event``)."""
    message = _json(text)
    kind = message["type"]
    if kind == "open":
        languages = message.get("languages") or []
        if not isinstance(languages, list) or len(languages) > 20:
            raise ProtocolError("bad_message", "languages is a list of language codes (20 at most)")
        try:
            message["languages"] = [check_target(code) for code in languages]
        except ConfigError as exc:
            raise ProtocolError("bad_message", str(exc)) from None
        title = message.get("title") or "Live captions"
        room_id = message.get("room_id")
        if not isinstance(title, str) or len(title) > 200 or (room_id is not None and not (
                isinstance(room_id, str) and room_id.isalnum() and len(room_id) == ROOM_ID_CHARS)):
            raise ProtocolError("bad_message", "open takes a title (200 characters at most) and the room_id a "
                                               "room message gave")
        message["title"] = title
        return message
    if kind == "events":
        events = message.get("events")
        if not isinstance(events, list) or len(events) > MAX_EVENTS or not all(isinstance(e, dict) for e in events):
            raise ProtocolError("bad_message", f"events is a list of at most {MAX_EVENTS} event objects")
        return message
    if kind in ("rotate", "close"):
        return message
    if kind == "finish":
        timeout = message.get("timeout", 5)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 60:
            raise ProtocolError("bad_message", "finish's timeout is 0 to 60 seconds")
        return message
    raise ProtocolError("bad_message", f"unknown message type {kind!r} on a room")
