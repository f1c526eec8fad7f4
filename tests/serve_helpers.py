"""Helpers for the server tests: a real uvicorn on 127.0.0.1 (in this process or as `live serve`),
keys, and a real `websockets` client that streams real speech."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from live.audio import SAMPLE_RATE
from live.captions import Caption
from live.config import Settings
from live.serve import transport
from live.serve.app import create_app
from live.serve.keys import KeyStore
from live.serve.limits import Limits
from live.serve.scheduler import LocalBackend
from live.serve.state import ServerConfig

REPO = Path(__file__).resolve().parents[1]
HEADLESS_KEYS = set(Caption("final", 0.0, 1.0, "x").to_json())  # exactly `live --headless --json`
JFK = "And so my fellow Americans ask not what your country can do for you ask what you can do for your country"


def pcm16(audio: np.ndarray) -> bytes:
    return np.clip(np.rint(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    """Wait for ``condition()`` to hold; fail with ``what`` if it does not within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engineered:
    """A real engine that can be made slower (to see backpressure) and counts its calls."""

    def __init__(self, engine, delay_s: float = 0.0) -> None:
        self.engine, self.delay_s, self.calls = engine, delay_s, 0
        self.name, self.model = engine.name, engine.model

    def transcribe(self, audio, language="auto"):
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.engine.transcribe(audio, language)


class LiveServer:
    """``create_app`` served by uvicorn on a free loopback port, in a thread of this process."""

    def __init__(self, tmp: Path, engine, *, limits: Limits | None = None, origins: tuple[str, ...] = (),
                 settings: Settings | None = None, max_batch: int = 8, rcvbuf: int | None = None) -> None:
        self.tmp = Path(tmp)
        self.config = ServerConfig(settings=settings or Settings(engine="whisper", language="en"),
                                   db=self.tmp / "server.db", data_dir=self.tmp / "data", limits=limits or Limits(),
                                   origins=origins, max_batch=max_batch)
        self.engine = engine
        self.app = create_app(self.config, load_backend=lambda: LocalBackend(engine, max_batch=max_batch))
        self.state = self.app.state.server
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.rcvbuf = rcvbuf

    def __enter__(self) -> LiveServer:
        sock = socket.create_server(("127.0.0.1", 0))
        if self.rcvbuf:  # accepted sockets inherit it: what the kernel holds can no longer hide backpressure
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(transport.config(self.app, self.config.limits, log_level="warning",
                                                       ws_max_size=1 << 22))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not (self._server.started and self.state.scheduler.ready.is_set()):
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(15)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def key(self, scope: str = "stream", **kw) -> str:
        store = KeyStore(self.config.db)
        try:
            return store.create(kw.pop("name", "test"), scope, **kw)[1]
        finally:
            store.close()

    async def streaming(self, *tokens: str, timeout: float = 30.0) -> None:
        """Until a stream of each key in ``tokens`` is in progress on the server (admitted, its slot taken)."""
        ids = {token.split("_")[1] for token in tokens}
        deadline = time.monotonic() + timeout
        while not ids <= {s.key_id for s in list(self.state.streams)}:
            assert time.monotonic() < deadline, "the streams were never admitted"
            await asyncio.sleep(0.02)


class ServeProcess:
    """``live serve`` as a child process (what a user runs); kill() is a crash, not a shutdown."""

    def __init__(self, tmp: Path, port: int | None = None, *extra: str, env: dict[str, str] | None = None) -> None:
        self.env = env or {}
        self.tmp = Path(tmp)
        self.port = port or free_port()
        self.db = self.tmp / "server.db"
        self.data = self.tmp / "data"
        self.log = self.tmp / "serve.log"
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> ServeProcess:
        self.tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.env}
        cmd = [sys.executable, "-m", "live", "serve", "--port", str(self.port), "--db", str(self.db),
               "--data-dir", str(self.data), "--engine", "whisper", "--language", "en", "--threads", "1", *self.extra]
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"live serve exited: {self.log.read_text()[-2000:]}"
            try:
                scheme = "https" if "--tls-cert" in self.extra else "http"
                if httpx.get(f"{scheme}://127.0.0.1:{self.port}/readyz", timeout=1, verify=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"live serve did not get ready: {self.log.read_text()[-2000:]}")

    def key(self, scope: str = "stream") -> str:
        store = KeyStore(self.db)
        try:
            return store.create("test", scope)[1]
        finally:
            store.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@dataclass
class Streamed:
    """What one stream got back."""

    messages: list[dict] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    send_s: float = 0.0  # how long sending the audio took
    subprotocol: str | None = None
    opened: float = 0.0  # monotonic time of the upgrade, and of the close
    closed: float = 0.0

    def of(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def finals(self) -> list[dict]:
        return [m for m in self.of("final") if m["text"]]

    @property
    def text(self) -> str:
        return " ".join(m["text"] for m in self.finals)

    @property
    def error(self) -> dict | None:
        errors = self.of("error")
        return errors[-1] if errors else None


async def stream(url: str, token: str | None, audio: np.ndarray | None = None, *, frame_s: float = 0.25,
                 realtime: bool = False, start: dict | None = None, headers: dict | None = None,
                 subprotocols: list[str] | None = None, frames: list | None = None, stop: bool = True,
                 rate: int = SAMPLE_RATE, timeout: float = 120.0, sndbuf: int | None = None,
                 speed: float = 1.0) -> Streamed:
    """Stream ``audio`` (or the raw ``frames``) and collect everything until the server closes."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    out = Streamed()
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    sock = None
    if sndbuf:
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.connect((host, int(port)))
        sock.setblocking(False)
    async with connect(url, additional_headers={**auth, **(headers or {})}, subprotocols=subprotocols,
                       max_size=1 << 22, open_timeout=20, sock=sock) as ws:
        out.subprotocol, out.opened = ws.subprotocol, time.monotonic()

        async def receive() -> None:
            try:
                async for raw in ws:
                    out.messages.append(json.loads(raw))
            except ConnectionClosed:
                pass

        receiver = asyncio.create_task(receive())
        began = time.monotonic()
        try:
            await ws.send(json.dumps({"type": "start", "format": "pcm_s16le", "sample_rate": rate, "language": "en",
                                      **(start or {})}))
            if frames is not None:
                for frame in frames:
                    await ws.send(frame)
            elif audio is not None:
                step = int(frame_s * rate)
                for i in range(0, len(audio), step):
                    await ws.send(pcm16(audio[i:i + step]))
                    if realtime:  # paced like a microphone (``speed`` times faster)
                        await asyncio.sleep(max(0.0, began + (i + step) / rate / speed - time.monotonic()))
            out.send_s = time.monotonic() - began
            if stop:
                await ws.send(json.dumps({"type": "stop"}))
        except ConnectionClosed:
            pass
        await asyncio.wait_for(receiver, timeout)
        out.close_code, out.close_reason, out.closed = ws.close_code, ws.close_reason or "", time.monotonic()
    return out


def run(coro):
    return asyncio.run(coro)
