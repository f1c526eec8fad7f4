"""The client's connection to a ``live serve``: it sends the audio, receives the captions, and
reconnects and resumes when the connection drops or the server restarts.

Resume is part of the protocol. The client keeps every sample from the end of the last final it
received (``AudioLog``); on reconnecting it sends ``start`` with its ``session_id``, ``resume_from``
(where that final ended) and ``next_index``, then the audio from there. The server keeps the finals
up to that point, continues the session's clock and indices, and so no final is lost or repeated.
Everything runs on one asyncio loop in a thread of its own; the session's worker thread talks to it
through the ``AudioLog`` (audio out) and a queue (events in).
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from live.audio import SAMPLE_RATE
from live.captions import Caption
from live.wire.auth import protect_logs
from live.wire.protocol import (SUBPROTOCOL, Done, ErrorMessage, Ready, ServerMessage, Start, Stop, decode_server, encode,
                                encode_pcm)

log = logging.getLogger("live.session.remote")

FRAME_SAMPLES = SAMPLE_RATE // 2  # at most 0.5 s of audio a frame (the server takes up to 1 s)
BACKOFF_S = (0.5, 10.0)  # first and longest wait between reconnects
FIRST_TRIES = 4  # a server never reached in this many tries (~4 s) is an error, not an outage
FATAL = {4401: "the server refused the API key", 4403: "the server refused this origin",
         4400: "the server did not understand this client", 1003: "the server did not understand this client",
         1007: "the server did not understand this client", 1009: "the server did not understand this client",
         4415: "the server does not take this audio", 4409: "another connection resumed this session",
         4413: "the session reached the server's length limit", 4429: "the key's audio minutes for today are used up"}


class AudioLog:
    """Audio not yet covered by a final the client has: sent, or waiting to be sent. Thread-safe.

    Samples are numbered on the session's clock (sample 0 is where the session began). The worker
    thread appends; the link reads from any position and trims what a final has covered. At most
    ``max_s`` seconds are kept: past that (a long outage) the oldest audio goes, and ``dropped_s``
    says how much (it is still in the local audio file).
    """

    def __init__(self, max_s: float = 900.0, start: int = 0) -> None:
        self._blocks: deque[tuple[int, np.ndarray]] = deque()
        self._lock = threading.Lock()
        self.base = start  # first sample kept
        self.end = start  # one past the last sample appended
        self.closed = False
        self.max_samples = int(max_s * SAMPLE_RATE)
        self.dropped_s = 0.0
        self.on_more: Callable[[], None] | None = None

    def append(self, block: np.ndarray) -> None:
        with self._lock:
            self._blocks.append((self.end, np.asarray(block, dtype=np.float32)))
            self.end += len(block)
            while self.end - self.base > self.max_samples and len(self._blocks) > 1:
                start, old = self._blocks.popleft()
                self.base = start + len(old)
                self.dropped_s += len(old) / SAMPLE_RATE
        self._notify()

    def close(self) -> None:
        self.closed = True
        self._notify()

    def _notify(self) -> None:
        if self.on_more is not None:
            self.on_more()

    def trim(self, sample: int) -> None:
        """A final covers the audio up to ``sample``: what ends before it is not needed any more."""
        with self._lock:
            while self._blocks and self._blocks[0][0] + len(self._blocks[0][1]) <= sample:
                start, old = self._blocks.popleft()
                self.base = start + len(old)
            if not self._blocks:
                self.base = max(self.base, min(sample, self.end))

    def read(self, pos: int, most: int) -> np.ndarray:
        """Up to ``most`` samples from ``pos`` on (fewer, or none, if not there yet)."""
        with self._lock:
            parts: list[np.ndarray] = []
            cur = pos
            for start, block in self._blocks:
                if start + len(block) <= cur:
                    continue
                if start > cur:
                    break
                piece = block[cur - start: cur - start + most - (cur - pos)]
                parts.append(piece)
                cur += len(piece)
                if cur - pos >= most:
                    break
            return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def unsent_s(self, pos: int) -> float:
        return max(0, self.end - pos) / SAMPLE_RATE


@dataclass
class Fatal(Exception):
    message: str


class Retry(Exception):
    """The connection failed in a way that reconnecting may fix."""


class Link:
    """One stream's connection, reconnected until ``done`` (or a fatal error). Events go to ``inbox``
    as tuples: ("ready", Ready), ("message", a ``live.wire.protocol.ServerMessage``), ("lost", why),
    ("fatal", why), ("done",)."""

    def __init__(self, url: str, token: str, audio: AudioLog, inbox: queue.SimpleQueue, *, language: str,
                 partials: bool, next_index: int = 0) -> None:
        self.url, self._token, self.audio, self.inbox = url, token, audio, inbox
        self.language, self.partials = language, partials
        self.session_id: str | None = None
        self.covered = audio.base  # samples covered by the finals received (a resumed session: its clock)
        self.next_index = next_index
        self.sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._more: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._abort = False
        self._thread: threading.Thread | None = None
        self._last_ok = False  # the last connection got as far as ready
        self._ever_ok = False
        self._last_error = ""  # the last error message the server sent
        self._refusal = ""  # why the server last refused a start (it is there, and said no)

    # -- from the worker thread --------------------------------------------------------------------

    def start(self) -> None:

        protect_logs()  # websockets logs the Authorization header at DEBUG
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="live-link", daemon=True)
        self._thread.start()

    def again(self) -> Link:
        """A new link (after a fatal error, on retry) that resumes where this one was."""
        link = Link(self.url, self._token, self.audio, self.inbox, language=self.language, partials=self.partials)
        link.session_id, link.covered, link.next_index = self.session_id, self.covered, self.next_index
        return link

    def reconnect_now(self) -> None:
        self._call(lambda: self._wake.set() if self._wake else None)

    def abort(self) -> None:
        self._abort = True
        self._call(lambda: [e.set() for e in (self._wake, self._more) if e is not None])

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _call(self, fn: Callable[[], object]) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop has finished
                pass

    # -- the loop -------------------------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._more, self._wake = asyncio.Event(), asyncio.Event()
        self.audio.on_more = lambda: self._call(self._more.set)
        attempt, lost = 0, False
        while not self._abort:
            try:
                await self._connect_once()
                self.inbox.put(("done",))
                return
            except Fatal as exc:
                self.inbox.put(("fatal", exc.message))
                return
            except Exception as exc:  # noqa: BLE001 - refused, reset, timed out, closed: reconnect and resume
                if self._abort:
                    return
                if self._last_ok:
                    attempt, lost = 0, False  # it was working: this is a new outage
                why = str(exc) if isinstance(exc, Retry) else _describe(exc)
                log.info("connection to %s lost: %s", self.url, why)
                if not self._ever_ok and attempt + 1 >= FIRST_TRIES:
                    # A server that answered and refused (full, its storage full) is there: it says why.
                    self.inbox.put(("fatal", f"the server at {self.url} refused the stream: {self._refusal}"
                                    if self._refusal else f"cannot reach the server at {self.url} ({why}); "
                                    "is `live serve` running there?"))
                    return
                if not lost and self._ever_ok:
                    self.inbox.put(("lost", why))
                lost = True
            attempt += 1
            delay = min(BACKOFF_S[1], BACKOFF_S[0] * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

    async def _connect_once(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        self._last_ok = False
        self._refusal = ""
        resume = max(self.covered, self.audio.base)
        start = Start(SAMPLE_RATE, self.language, self.partials, self.session_id, resume / SAMPLE_RATE, self.next_index)
        try:
            async with connect(self.url, additional_headers={"Authorization": f"Bearer {self._token}"},
                               subprotocols=[SUBPROTOCOL], open_timeout=10, ping_interval=10, ping_timeout=10,
                               close_timeout=5, max_size=1 << 22) as ws:
                await ws.send(encode(start))
                ready = decode_server(await asyncio.wait_for(ws.recv(), timeout=30))
                if not isinstance(ready, Ready):
                    await self._refused(ws, ready)
                self.session_id = ready.session_id
                self.sent = round(ready.clock * SAMPLE_RATE)
                self.inbox.put(("ready", ready))
                self._last_ok = self._ever_ok = True
                sender = asyncio.create_task(self._send(ws))
                try:
                    async for raw in ws:
                        if self._receive(decode_server(raw)):
                            return
                finally:
                    sender.cancel()
                raise self._closed(ws.close_code, ws.close_reason)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise Fatal(f"the server refused the connection ({status}): {_body(exc)}") from None
            raise Retry(f"the server answered HTTP {status}") from None
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            raise self._closed(code, exc.rcvd.reason if exc.rcvd is not None else "") from None

    async def _refused(self, ws, message: ServerMessage | None) -> NoReturn:
        """The server answered start with an error (then closes): fatal, or worth another try."""
        try:
            await asyncio.wait_for(ws.wait_closed(), timeout=5)
        except asyncio.TimeoutError:
            pass
        error = message if isinstance(message, ErrorMessage) else ErrorMessage("", "")
        if error.code == "unknown_session":
            self.session_id = None  # a server that lost the session: a new one, on the same clock
            raise Retry("the server no longer has this session; starting a new one on the same clock")
        self._last_error = error.message or self._last_error
        self._refusal = self._last_error or f"code {ws.close_code}"
        raise self._closed(ws.close_code or 4400, error.message)

    def _closed(self, code: int | None, reason: str) -> Exception:
        code = code or 1006
        if code in FATAL:
            return Fatal(f"{FATAL[code]}{': ' + self._last_error if self._last_error else ''}")
        return Retry(f"closed with code {code}{': ' + self._last_error if self._last_error else ''}")

    def _receive(self, message: ServerMessage | None) -> bool:
        """One message from the server (None: one this client does not know); True once it is ``done``."""
        if isinstance(message, Caption):
            final, end_sample = message.kind == "final", round(message.end * SAMPLE_RATE)
            if message.index < self.next_index or (final and end_sample <= self.covered and self.covered):
                return False  # a caption the client has already (sent again across a resume)
            if final:
                self.covered, self.next_index = end_sample, message.index + 1
                self.audio.trim(end_sample)
        elif isinstance(message, ErrorMessage):
            self._last_error = message.message
        elif isinstance(message, Done):
            return True
        elif message is None:
            return False
        self.inbox.put(("message", message))
        return False

    async def _send(self, ws) -> None:
        """Send the audio from ``sent`` on as it comes, then stop once the input has ended."""
        from websockets.exceptions import ConnectionClosed

        assert self._more is not None
        try:
            while not self._abort:
                if self.sent < self.audio.base:
                    # A long stall let the log drop audio not yet sent: resume past the gap instead.
                    self._last_error = "audio was dropped while the server was unreachable"
                    await ws.close(1000)
                    return
                chunk = self.audio.read(self.sent, FRAME_SAMPLES)
                if chunk.size:
                    await ws.send(encode_pcm(chunk))
                    self.sent += chunk.size
                    continue
                if self.audio.closed and self.sent >= self.audio.end:
                    await ws.send(encode(Stop()))
                    return
                self._more.clear()
                if self.audio.read(self.sent, 1).size or self.audio.closed:
                    continue
                await self._more.wait()
        except ConnectionClosed:
            return  # the receiving side sees the close and says why


def _body(exc) -> str:
    try:
        return json.loads(exc.response.body)["error"]["message"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "no reason given"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
