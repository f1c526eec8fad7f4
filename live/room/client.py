"""``live run --server URL --share``: the session published as a room of the classroom server.

``ServerRoom`` looks to the front end like ``SharedRoom`` (``live.room.setup.Share``): ``publish``
returns at once, and one thread of its own sends the events over ``/v1/room`` (``live.room.relay``)
to the server, which serves the page at ``/r/CODE`` on its own address. The connection is kept:
when it drops (or the server restarts) it reconnects with backoff, reopens the same room, and sends
what the server does not hold yet (``have``), so the viewers see no gap and nothing twice. When a
viewer chooses a language the server asks for it (``want``), and the translations are made here,
once per language, with the sharer's LLM (``RoomTranslations``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from live.captions import Caption
from live.errors import ConfigError, LiveError
from live.events import Notice
from live.files import read_key_file
from live.room.codes import pretty
from live.room.relay import encode_event, kept
from live.room.room import RoomOptions
from live.room.translations import RoomTranslations

if TYPE_CHECKING:
    from live.llm import LLMSettings

log = logging.getLogger("live.room")

KEY_VARIABLE = "LIVE_SERVER_API_KEY"
BACKOFF_S = (0.5, 10.0)
BATCH = 200  # events in one message at most


def endpoints(server: str) -> tuple[str, str]:
    """(the room's WebSocket URL, the server's http(s) base) from what the user gave ``--server``."""
    parts = urlsplit(server.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"--server {server!r} is not a server address; write ws://HOST:14612 or wss://HOST:14612")
    base = urlunsplit(("https" if scheme == "wss" else "http", parts.netloc, "", "", ""))
    return urlunsplit((scheme, parts.netloc, "/v1/room", "", "")), base


def server_key(key_file: Path | None) -> str:
    if key_file is not None:
        return read_key_file(key_file, "the key file", hint="put the key from `live keys create` in it")
    value = os.environ.get(KEY_VARIABLE, "").strip()
    if not value:
        raise ConfigError(f"sharing on the server needs its API key: set {KEY_VARIABLE} or pass --api-key-file FILE")
    return value


class ServerRoom:
    """A room on a ``live serve``, published from this process."""

    def __init__(self, server: str, api_key_file: Path | None, options: RoomOptions, *,
                 llm: LLMSettings | None = None, terms: Sequence[str] = (), provided: str | None = None,
                 notify: Callable[[Notice], None] | None = None) -> None:
        self.ws_url, self.base_url = endpoints(server)
        self._token = server_key(api_key_file)
        self.options = options
        self.notify = notify
        self.room_id: str | None = None
        self.code = ""
        self.viewers = 0
        self.delivered: bool | None = None
        make = None
        if llm is not None:
            from live.translate import translator_for

            def make(lang: str):
                return translator_for(llm, lang, terms=terms)

        self.translations = RoomTranslations(options.languages, make, self.publish, provided=provided, notify=notify)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._history: list[dict] = []  # the kept events sent so far: what a restarted server gets again
        self._loop: asyncio.AbstractEventLoop | None = None
        self._more: asyncio.Event | None = None
        self._kicked = False
        self._lock = threading.Lock()
        self._replies: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._lost = False

    @property
    def url(self) -> str:
        return f"{self.base_url}/r/{self.code}"

    @property
    def pretty_code(self) -> str:
        return pretty(self.code)

    # -- the front end's side ------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> str:
        """Open the room on the server; the viewer URL (LiveError in one line when it cannot be opened)."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="live-room-client",
                                        daemon=True)
        self._thread.start()
        try:
            kind, value = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._stopping = True
            raise LiveError(f"the server at {self.base_url} did not open the room within {timeout:g} s") from None
        if kind != "room":
            self._stopping = True
            raise LiveError(f"the server at {self.base_url} did not open the room: {value}")
        return self.url

    def publish(self, event: object) -> None:
        if isinstance(event, Caption) and event.kind == "final":
            self.translations.feed(event)  # for the languages viewers choose (quick: the translators queue it)
        message = encode_event(event)
        if message is not None:
            self._put(message)

    def rotate(self) -> str:
        self._put(("rotate",))
        try:
            self._replies.get(timeout=10.0)
        except queue.Empty:
            log.warning("room: the server did not answer the new code in time")
        return self.url

    def close(self, why: str = "closed") -> None:
        self._put(("close",))

    def finish(self, error: str | None = None, timeout: float = 5.0) -> bool:
        """End the room on the server once the viewers have every final (bounded), then disconnect."""
        if self._thread is None:
            return True
        self.translations.settle(self.options.settle_s)
        self._put(("finish", error, timeout))
        try:
            while self._replies.get(timeout=timeout + self.options.settle_s + 10.0)[0] != "finished":
                pass
        except queue.Empty:
            log.warning("room: the server did not confirm the end in time")
        self._stopping = True
        self._kick()
        self._thread.join(5.0)
        self.translations.close()
        return bool(self.delivered)

    def _put(self, item: object) -> None:
        self._queue.put(item)
        self._kick()

    def _kick(self) -> None:
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            if self._kicked:
                return
            self._kicked = True
        try:
            loop.call_soon_threadsafe(self._more.set)
        except RuntimeError:  # the loop has ended
            pass

    def _tell(self, level: str, message: str) -> None:
        log.log(logging.WARNING if level == "warning" else logging.INFO, "room: %s", message)
        if self.notify is not None:
            try:
                self.notify(Notice(level, message))  # type: ignore[arg-type]
            except Exception:  # the front end's bug must not stop the room; the log keeps it
                log.exception("a front end failed on a room notice")

    # -- the connection (its own thread and loop) ---------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._more = asyncio.Event()
        attempt = 0
        while not self._stopping:
            try:
                await self._connect_once()
                return
            except _Refused as exc:
                self._replies.put(("error", str(exc)))
                self._tell("warning", f"the room on the server stopped: {exc}")
                return
            except Exception as exc:  # noqa: BLE001 - refused, reset, closed: reconnect and reopen the room
                if self.room_id is None:
                    self._replies.put(("error", f"{type(exc).__name__}: {exc}"))
                    return
                if not self._lost:
                    self._lost = True
                    self._tell("warning", "the room lost its server; reconnecting (viewers keep what they have)")
            attempt += 1
            await asyncio.sleep(min(BACKOFF_S[1], BACKOFF_S[0] * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2))

    async def _connect_once(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            async with connect(self.ws_url, additional_headers={"Authorization": f"Bearer {self._token}"},
                               subprotocols=["live.v1"], open_timeout=10, ping_interval=10, ping_timeout=10,
                               close_timeout=5, max_size=1 << 22) as ws:
                await ws.send(json.dumps({"type": "open", "title": self.options.title,
                                          "languages": list(self.options.languages), "room_id": self.room_id}))
                first = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                if first.get("type") != "room":
                    raise _Refused(first.get("message", "the server refused the room"))
                have = self._room(first)
                for i in range(have, len(self._history), BATCH):
                    await ws.send(json.dumps({"type": "events", "events": self._history[i:i + BATCH]}))
                if self._lost:
                    self._lost = False
                    self._tell("information", "the room is back on the server")
                sender = asyncio.ensure_future(self._send(ws))
                try:
                    async for raw in ws:
                        if self._receive(json.loads(raw)):
                            return
                finally:
                    sender.cancel()
                raise ConnectionError(f"the server closed the room's connection ({ws.close_code})")
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403):
                raise _Refused(f"the server refused the key ({exc.response.status_code})") from None
            raise

    def _room(self, message: dict) -> int:
        self.room_id, self.code = message["room_id"], message["code"]
        self._replies.put(("room", self.url))
        return max(0, min(int(message.get("have", 0)), len(self._history)))

    def _receive(self, message: dict) -> bool:
        kind = message.get("type")
        if kind == "room":
            self._room(message)
        elif kind == "viewers":
            self.viewers = int(message.get("count", 0))
        elif kind == "want":
            lang = str(message.get("lang", ""))
            self._loop.run_in_executor(None, self.translations.choose, lang)  # may import the LLM client
        elif kind == "finished":
            self.delivered = bool(message.get("delivered"))
            self._replies.put(("finished", self.delivered))
            return True
        elif kind == "error":
            self._tell("warning", f"the server said: {message.get('message', '')}")
        return False

    async def _send(self, ws) -> None:
        assert self._more is not None
        while True:
            with self._lock:
                self._kicked = False
            self._more.clear()
            events: list[dict] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, tuple):
                    await self._flush(ws, events)
                    await ws.send(json.dumps({"type": item[0], **({"error": item[1], "timeout": item[2]}
                                                                  if item[0] == "finish" else {})}))
                else:
                    events.append(item)
                    if len(events) >= BATCH:
                        await self._flush(ws, events)
            await self._flush(ws, events)
            if self._stopping:
                return
            await self._more.wait()

    async def _flush(self, ws, events: list[dict]) -> None:
        if not events:
            return
        # Kept before they are sent: if the connection drops now, the reconnect sends them (``have``).
        self._history.extend(e for e in events if kept(e))
        batch = list(events)
        events.clear()
        await ws.send(json.dumps({"type": "events", "events": batch}))


class _Refused(Exception):
    """The server will not take this room (a bad key, a bad message): reconnecting cannot help."""
