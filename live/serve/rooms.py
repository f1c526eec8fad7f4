"""Rooms on the classroom server: ``live run --server URL --share`` publishes its session here, and
every phone reads it at ``/r/CODE`` on the server's own address.

A sharer opens a room over the ``/v1/room`` WebSocket with its API key (``live.wire.room``) and
sends its session's events as they happen; the page, the event stream and the access rules are the
room package's (``live.room.web``), served by this app. A viewer who picks a language makes the
server ask the sharer for it (``want``): the sharer translates, once per language, and publishes.

Each room is recorded in ``<data dir>/rooms/<room_id>.json`` (its key, code, title and languages;
readable by the server's user only), so a restarted server brings its rooms back under the same
codes: the viewers' pages reconnect to the same link, and the sharer, reconnecting, sends the lecture
again (``have`` says how much the server holds). A room whose sharer has been gone for
``ABANDONED_S`` is closed. ``GET /v1/rooms`` (``live.serve.admin``) lists the open rooms to admin keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from live.files import atomic_write
from live.room import AccessOptions, Room, RoomOptions
from live.room.web import RoomWeb
from live.wire.protocol import ProtocolError
from live.room.relay import ROOM_ID_CHARS, decode_event, kept, parse_room_message

if TYPE_CHECKING:
    from live.serve.keys import ApiKey

log = logging.getLogger("live.serve")

ABANDONED_S = 4 * 3600.0  # a room whose sharer has been away this long is closed
VIEWERS_EVERY_S = 1.0


@dataclass
class Hosted:
    """A room this server holds for one sharer's key."""

    room_id: str
    key_id: str
    room: Room
    opened: float = field(default_factory=time.time)
    received: int = 0  # kept events (finals, markers, translations) from the sharer
    sharer: asyncio.Queue | None = None  # messages to the sharer's connection, while it is connected
    away_since: float | None = None

    def info(self) -> dict:
        return {"room_id": self.room_id, "key_id": self.key_id, "title": self.room.options.title,
                "path": f"/r/{self.room.code}", "viewers": self.room.viewers, "opened": self.opened,
                "sharer_connected": self.sharer is not None, "languages": list(self.room.options.languages)}


class ServerRooms:
    """The rooms of one server, their records on disk, and the viewer side (``web``)."""

    def __init__(self, data_dir: Path, access: AccessOptions | None = None) -> None:
        self.dir = Path(data_dir) / "rooms"
        self.web = RoomWeb(access=access)
        self._by_id: dict[str, Hosted] = {}
        self._sweep: asyncio.Task | None = None

    async def start(self) -> None:
        await self.web.start()
        self._restore()
        self._sweep = asyncio.ensure_future(self._close_abandoned())

    async def stop(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        for hosted in self._by_id.values():
            if hosted.sharer is not None:
                hosted.sharer.put_nowait(None)
        await self.web.stop()

    def listing(self) -> list[dict]:
        return [hosted.info() for hosted in self._by_id.values()]

    def open(self, key_id: str, message: dict) -> Hosted:
        """The room ``message`` reopens (this key's, in memory or restored), or a new one."""
        hosted = self._by_id.get(message.get("room_id") or "")
        if hosted is not None and hosted.key_id == key_id:
            return hosted
        room_id = secrets.token_hex(ROOM_ID_CHARS // 2)
        hosted = self._host(room_id, key_id, message["title"], message["languages"], code=None, opened=time.time())
        self._record(hosted)
        log.info("room %s opened for key %s", room_id, key_id)
        return hosted

    def _host(self, room_id: str, key_id: str, title: str, languages: list[str], code: str | None,
              opened: float) -> Hosted:
        hosted: Hosted | None = None

        def want(lang: str) -> None:  # a viewer chose a language: the sharer translates it
            if hosted is not None and hosted.sharer is not None:
                self.web.loop.call_soon_threadsafe(hosted.sharer.put_nowait, {"type": "want", "lang": lang})

        room = Room(RoomOptions(title=title, languages=tuple(languages)), code=code, translated_elsewhere=want)
        hosted = Hosted(room_id, key_id, room, opened=opened, away_since=time.monotonic())
        self._by_id[room_id] = hosted
        self.web.add(room)
        return hosted

    def _record(self, hosted: Hosted) -> None:
        path = self.dir / f"{hosted.room_id}.json"
        atomic_write(path, json.dumps({"room_id": hosted.room_id, "key_id": hosted.key_id, "code": hosted.room.code,
                                       "title": hosted.room.options.title, "opened": hosted.opened,
                                       "languages": list(hosted.room.options.languages)}), durable=False)
        os.chmod(path, 0o600)  # the code is the room's key

    def _restore(self) -> None:
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
                if time.time() - path.stat().st_mtime > ABANDONED_S:
                    path.unlink()
                    continue
                self._host(rec["room_id"], rec["key_id"], rec["title"], rec["languages"], rec["code"], rec["opened"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("room record %s cannot be read (%s); left as it is", path.name, exc)
        if self._by_id:
            log.info("%d room(s) back from before the restart, waiting for their sharers", len(self._by_id))

    def remove(self, hosted: Hosted) -> None:
        self._by_id.pop(hosted.room_id, None)
        self.web.rooms.remove(hosted.room)
        try:
            (self.dir / f"{hosted.room_id}.json").unlink()
        except FileNotFoundError:
            pass

    async def _close_abandoned(self) -> None:
        while True:
            await asyncio.sleep(60)
            now = time.monotonic()
            for hosted in list(self._by_id.values()):
                if hosted.sharer is None and hosted.away_since is not None and now - hosted.away_since > ABANDONED_S:
                    log.info("room %s closed: its sharer has been away for %.0f h", hosted.room_id, ABANDONED_S / 3600)
                    hosted.room.close()
                    self.remove(hosted)

    # -- one sharer's connection --------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, key: ApiKey, idle_timeout_s: float) -> None:
        """A sharer's ``/v1/room`` connection, from its open message to its end."""
        try:
            message = parse_room_message(await asyncio.wait_for(websocket.receive_text(), timeout=idle_timeout_s))
            if message["type"] != "open":
                raise ProtocolError("expected_start", "the first message on a room is {\"type\": \"open\", …}")
        except ProtocolError as exc:
            await _close(websocket, exc)
            return
        except (asyncio.TimeoutError, KeyError, WebSocketDisconnect):
            return
        hosted = self.open(key.id, message)
        if hosted.sharer is not None:
            hosted.sharer.put_nowait(None)  # an older connection of the same sharer gives way
        outbox: asyncio.Queue = asyncio.Queue()
        hosted.sharer, hosted.away_since = outbox, None
        outbox.put_nowait(self._room_message(hosted))
        for lang in sorted(hosted.room.translations.wanted):
            outbox.put_nowait({"type": "want", "lang": lang})
        sender = asyncio.ensure_future(self._send(websocket, outbox, hosted))
        try:
            await self._receive(websocket, hosted, outbox, idle_timeout_s)
        except ProtocolError as exc:
            outbox.put_nowait(exc.to_json())
        except (WebSocketDisconnect, asyncio.TimeoutError, RuntimeError):
            pass
        finally:
            if hosted.sharer is outbox:
                hosted.sharer, hosted.away_since = None, time.monotonic()
            outbox.put_nowait(None)
            await sender

    def _room_message(self, hosted: Hosted) -> dict:
        return {"type": "room", "room_id": hosted.room_id, "code": hosted.room.code, "path": f"/r/{hosted.room.code}",
                "have": hosted.received}

    async def _receive(self, websocket: WebSocket, hosted: Hosted, outbox: asyncio.Queue, idle_s: float) -> None:
        room = hosted.room
        while True:
            message = parse_room_message(await asyncio.wait_for(websocket.receive_text(), timeout=idle_s))
            kind = message["type"]
            if kind == "events":
                for raw in message["events"]:
                    room.publish(decode_event(raw))
                    hosted.received += kept(raw)
            elif kind == "rotate":
                room.rotate()
                self._record(hosted)
                outbox.put_nowait(self._room_message(hosted))
            elif kind == "close":
                room.close()
                self.remove(hosted)
                outbox.put_nowait({"type": "finished", "delivered": True})
                return
            elif kind == "finish":
                delivered = await asyncio.to_thread(room.finish, message.get("error"), float(message["timeout"]))
                self.remove(hosted)
                outbox.put_nowait({"type": "finished", "delivered": delivered})
                return

    async def _send(self, websocket: WebSocket, outbox: asyncio.Queue, hosted: Hosted) -> None:
        said = -1
        try:
            while True:
                try:
                    message = await asyncio.wait_for(outbox.get(), timeout=VIEWERS_EVERY_S)
                except asyncio.TimeoutError:
                    message = {}
                if message is None:
                    break
                if message:
                    await websocket.send_json(message)
                    if message.get("type") == "error":
                        await websocket.close(ProtocolError(message["code"], "").close_code)
                        return
                if hosted.room.viewers != said:
                    said = hosted.room.viewers
                    await websocket.send_json({"type": "viewers", "count": said})
            await websocket.close(1000)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the sharer is gone; it reconnects if it comes back


async def _close(websocket: WebSocket, error: ProtocolError) -> None:
    try:
        await websocket.send_json(error.to_json())
        await websocket.close(error.close_code)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
