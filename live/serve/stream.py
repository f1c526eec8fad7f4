"""``/v1/stream``: a WebSocket connection as a front end of the session core.

Like the TUI, a connection builds the same session as a local run (``build_session``), with the
socket's audio as its source and the server's shared engine as its engine, renders the session's
events to the socket, and tells it when the input ends. It builds no pipeline of its own. ``gate``
admits it; ``protocol`` says what the messages are.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import replace

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from live.captions import Caption
from live.serve.keys import ApiKey
from live.wire.protocol import (
    NORMAL_CLOSE,
    Done,
    ProtocolError,
    Ready,
    ServerNotice,
    Start,
    StreamStatus,
    check_frame,
    parse_control,
)
from live.serve.sessions import Opened
from live.serve.source import SocketSource
from live.serve.state import Server
from live.session import EngineState, Finished, Notice, SessionOptions, Status, build_session

log = logging.getLogger("live.serve")

STATUS_EVERY_S = 0.5
USAGE_EVERY_S = 10.0  # audio seconds between two usage records (and quota checks)
GRACEFUL = {"idle_timeout", "session_limit", "quota_exceeded"}  # the last words are captioned first
# A session this far behind reads no more of its socket (the client is slowed down, nothing dropped).
HOLD_FINALS = 3
HOLD_SPEECH_S = 30.0


class Outbox:
    """What goes to the client, in order; a newer partial or status replaces one not yet sent."""

    def __init__(self) -> None:
        self._items: deque[dict] = deque()
        self._partial: dict | None = None
        self._status: dict | None = None
        self._more = asyncio.Event()
        self.closed = False

    def put(self, message: dict) -> None:
        if message.get("type") == "final" and self._partial is not None \
                and self._partial["index"] <= message["index"]:
            self._partial = None  # the final replaces it
        self._items.append(message)
        self._more.set()

    def partial(self, message: dict) -> None:
        self._partial = message
        self._more.set()

    def status(self, message: dict) -> None:
        self._status = message
        self._more.set()

    def close(self) -> None:
        self.closed = True
        self._more.set()

    async def get(self) -> dict | None:
        """The next message; None once closed and empty."""
        while True:
            if self._items:
                return self._items.popleft()
            if self._partial is not None:
                message, self._partial = self._partial, None
                return message
            if self._status is not None:
                message, self._status = self._status, None
                return message
            if self.closed:
                return None
            self._more.clear()
            await self._more.wait()


async def close(websocket: WebSocket, error: ProtocolError | None) -> None:
    if websocket.application_state != WebSocketState.CONNECTED or websocket.client_state != WebSocketState.CONNECTED:
        return
    try:
        if error is None:
            await websocket.send_json(Done().to_json())
            await websocket.close(NORMAL_CLOSE)
        else:
            await websocket.send_json(error.to_json())
            await websocket.close(error.close_code)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client is gone already


class StreamConnection:
    """One stream in progress: the socket, its source, its session and the thread running it."""

    def __init__(self, server: Server, websocket: WebSocket, key: ApiKey, start: Start, opened: Opened) -> None:
        self.server = server
        self.websocket = websocket
        self.key_id = key.id
        self._key_minutes = server.limits.per_key_minutes(key.minutes_per_day)
        self.start = start
        self.opened = opened
        self.loop = asyncio.get_running_loop()
        peer = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else ""
        self.source = SocketSource(self.loop, capacity_s=server.limits.buffer_s, rate=start.sample_rate, peer=peer)
        self.outbox = Outbox()
        self._killed: asyncio.Future = self.loop.create_future()
        self._ended = asyncio.Event()
        self._finished: Finished | None = None
        self._failure: str | None = None
        self._last_notice = ""
        self._last_status = 0.0
        self._unrecorded_s = 0.0
        self._counted = False
        # speakers: the client labels its own finals, from the audio it keeps
        settings = replace(server.settings, language=start.language, record_audio=False, server=None, speakers=False)
        self.session = build_session(settings, self._from_worker, SessionOptions(
            notes="off", folder=opened.folder, partials=start.partials, stop_on_failure=True,
            meta={"input": "websocket", "key_id": key.id, "session_id": opened.session_id, "client": peer,
                  "resumes": opened.resumes, "resumed_at": opened.clock if opened.resumed else None},
            continue_at=(opened.clock, opened.next_index),
        ), open_source=lambda: self.source, load_engine=self._engine)
        self.session.worker.pacer.shared = server.pace
        captioner = self.session.worker.captioner
        self.source.hold = lambda: captioner.pending_finals >= HOLD_FINALS or captioner.pending_audio_s >= HOLD_SPEECH_S

    def _engine(self, _on_status):
        session = self.session

        def kind_of() -> str:  # the decode the session's decoder thread is asking for now
            job = session.decoding
            if job is None:
                return "final"
            if job.kind == "speculative" and session.worker.captioner.pending_finals:
                return "final"  # its segment closed meanwhile: this decode is the final it waits for
            return job.kind

        engine = self.server.scheduler.engine(self.opened.session_id, kind_of)
        return engine, f"{engine.name} on the server"

    # -- events from the session's worker thread ---------------------------------------------------

    def _from_worker(self, event: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:  # the server's loop has stopped
            pass

    def _deliver(self, event: object) -> None:
        metrics = self.server.metrics
        if isinstance(event, Caption):
            if event.kind == "partial":
                self.outbox.partial(event.to_json())
                return
            if event.text:
                metrics.finals.inc()
                metrics.final_latency.observe(max(0.0, event.latency))
            self.outbox.put(event.to_json())
        elif isinstance(event, Status):
            now = time.monotonic()
            if now - self._last_status >= STATUS_EVERY_S:
                self._last_status = now
                self.outbox.status(StreamStatus(event.clock, event.in_speech, event.pending_finals, event.behind,
                                                event.behind_s, event.lag_s, event.shed, self.source.held_s).to_json())
        elif isinstance(event, EngineState) and event.state == "failed":
            self._failure = self._private(event.message)
        elif isinstance(event, Notice):
            self._notice(event.level, event.message)
        elif isinstance(event, Finished):
            writer = self.session.writer
            if writer is not None and writer.error:  # the server's copy lacks something: the client is told
                self._notice("error", writer.error)
            self._finished = event
            self.outbox.close()

    def _private(self, text: str) -> str:
        """A message without the server's paths."""
        return text.replace(str(self.opened.folder), "the server's session folder")

    def _notice(self, level: str, message: str) -> None:
        text = self._private(message)
        if text != self._last_notice:
            self._last_notice = text
            self.outbox.put(ServerNotice(level, text).to_json())

    # -- commands from elsewhere in the server -------------------------------------------------------

    def kill(self, error: ProtocolError) -> None:
        """End this stream now with ``error`` (revoked key, superseded, shutdown)."""
        if not self._killed.done():
            self._killed.set_result(error)

    async def supersede(self) -> None:
        self.kill(ProtocolError("superseded", "this session was resumed on another connection"))
        await self._ended.wait()

    # -- the stream ----------------------------------------------------------------------------------

    async def run(self) -> None:
        server, opened = self.server, self.opened
        server.streams.add(self)
        server.sessions.register(opened.session_id, self)
        server.metrics.streams_active.inc()
        # The worker runs without Session.run's per-session log file: one handler per stream would copy
        # every stream's log lines into every folder. The server's own log has them once.
        thread = threading.Thread(target=self.session.worker.run, name=f"live-serve-{opened.session_id[:6]}",
                                  daemon=True)
        thread.start()
        ending: ProtocolError | None = None
        sender: asyncio.Task | None = None
        try:
            await self.websocket.send_json(self._ready())
            log.info("stream %s %s for key %s", opened.session_id,
                     f"resumed at {opened.clock:.1f} s" if opened.resumed else "opened", self.key_id)
            sender = asyncio.create_task(self._send_loop())
            receiver = asyncio.create_task(self._receive_loop())
            done, _ = await asyncio.wait({receiver, self._killed}, return_when=asyncio.FIRST_COMPLETED)
            if self._killed in done:
                receiver.cancel()
                ending = self._killed.result()
                self._stop_now()
            else:
                ending = await self._after_input(receiver)
            if ending is None or ending.code in GRACEFUL:
                await sender  # the session captions what it has; the sender ends after its last message
            else:
                sender.cancel()
            if self._failure is not None and ending is None:
                ending = ProtocolError("recognition_failed", self._failure)
            await close(self.websocket, ending)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client is gone: it resumes on a new connection if it comes back
        finally:
            if sender is not None:
                sender.cancel()
            if self._finished is None:
                self._stop_now()
            await asyncio.to_thread(thread.join)
            await asyncio.to_thread(self._record_use)
            server.metrics.streams_active.dec()
            server.streams.discard(self)
            server.sessions.unregister(opened.session_id, self)
            server.scheduler.forget(opened.session_id)
            self.session.worker.pacer.leave()
            self._ended.set()
            log.info("stream %s ended%s", opened.session_id, f" ({ending.code})" if ending else "")

    def _ready(self) -> dict:
        backend = self.server.scheduler.backend
        return Ready(self.opened.session_id, self.opened.resumed, self.opened.clock, self.opened.next_index,
                     self.start.sample_rate, self.server.limits.to_json(), backend.name if backend else None,
                     backend.model if backend else None).to_json()

    async def _after_input(self, receiver: asyncio.Task) -> ProtocolError | None:
        """How the input ended: stop (None), a graceful limit, a bad frame, or the client leaving."""
        try:
            outcome = receiver.result()
        except ProtocolError as exc:
            if exc.code in GRACEFUL:
                self.source.end()
            else:
                self.server.metrics.rejections.labels("bad_frame").inc()
                self._stop_now()
            return exc
        if outcome == "disconnected":
            self._stop_now()
            raise WebSocketDisconnect(1006)
        self.source.end()  # stop: what was sent is captioned to the end
        return None

    def _stop_now(self) -> None:
        self.source.stop()
        self.session.stop()

    async def _send_loop(self) -> None:
        while (message := await self.outbox.get()) is not None:
            await self.websocket.send_json(message)

    async def _receive_loop(self) -> str:
        limits = self.server.limits
        max_bytes = limits.frame_bytes(self.start.sample_rate)
        max_s = limits.max_session_h * 3600
        while True:
            try:
                message = await asyncio.wait_for(self.websocket.receive(), timeout=limits.idle_timeout_s)
            except asyncio.TimeoutError:
                raise ProtocolError("idle_timeout", f"nothing received for {limits.idle_timeout_s:g} s") from None
            if message["type"] == "websocket.disconnect":
                return "disconnected"
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                check_frame(data, max_bytes)
                before = self.source.received_s
                await self.source.put(data)
                got = self.source.received_s - before
                self.server.metrics.audio_seconds.labels("stream").inc(got)
                self._unrecorded_s += got
                if self.opened.clock + self.source.received_s >= max_s:
                    raise ProtocolError("session_limit", f"a stream may last {limits.max_session_h:g} h at most")
                if self._unrecorded_s >= USAGE_EVERY_S:
                    await self._check_quota()
            elif text is not None:
                parse_control(text)  # only stop is sent after start
                return "stop"

    async def _check_quota(self) -> None:
        used = await asyncio.to_thread(self._record_use)
        if self._key_minutes and used >= self._key_minutes * 60:
            raise ProtocolError("quota_exceeded", f"this key's {self._key_minutes:g} audio minutes for today are used up")

    def _record_use(self) -> float:
        """Count the audio since the last record against the key; today's total so far. What a full
        disk keeps out of the key database is counted at the next record."""
        audio, first = self._unrecorded_s, not self._counted
        if self.server.record_use(self.key_id, streams=1 if first else 0, audio_s=audio):
            self._unrecorded_s -= audio
            self._counted = True
        return self.server.keys.used_today(self.key_id) + self._unrecorded_s
