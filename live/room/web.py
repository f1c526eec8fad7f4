"""The viewer page and its event stream: the web side of rooms, for ``live --share`` and ``live serve``.

Routes: ``GET /r/CODE`` the page (plain HTML, CSS and JavaScript from ``live/room/static``: no build,
no CDN, no external font), ``GET /r/CODE/events`` the captions as Server-Sent Events (``?after=ID``
resumes after the last event a viewer had, ``?lang=xx`` adds the translations into a language the
room offers, ``&fresh=1`` with those of what it already has), ``GET /`` a box to type a code in.
A code that is wrong counts against the asking address (``AddressLimits``); a room closed or a code
rotated answers 404, so the page knows the room is gone. The page needs no API key and the stream
takes none: a code reads one room's captions and nothing else.

Each stream writes the hub's frames as they are (encoded once for all viewers), wakes on the room's one
shared future, sends a comment every ``ping_s`` when idle (so a dead connection shows), and is
dropped when one write has been stuck for ``stall_s`` (the page reconnects and resumes). Addresses are
never logged; uvicorn's access log stays off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from live.room.codes import AccessOptions, AddressLimits, normalize
from live.room.hub import Viewer
from live.room.room import Room, Rooms

log = logging.getLogger("live.room")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY = {"content-security-policy": CSP, "referrer-policy": "no-referrer", "x-content-type-options": "nosniff",
            "x-frame-options": "DENY", "cache-control": "no-store"}
STATIC_TYPES = {"room.css": "text/css; charset=utf-8", "room.js": "text/javascript; charset=utf-8"}
GONE_PAGE = ("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'>"
             "<title>No such room</title><link rel=stylesheet href='/static/room.css'><main class=gone><h1>No such room"
             "</h1><p>This room has closed, or its code has changed: ask for the new link.</p></main>")


class _NoViewerLines(logging.Filter):
    """uvicorn's access log (``live serve`` keeps it) never gets a viewer's request: their address and
    the room's code stay out of every log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        path = str(args[2]) if len(args) > 2 else ""
        return not path.startswith(("/r/", "/join", "/static/")) and path not in ("/", "/?bad=1")


_NO_VIEWER_LINES = _NoViewerLines()


def static_text(name: str) -> str:
    return (resources.files("live.room") / "static" / name).read_text(encoding="utf-8")


class EventStream(Response):
    """One viewer's stream: the hub's frames for it, as they come, until the room ends for it."""

    def __init__(self, web: RoomWeb, room: Room, viewer: Viewer, hello: dict, release) -> None:
        super().__init__()
        self.web, self.room, self.viewer = web, room, viewer
        self.hello = f"data: {json.dumps(hello, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
        self.release = release
        self.task: asyncio.Task | None = None
        self.gone = False  # the viewer hung up
        self.stalled = False  # a write was stuck for stall_s: dropped
        self.sending_since: float | None = None
        self.last_write = time.monotonic()

    async def __call__(self, scope, receive, send) -> None:
        self.task = asyncio.current_task()
        watcher = asyncio.ensure_future(self._watch(receive))
        self.web.streams.add(self)
        try:
            await self._write(send, {"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"x-accel-buffering", b"no"),
                *[(k.encode(), v.encode()) for k, v in SECURITY.items()]]})
            await self._body(send, self.hello)
            await self._run(send)
            if not self.gone:
                await self._write(send, {"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not (self.gone or self.stalled):
                raise  # the server is stopping
            if self.stalled:
                log.info("room: a viewer's stream was stuck for %g s and was dropped", self.web.stall_s)
        finally:
            watcher.cancel()
            self.web.streams.discard(self)
            self.room.leave(self.viewer)
            self.release()

    async def _run(self, send) -> None:
        hub, viewer = self.room.hub, self.viewer
        while True:
            frames = hub.take(viewer)
            if frames:
                await self._body(send, frames[0] if len(frames) == 1 else b"".join(frames))
                if viewer.done:
                    return
                continue
            if viewer.done:
                return
            if not self.web.stopping:
                await self.room.changed()
            if self.web.stopping:
                return  # the server is going down: the page reconnects and resumes
            if time.monotonic() - self.last_write >= self.web.ping_s:
                await self._body(send, b": ping\n\n")

    async def _body(self, send, data: bytes) -> None:
        await self._write(send, {"type": "http.response.body", "body": data, "more_body": True})
        self.last_write = time.monotonic()

    async def _write(self, send, message: dict) -> None:
        self.sending_since = time.monotonic()
        try:
            await send(message)
        finally:
            self.sending_since = None

    async def _watch(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self.task is not None:
            self.task.cancel()

    def stall(self) -> None:
        self.stalled = True
        if self.task is not None:
            self.task.cancel()


class RoomWeb:
    """The viewer side of one web server: the rooms it serves, the limits, the open streams.

    ``routes()`` for the app; ``start()``/``stop()`` from its lifespan (rooms attach to its loop, and a
    heartbeat pings idle streams and drops stuck ones); ``add`` a room while it runs.
    """

    def __init__(self, rooms: Rooms | None = None, access: AccessOptions | None = None, *, ping_s: float = 15.0,
                 stall_s: float = 30.0) -> None:
        self.rooms = rooms or Rooms()
        self.limits = AddressLimits(access)
        access_log = logging.getLogger("uvicorn.access")
        if _NO_VIEWER_LINES not in access_log.filters:
            access_log.addFilter(_NO_VIEWER_LINES)
        self.ping_s = ping_s
        self.stall_s = stall_s
        self.streams: set[EventStream] = set()
        self.stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._beat: asyncio.Task | None = None
        self._page = static_text("index.html").encode()
        self._join = static_text("join.html").encode()
        self._static = {name: static_text(name).encode() for name in STATIC_TYPES}

    def add(self, room: Room) -> Room:
        self.rooms.add(room)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(room.attach, self._loop)
        return room

    async def start(self) -> None:
        self.stopping = False
        self._loop = asyncio.get_running_loop()
        for room in self.rooms:
            room.attach(self._loop)
        self._beat = asyncio.ensure_future(self._heartbeat())

    def hang_up(self) -> None:
        """End every stream now, properly (on the loop): the server is about to stop."""
        self.stopping = True
        for room in self.rooms:
            room._wake()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    async def stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        for room in self.rooms:
            room.detach()
        self._loop = None

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(min(self.ping_s, self.stall_s) / 3)
            now = time.monotonic()
            for stream in list(self.streams):
                if stream.sending_since is not None and now - stream.sending_since > self.stall_s:
                    stream.stall()
            for room in self.rooms:
                room._wake()  # idle streams send their ping

    def routes(self) -> list[BaseRoute]:
        return [Route("/", self.join_page), Route("/join", self.join), Route("/static/{name}", self.static),
                Route("/r/{code}", self.page), Route("/r/{code}/events", self.events)]

    # -- endpoints ----------------------------------------------------------------------------------

    def _find(self, request: Request) -> tuple[Room, int] | Response:
        address = request.client.host if request.client else None
        now = time.monotonic()
        if self.limits.blocked(address, now):
            return PlainTextResponse("too many wrong room codes from your address; wait a minute", 429,
                                     headers={**SECURITY, "retry-after": "60"})
        found = self.rooms.find(request.path_params["code"])
        if found is None:
            self.limits.miss(address, now)
            return HTMLResponse(GONE_PAGE, 404, headers=SECURITY)
        return found

    async def page(self, request: Request) -> Response:
        found = self._find(request)
        if isinstance(found, Response):
            return found
        return Response(self._page, media_type="text/html; charset=utf-8", headers=SECURITY)

    async def join_page(self, _request: Request) -> Response:
        return Response(self._join, media_type="text/html; charset=utf-8", headers=SECURITY)

    async def join(self, request: Request) -> Response:
        code = normalize(request.query_params.get("code", ""))
        if code is None:
            return RedirectResponse("/?bad=1", 303, headers=SECURITY)
        return RedirectResponse(f"/r/{code}", 303, headers=SECURITY)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self._static:
            return PlainTextResponse("not found", 404, headers=SECURITY)
        return Response(self._static[name], media_type=STATIC_TYPES[name],
                        headers={**SECURITY, "cache-control": "no-cache"})

    async def events(self, request: Request) -> Response:
        found = self._find(request)
        if isinstance(found, Response):
            return JSONResponse({"error": "no such room"}, found.status_code, headers=SECURITY)
        room, generation = found
        params = request.query_params
        lang = (params.get("lang") or "").strip().lower() or None
        note = None
        if lang is not None:
            if lang not in room.translations.languages:
                lang, note = None, "that language is not offered in this room"
            elif not room.translations.started(lang):
                # The first viewer of a language starts its translator (which may import the LLM client).
                note = await asyncio.get_running_loop().run_in_executor(None, room.translations.choose, lang)
        address = request.client.host if request.client else None
        refused = self.limits.open(address)
        if refused is not None:
            log.debug("room: a stream was refused (%s)", refused)
            message = ("this room has as many viewers as it takes; try again later" if refused == "busy"
                       else "too many open connections from your address")
            return JSONResponse({"error": message}, 503 if refused == "busy" else 429,
                                headers={**SECURITY, "retry-after": "10"})
        viewer = room.join(params.get("after") or request.headers.get("last-event-id"), lang,
                           fresh=params.get("fresh") == "1", generation=generation)
        if generation != room.generation:
            viewer.closed = "rotated"  # the code was rotated while this request was on its way
        log.debug("room: a viewer joined (%d watching; language %s)", room.viewers, lang or "as spoken")
        return EventStream(self, room, viewer, room.hello(lang, note), lambda: self.limits.close(address))


class Streams:
    """ASGI in front of an app: event streams go straight to ``RoomWeb.events``, so each frame written
    to each viewer skips the app's middleware (measured with 500 viewers: 19.5 → 15 µs of CPU per
    viewer per event in front of the room's own app, 16.5 µs as a middleware inside ``live serve``'s)."""

    def __init__(self, app, web: RoomWeb) -> None:
        self.app, self.web = app, web

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "r" and parts[3] == "events" and scope.get("method") == "GET":
            request = Request({**scope, "path_params": {"code": parts[2]}}, receive)
            response = await self.web.events(request)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(web: RoomWeb) -> Streams:
    """The web app of ``live --share``: the viewer side only."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app):
        await web.start()
        try:
            yield
        finally:
            await web.stop()

    # Outside the app and all of its middleware: nothing between a stream and uvicorn's send.
    return Streams(Starlette(routes=web.routes(), lifespan=lifespan), web)
