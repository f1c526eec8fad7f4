"""The ASGI app: one factory for ``live serve`` and the tests.

``create_app(config)`` builds the server state (keys, the shared model, limits, metrics) and a
FastAPI app serving ``/v1/stream`` (WebSocket), ``/v1/audio/transcriptions``, ``/v1/models``,
``/v1/keys``, ``/healthz``, ``/readyz`` and ``/metrics``. The model starts loading when the app
starts; ``/readyz`` says when it is ready, and streams opened before then are captioned once it is.
Tests pass ``load_backend`` to share one loaded engine between servers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from live import __version__
from live.serve import admin, rest
from live.serve.deps import ApiError
from live.serve.gate import stream_endpoint
from live.wire.auth import protect_logs
from live.serve.scheduler import Backend
from live.serve.state import Server, ServerConfig

UPLOAD_PATH = "/v1/audio/transcriptions"


class UploadLimit:
    """Refuses an upload larger than ``max_bytes`` with 413: at once when Content-Length says so,
    else as soon as the body passes the limit (nothing more is read)."""

    def __init__(self, app, max_bytes: int, on_reject: Callable[[], None]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_reject = on_reject

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        over = False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise ValueError("upload over the limit")
            return message

        async def guarded_send(message):
            if not over:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except ValueError:
            if not over:
                raise
        if over:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        self.on_reject()
        megabytes = self.max_bytes / 1e6
        body = json.dumps({"error": {"message": f"the file is larger than this server takes ({megabytes:g} MB)",
                                     "type": "invalid_request_error", "code": "too_large"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


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
    async def api_error(_request: Request, exc: ApiError):
        return exc.response()

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

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await stream_endpoint(websocket, server)

    app.add_middleware(UploadLimit, max_bytes=int(config.limits.upload_mb * 1e6),
                       on_reject=lambda: server.metrics.rejections.labels("too_large").inc())
    return app
