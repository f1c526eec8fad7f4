"""The connections under the app: uvicorn's own HTTP and WebSocket protocols, with what a server on a
network needs and uvicorn leaves out.

* A connection must send its request's headers within ``request_timeout_s`` (uvicorn waits for
  ever: a socket that sends nothing, or a header a byte a minute, holds a connection open). It gets
  408 and is closed.
* TCP_NODELAY on every connection. uvicorn's asyncio path (no uvloop, as a plain ``pip install``
  has it) leaves Nagle on: a response written in two parts waited for the client's delayed ACK, and a
  request on a kept-alive connection took ~45 ms against ~7 ms on a new one.
* A WebSocket message the protocol layer refuses (over the size limit: 1009; text that is not
  UTF-8: 1007) is told to the client as an ``error`` message before the close, like every other
  refusal, and logged in one line, not a traceback per frame.

``config(app, limits, ...)`` is the uvicorn configuration ``live serve`` and the tests both use.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from live.serve.limits import Limits
from live.wire.protocol import ProtocolError

log = logging.getLogger("live.serve")

TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                  b"content-length: %d\r\n\r\n%s")


class GuardedHttp(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools, or h11 where that is all there is) with a header timeout
    and TCP_NODELAY."""

    header_timeout_s = 30.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        """Headers must now arrive in time: those of the request after ``self.cycle``."""
        waiting_after = self.cycle
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late, waiting_after)

    def _headers_late(self, waiting_after: Any) -> None:
        self._header_timer = None
        if self.cycle is not waiting_after or self.transport.is_closing():
            return  # a request's headers came (its own timeouts and uvicorn's keep-alive take over)
        body = json.dumps({"error": {"message": f"no complete request headers within {self.header_timeout_s:g} s",
                                     "type": "invalid_request_error", "param": None,
                                     "code": "request_timeout"}}).encode()
        self.transport.write(TIMEOUT_ANSWER % (len(body), body))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._header_timer is None:
            self._arm()  # the first bytes of a next request on a kept-alive connection
        super().data_received(data)

    def handle_websocket_upgrade(self, *args: Any) -> None:
        self._disarm()
        super().handle_websocket_upgrade(*args)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None


class GuardedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, saying why when it refuses a message itself, and closing so that
    the client reads it: uvicorn closed the socket at once, and a client still sending got a reset that
    lost the close frame (1006, nothing said). Here the server half-closes, reads and drops what
    still comes for up to ``LINGER_S``, and then closes."""

    frame_bytes = 32000  # the longest audio frame the stream takes (at 16 kHz), for the message
    LINGER_S = 5.0
    _lingering = False

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                self.frames = []
                log.info("%s: a text message that is not UTF-8; closed (1007)", self._peer())
                error = ProtocolError("bad_json", "text messages must be UTF-8 JSON objects such as {\"type\": \"stop\"}")
                self.transport.write(_text_frame(error.to_json()))
                self.conn.send_close(error.close_code, error.message[:120])
                self._end(error.close_code, error.message)
                return
        super().send_receive_event_to_app()

    def handle_parser_exception(self) -> None:
        close = self.conn.close_sent
        assert close is not None
        if close.code == 1009:
            log.info("%s: a message over %d bytes; closed (1009)", self._peer(), self.config.ws_max_size)
            self.transport.write(_text_frame(ProtocolError(
                "frame_too_large", f"a frame holds at most {self.frame_bytes} bytes at 16 kHz (this one was over "
                                   f"{self.config.ws_max_size}); send shorter frames").to_json()))
        self._end(close.code, close.reason)

    def _end(self, code: int, reason: str) -> None:
        """The app hears of the close; the close frame goes out; the socket lingers (see the class doc)."""
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        # uvicorn closes at once when the app returns unless a close timer runs: this is that timer.
        self.close_timer = self.loop.call_later(self.LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # what a refused client still sends is read and dropped
        super().data_received(data)

    def _peer(self) -> str:
        return "%s:%d" % self.client if self.client else "a client"


def _text_frame(message: dict) -> bytes:
    """A whole unmasked text frame (a server's): valid whatever extensions were agreed, as an
    uncompressed message is always allowed."""
    return Frame(Opcode.TEXT, json.dumps(message).encode()).serialize(mask=False)


def config(app, limits: Limits, **kwargs) -> uvicorn.Config:
    """The uvicorn configuration of a live server: these protocols, with the limits' timeout and
    frame size, and a WebSocket message limit a little above the largest frame the stream takes."""
    http = type("LiveHttp", (GuardedHttp,), {"header_timeout_s": limits.request_timeout_s})
    ws = type("LiveWebSocket", (GuardedWebSocket,), {"frame_bytes": limits.frame_bytes(16000)})
    kwargs.setdefault("ws_max_size", max(1 << 20, 4 * limits.frame_bytes(48000)))
    return uvicorn.Config(app, http=http, ws=ws, log_config=None, lifespan="on", server_header=False, **kwargs)
