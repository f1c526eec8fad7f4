"""The ASGI app: one factory for ``live serve`` and the tests.

``create_app(config)`` builds the server state (keys, the shared model, limits, metrics) and a
FastAPI app serving ``/v1/stream`` (WebSocket), ``/v1/audio/transcriptions``, ``/v1/models``,
``/v1/keys``, ``/healthz``, ``/readyz`` and ``/metrics``. The model starts loading when the app
starts; ``/readyz`` says when it is ready, and streams opened before then are captioned once it is.
Tests pass ``load_backend`` to share one loaded engine between servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from live import __version__
from live.room.web import Streams
from live.serve import admin, rest
from live.serve.deps import ApiError, validation_error
from live.serve.gate import room_endpoint, stream_endpoint
from live.wire.auth import protect_logs
from live.serve.scheduler import Backend
from live.serve.state import Server, ServerConfig

BODY_BYTES = 1 << 20  # the largest body of any request but an upload (a key request is a few hundred bytes)


class BodyGuard:
    """Bodies other than uploads (which ``upload`` reads itself): at most ``max_bytes`` (413), and no
    stall longer than ``timeout_s`` between two chunks (408). Refused as soon as either is known: the
    app is told the client left, whatever it answers is dropped, and the refusal goes out instead."""

    def __init__(self, app, max_bytes: int, timeout_s: float, on_reject: Callable[[str], None]) -> None:
        self.app, self.max_bytes, self.timeout_s, self.on_reject = app, max_bytes, timeout_s, on_reject

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] == rest.UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large())
            return
        seen = 0
        refused: ApiError | None = None
        started = False

        async def guarded_receive():
            nonlocal seen, refused
            if refused is None:
                try:
                    message = await asyncio.wait_for(receive(), self.timeout_s)
                except asyncio.TimeoutError:
                    refused = ApiError(408, "request_timeout", f"the body stalled for {self.timeout_s:g} s", close=True)
                else:
                    if message["type"] == "http.request":
                        seen += len(message.get("body", b""))
                        if seen > self.max_bytes:
                            refused = self._too_large()
                    if refused is None:
                        return message
            return {"type": "http.disconnect"}  # what the app hears once the body is refused

        async def guarded_send(message):
            nonlocal started
            if refused is None:
                started = True
                await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if refused is None or started:
                raise  # the app's own failure, not the refused body's
        if refused is not None and not started:
            await self._refuse(scope, receive, send, refused)

    def _too_large(self) -> ApiError:
        return ApiError(413, "too_large", f"a request body holds at most {self.max_bytes} bytes", close=True)

    async def _refuse(self, scope, receive, send, error: ApiError) -> None:
        self.on_reject(error.code)
        await error.response()(scope, receive, send)


def create_app(config: ServerConfig, *, load_backend: Callable[[], Backend] | None = None) -> FastAPI:
    protect_logs()
    server = Server(config, load_backend)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = FastAPI(
        title="live", version=__version__, lifespan=lifespan,
        description="Lecture captions: a WebSocket stream (/v1/stream, see the README's Server section) and "
                    "OpenAI-shaped file transcription. Keys: `live keys create`.",
    )
    app.state.server = server

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        if request.url.path == rest.UPLOAD_PATH and not getattr(request.state, "body_read", False) \
                and _has_body(request):
            exc.close = True  # refused from its headers: the body is never read, so the connection ends here
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        return validation_error(list(exc.errors())).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # FastAPI's own errors (a body it cannot parse, a wrong method) in the same shape as ours.
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not just those of the first route on it
            methods = {m for route in request.app.router.routes if isinstance(route, APIRoute)
                       and route.matches(request.scope)[0] != Match.NONE for m in route.methods}
            headers["Allow"] = ", ".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return ApiError(exc.status_code, code, str(exc.detail), headers).response()

    app.include_router(rest.router)
    app.include_router(admin.router)
    app.router.routes.extend(server.rooms.web.routes())  # the rooms' pages: /r/CODE (no key: the code is enough)

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await stream_endpoint(websocket, server)

    @app.websocket("/v1/room")
    async def room(websocket: WebSocket) -> None:
        await room_endpoint(websocket, server)

    app.add_middleware(BodyGuard, max_bytes=BODY_BYTES, timeout_s=config.limits.request_timeout_s,
                       on_reject=lambda code: server.metrics.rejections.labels(code).inc())
    # Outermost: a room's event streams skip the API's layers (BodyGuard's body timeout included: a
    # stream's request has no body, and it stays open for the whole lecture).
    app.add_middleware(Streams, web=server.rooms.web)
    return app


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length", "0")
    return "transfer-encoding" in request.headers or not length.isdigit() or int(length) > 0
