"""Helpers for the room tests: a real viewer that reads a room's event stream over HTTP (httpx, on a
thread of its own), and captions to publish."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable

import httpx

from live.captions import Caption


def final(index: int, text: str | None = None, start: float | None = None, language: str = "en") -> Caption:
    start = float(index * 3) if start is None else start
    return Caption("final", start, start + 2.5, text or f"caption number {index}", language=language, index=index,
                   emitted=start + 3.0, speech_end=start + 2.4)


def partial(index: int, text: str) -> Caption:
    return Caption("partial", index * 3.0, index * 3.0 + 1.0, text, index=index)


def parse_frames(raw: str) -> list[tuple[str | None, dict]]:
    """SSE frames as (id, data); comments (pings) are left out."""
    out = []
    for block in raw.split("\n\n"):
        ident, data = None, ""
        for line in block.split("\n"):
            if line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                data += line[6:]
        if data:
            out.append((ident, json.loads(data)))
    return out


class Reader:
    """One viewer: GETs ``/r/CODE/events`` over a plain socket (so ``close`` hangs up at once, from any
    thread) and keeps every event, as the page would.

    ``status`` is the HTTP status of the stream (None until it answered); ``ended`` is set when the
    stream has ended (the room's end, a close, or the connection). ``source`` connects from another
    loopback address (127.0.0.2), to tell the viewer's address from the server's own."""

    def __init__(self, base: str, code: str, *, after: str | None = None, lang: str | None = None,
                 fresh: bool = False, headers: dict | None = None, source: str | None = None) -> None:
        params = {k: v for k, v in {"after": after, "lang": lang, "fresh": "1" if fresh else None}.items() if v}
        url = httpx.URL(f"{base}/r/{code}/events", params=params)
        self.host, self.port = url.host, url.port
        self.target = url.raw_path.decode()
        self.headers, self.source = headers or {}, source
        self.events: list[tuple[str | None, dict]] = []
        self.status: int | None = None
        self.ended = threading.Event()
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=60,
                                                  source_address=(self.source, 0) if self.source else None)
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
            self._sock.sendall(f"GET {self.target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                               f"Accept: text/event-stream\r\n{extra}\r\n".encode())
            stream = self._sock.makefile("rb")
            status = int(stream.readline().split()[1])
            chunked = False
            while (line := stream.readline().strip()):
                chunked |= line.lower() == b"transfer-encoding: chunked"
            with self._cond:
                self.status = status
                self._cond.notify_all()
            buffer = ""
            for data in self._chunks(stream) if chunked else iter(lambda: stream.read1(65536), b""):
                buffer += data.decode()
                if "\n\n" not in buffer:
                    continue
                done, _, buffer = buffer.rpartition("\n\n")
                with self._cond:
                    self.events.extend(parse_frames(done))
                    self._cond.notify_all()
        except (OSError, ValueError, IndexError):
            pass  # hung up (by either side)
        finally:
            self.ended.set()
            with self._cond:
                self._cond.notify_all()

    @staticmethod
    def _chunks(stream):
        while True:
            size = int(stream.readline().strip() or b"0", 16)
            if size == 0:
                return
            yield stream.read(size)
            stream.read(2)

    def wait(self, predicate: Callable[[list], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_status(self, timeout: float = 10.0) -> int | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.status is None and not self.ended.is_set() and time.monotonic() < deadline:
                self._cond.wait(0.1)
        return self.status

    def of(self, kind: str) -> list[dict]:
        with self._cond:
            return [data for _, data in self.events if data.get("k") == kind]

    def texts(self) -> list[str]:
        return [e["t"] for e in self.of("f")]

    @property
    def last_id(self) -> str | None:
        with self._cond:
            ids = [i for i, _ in self.events if i]
        return max(ids, key=lambda i: int(i.rsplit("-", 1)[1])) if ids else None

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        self._thread.join(5)


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``check()`` holds within ``timeout`` s (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()
