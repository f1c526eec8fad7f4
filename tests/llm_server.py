"""A real OpenAI-compatible chat-completions server on loopback, scripted by the tests.

It speaks HTTP/1.1 on 127.0.0.1 (port 0), serves ``POST /v1/chat/completions`` and
``POST /chat/completions`` (DeepSeek's base URL has no ``/v1``), answers as JSON or as an SSE stream
(``data: {...}`` chunks, a final chunk with ``finish_reason``, usage when asked for, ``data: [DONE]``),
records every request, and answers from a queue the test fills:

    server.enqueue_text("# Notes", chunks=5)      # a proper answer in 5 chunks
    server.enqueue_error(429, retry_after=0)      # an OpenAI-style error
    server.enqueue_cut("partial answer", after_chunks=2)   # the socket closes mid-stream
    server.enqueue_hang()                         # nothing until release() or close()

With an empty queue it echoes a short deterministic answer: ``# Notes`` and the word count of the
last user message, so answers (and so the "previous notes" of the next request) stay small; or, when a
test sets ``server.responder = fn``, ``fn(body)``'s text (a stand-in model that reads the request).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass
class Reply:
    """One scripted answer. ``status`` other than 200 sends an OpenAI-style error body."""

    text: str = ""
    chunks: int = 4
    delay_s: float = 0.0  # before each chunk
    status: int = 200
    error_type: str = "invalid_request_error"
    retry_after: float | None = None
    cut_after: int | None = None  # close the socket after this many chunks
    end_without_finish: bool = False  # end the body properly but never send finish_reason or [DONE]
    hang_after: int | None = None  # send this many chunks (0: not even headers), then wait for release()
    finish_reason: str = "stop"


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def prompt_text(self) -> str:
        """Everything the model was given, joined: what tests search for finals and notes in."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)

    @property
    def prompt_chars(self) -> int:
        return sum(len(str(m.get("content", ""))) for m in self.messages)

    @property
    def last_user(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1]["content"]) if users else ""


def echo_answer(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    words = len(str(users[-1].get("content", "")).split()) if users else 0
    return f"# Notes\n\n- **echo**: the last message had {words} words.\n"


class LLMServer:
    """The server and its script. Use it through the ``llm_server`` fixture."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate, key) PEM files to serve HTTPS instead of HTTP."""
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.hanging = threading.Event()  # set while a handler is hanging
        self._arrived = threading.Condition(self._lock)
        self.responder: Callable[[dict[str, Any]], str] | None = None  # answers when the queue is empty
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
                return  # keep pytest output clean; requests are recorded instead

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                server._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                self.send_error(404)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="llm-server", daemon=True)
        self._thread.start()
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    # -- script ------------------------------------------------------------------------------

    def enqueue(self, reply: Reply, times: int = 1) -> None:
        with self._lock:
            for _ in range(times):
                self._script.append(reply)

    def enqueue_text(self, text: str, chunks: int = 4, delay_s: float = 0.0, finish_reason: str = "stop") -> None:
        self.enqueue(Reply(text=text, chunks=chunks, delay_s=delay_s, finish_reason=finish_reason))

    def enqueue_error(self, status: int, message: str = "scripted error", *, retry_after: float | None = None,
                      times: int = 1, error_type: str = "invalid_request_error") -> None:
        self.enqueue(Reply(status=status, text=message, retry_after=retry_after, error_type=error_type), times)

    def enqueue_cut(self, text: str, after_chunks: int = 2, chunks: int = 6) -> None:
        self.enqueue(Reply(text=text, chunks=chunks, cut_after=after_chunks))

    def enqueue_hang(self, after_chunks: int = 0, text: str = "a slow answer in pieces") -> None:
        self.enqueue(Reply(text=text, chunks=4, hang_after=after_chunks))

    def release(self) -> None:
        """Let every hanging handler go (it closes its connection without an answer)."""
        self._release.set()

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # -- serving -----------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if h.path not in PATHS:
            self._send_json(h, 404, {"error": {"message": f"no route {h.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_json(h, 400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        with self._arrived:
            self.requests.append(RecordedRequest(h.path, {k.lower(): v for k, v in h.headers.items()}, body))
            fallback = self.responder or echo_answer
            reply = self._script.popleft() if self._script else Reply(text=fallback(body))
            self._arrived.notify_all()
        if reply.hang_after == 0:
            self._hang()
            return
        if reply.status != 200:
            headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            error = {"error": {"message": reply.text, "type": reply.error_type, "code": str(reply.status)}}
            self._send_json(h, reply.status, error, headers)
            return
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_stream(h, body, reply, include_usage)
        else:
            self._send_json(h, 200, {
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                             "finish_reason": reply.finish_reason}],
                "usage": _usage(body, reply.text),
            })

    def _hang(self) -> None:
        self.hanging.set()
        self._release.wait()

    @staticmethod
    def _send_json(h: BaseHTTPRequestHandler, status: int, obj: dict[str, Any],
                   headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)
        h.close_connection = True

    def _send_stream(self, h: BaseHTTPRequestHandler, body: dict[str, Any], reply: Reply, usage: bool) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        model = body.get("model", "")

        def event(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            frame = f"data: {data}\n\n".encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            h.wfile.flush()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        try:
            for i, piece in enumerate(_split(reply.text, reply.chunks)):
                if reply.cut_after is not None and i >= reply.cut_after:
                    h.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.hang_after is not None and i >= reply.hang_after:
                    self._hang()
                    return
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                event(chunk(delta))
            if not reply.end_without_finish:
                event(chunk({}, reply.finish_reason))
                if usage:
                    event({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                           "model": model, "choices": [], "usage": _usage(body, reply.text)})
                event("[DONE]")
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away (cancelled); nothing to answer


def _split(text: str, n: int) -> list[str]:
    """``text`` in ``n`` nearly equal pieces (fewer when the text is shorter)."""
    n = max(1, min(n, len(text))) if text else 1
    size, extra = divmod(len(text), n)
    pieces, at = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        pieces.append(text[at:at + step])
        at += step
    return pieces


def _usage(body: dict[str, Any], answer: str) -> dict[str, int]:
    """Deterministic counts (a character is a quarter token) so tests can check usage is recorded."""
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages") or []) // 4
    completion = len(answer) // 4
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": prompt}


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A fresh scripted server per test, shut down (hanging handlers released) afterwards."""
    server = LLMServer()
    try:
        yield server
    finally:
        server.close()
