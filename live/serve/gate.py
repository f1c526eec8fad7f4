"""Who may open a ``/v1/stream``: the checks before a stream starts.

The key is checked on the upgrade request, before any audio is read: a missing or bad key is HTTP
401 (``Authorization: Bearer`` or, from a browser, the ``bearer.KEY`` subprotocol), a browser origin
that is not allowed 403. Then come the limits (an ``error`` message and a close: the day's minutes,
stream slots in all and per key) and the ``start`` message, which opens or resumes the session; the
stream itself is ``stream.StreamConnection``.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from live.errors import STORAGE_FULL, SessionError
from live.serve.keys import ApiKey, KeyRefused
from live.serve.limits import seconds_to_utc_midnight
from live.wire.protocol import BEARER_PREFIX, SUBPROTOCOL, ErrorMessage, ProtocolError, parse_start
from live.serve.state import Server
from live.serve.stream import StreamConnection, close

log = logging.getLogger("live.serve")


def _token(websocket: WebSocket) -> tuple[str | None, bool]:
    """The key from ``Authorization: Bearer`` or a ``bearer.KEY`` subprotocol; whether live.v1 was offered."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    token = None
    header = websocket.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
    for protocol in offered:
        if token is None and protocol.startswith(BEARER_PREFIX):
            token = protocol[len(BEARER_PREFIX):]
    return token, SUBPROTOCOL in offered


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(body, status_code=status, headers=headers))
    else:  # a server without the denial extension: the close code says the same
        await websocket.accept()
        await websocket.send_json(ErrorMessage(code, message).to_json())
        await websocket.close(4401 if status == 401 else 4403)


async def stream_endpoint(websocket: WebSocket, server: Server) -> None:
    """Admission: origin, key, limits; then the stream."""
    metrics = server.metrics
    if not server.config.origin_allowed(websocket.headers.get("origin")):
        metrics.rejections.labels("forbidden").inc()
        await _deny(websocket, 403, "forbidden_origin", "this browser origin may not open streams here")
        return
    token, offered_v1 = _token(websocket)
    try:
        key = await asyncio.to_thread(server.keys.authenticate, token)
    except KeyRefused as exc:
        metrics.rejections.labels("unauthorized").inc()
        await _deny(websocket, 401, "unauthorized", str(exc))
        return
    await websocket.accept(subprotocol=SUBPROTOCOL if offered_v1 else None)  # never the bearer.KEY one
    limit = server.limits.per_key_minutes(key.minutes_per_day)
    if limit and await asyncio.to_thread(server.keys.used_today, key.id) >= limit * 60:
        await _refuse(websocket, server, "quota_exceeded", f"this key's {limit:g} audio minutes for today are used up",
                      seconds_to_utc_midnight())
        return
    refused = server.slots.take(key.id, key.max_streams)
    if refused is not None:
        message = ("the server is full; try again in a moment" if refused == "server_full"
                   else "this key has as many streams open as it may; close one first")
        await _refuse(websocket, server, refused, message, 5)
        return
    try:
        await _stream(websocket, server, key)
    finally:
        server.slots.give_back(key.id)


async def _refuse(websocket: WebSocket, server: Server, code: str, message: str, retry_after: int) -> None:
    server.metrics.rejections.labels(code).inc()
    error = ProtocolError(code, message)
    await websocket.send_json(ErrorMessage(code, message, retry_after).to_json())
    await websocket.close(error.close_code)


async def _stream(websocket: WebSocket, server: Server, key: ApiKey) -> None:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), timeout=server.limits.idle_timeout_s)
        start = parse_start(text, server.settings.language)
        if start.session_id is not None and (old := server.sessions.active(start.session_id)) is not None \
                and old.key_id == key.id:
            await old.supersede()
        opened = await asyncio.to_thread(server.sessions.open, key.id, start)
    except ProtocolError as exc:
        server.metrics.rejections.labels("bad_frame").inc()
        await close(websocket, exc)
        return
    except (KeyError, asyncio.TimeoutError) as exc:  # a binary frame first (KeyError) or nothing at all
        await close(websocket, ProtocolError("expected_start" if isinstance(exc, KeyError) else "idle_timeout",
                                              "send {\"type\": \"start\", …} first"))
        return
    except (OSError, SessionError) as exc:
        await close(websocket, storage_error(exc))
        return
    except WebSocketDisconnect:
        return
    try:
        connection = StreamConnection(server, websocket, key, start, opened)
    except SessionError as exc:  # its folder cannot be written (session.json, the transcript)
        await close(websocket, storage_error(exc))
        return
    await connection.run()


def storage_error(exc: OSError | SessionError) -> ProtocolError:
    """What a stream is told when its session folder cannot be made or written."""
    if exc.errno in STORAGE_FULL:
        return ProtocolError("storage_full", "server storage full: the server cannot keep this session's transcript "
                                             "now; try again later")
    log.error("a stream's session folder cannot be written: %s", exc)
    return ProtocolError("server_error", "the server cannot open a session folder now; try again later")


async def room_endpoint(websocket: WebSocket, server: Server) -> None:
    """``/v1/room``: a sharer's key (scope stream) publishes its session as a room (``live.serve.rooms``)."""
    if not server.config.origin_allowed(websocket.headers.get("origin")):
        server.metrics.rejections.labels("forbidden").inc()
        await _deny(websocket, 403, "forbidden_origin", "this browser origin may not open rooms here")
        return
    token, offered_v1 = _token(websocket)
    try:
        key = await asyncio.to_thread(server.keys.authenticate, token)
    except KeyRefused as exc:
        server.metrics.rejections.labels("unauthorized").inc()
        await _deny(websocket, 401, "unauthorized", str(exc))
        return
    await websocket.accept(subprotocol=SUBPROTOCOL if offered_v1 else None)
    await server.rooms.serve(websocket, key, server.limits.idle_timeout_s)
