"""``live run --server URL``: the session's worker, with recognition on a ``live serve`` machine.

``RemoteWorker`` has the interface and the events of ``live.session.worker.Worker`` (run, stop,
pause, bookmark, retry, clock, stats; Caption, Status, EngineState, Notice, Marker, Finished), so
``build_session`` puts it in a ``Session`` and the TUI and headless mode work unchanged. It reads
the local source, records the audio into the local session folder, sends it through a ``Link``,
and writes each final the server returns to the local transcript before it is shown. A dropped
connection pauses the captions with a notice while the audio goes on being recorded; the link
reconnects with backoff and resumes, and the captions catch up.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from live.audio import SAMPLE_RATE, AudioSource, EndOfStream, rms_dbfs
from live.captions import Caption, CaptionOptions
from live.config import Settings
from live.errors import ConfigError, DeviceError, LiveError
from live.files import read_key_file
from live.session.link import AudioLog, Link
from live.session.hooks import WorkerHooks
from live.session.commands import Commands
from live.events import (
    Bookmark,
    EngineState,
    Marker,
    Notice,
    Pause,
    Retry,
    Status,
)
from live.session.loading import describe
from live.session.stats import SessionStats
from live.timefmt import hms
from live.transcript import TRANSCRIPT, Uncaptioned
from live.wire.protocol import ErrorMessage, Ready, ServerMessage, ServerNotice, StreamStatus

if TYPE_CHECKING:
    from live.events import Translation
    from live.speakers import SpeakerLabel
    from live.transcript import SessionWriter

log = logging.getLogger("live.session.remote")

KEY_VARIABLE = "LIVE_SERVER_API_KEY"
RETRY_S = 3.0  # a lost microphone is looked for again this often
READ_AHEAD_S = 20.0  # a file replayed --fast is read no further ahead of what was sent
FINISH_S = 60.0  # at the end of the input, how long the last captions are waited for (reconnecting if need be)
QUIT_S = 4.0  # after a stop (q, Ctrl-C): the rest is marked for `live finish`, so a quit is prompt


def stream_url(url: str) -> str:
    """ws(s)://host:port/v1/stream from what a user types (http(s) works too; the path is added)."""
    parts = urlsplit(url.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"--server {url!r} is not a server address; write ws://HOST:14612 or wss://HOST:14612")
    path = parts.path if parts.path not in ("", "/") else "/v1/stream"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def server_api_key(key_file: Path | None, env: dict[str, str] | None = None) -> str:
    """The server's key: from ``--api-key-file`` (owner-only), else ``LIVE_SERVER_API_KEY``."""
    env = dict(os.environ) if env is None else env
    if key_file is not None:
        return read_key_file(key_file, "the key file", hint="put the key from `live keys create` in it")
    value = (env.get(KEY_VARIABLE) or "").strip()
    if not value:
        raise ConfigError(f"the server needs an API key: set {KEY_VARIABLE} or pass --api-key-file FILE "
                          "(the server's admin makes one with `live keys create`)")
    return value


def remote_worker(settings: Settings) -> Callable[..., RemoteWorker]:
    """``build_session``'s worker for ``settings.server`` (checks the URL and the key now, in one line)."""
    return functools.partial(RemoteWorker, url=stream_url(settings.server or ""),
                             token=server_api_key(settings.api_key_file))


class RemoteWorker(Commands):
    """Runs one session whose recognition is on a server. Commands are thread-safe."""

    def __init__(self, open_source: Callable[[], AudioSource], load_engine: object, emit: Callable[[object], None],
                 *, url: str, token: str, writer: SessionWriter | None = None, vad: object = None,
                 captions: CaptionOptions | None = None, batching: object = None, language: str = "auto",
                 stop_on_failure: bool = False, max_pending_s: float = 900.0, start_s: float = 0.0,
                 first_index: int = 0, opening: Marker | None = None, hooks: WorkerHooks | None = None,
                 governor: object = None, faster_engine: object = None, finish_s: float = QUIT_S,
                 auto_language: object = None) -> None:
        """As ``Worker``'s; ``start_s``/``first_index``/``opening`` continue a saved session (``--resume``):
        the server is asked for a session on the same clock. ``governor``, ``faster_engine`` and
        ``auto_language`` are the server's business (its sessions shed work and settle the language
        themselves); ``finish_s`` bounds the wait after a stop."""
        super().__init__()
        self._open_source = open_source
        self._emit_to = emit
        self.writer = writer
        self.url = url
        self.language = language
        self.partials = (captions or CaptionOptions()).partials
        self.stop_on_failure = stop_on_failure
        self.finish_s = finish_s
        self.stats = SessionStats()
        self._origin = round(start_s * SAMPLE_RATE)
        self._opening, self.hooks = opening, hooks or WorkerHooks()  # corrections and translations, as locally
        self.audio = AudioLog(max_s=max_pending_s, start=self._origin)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.link = Link(url, token, self.audio, self._inbox, language=language, partials=self.partials,
                         next_index=first_index)
        self.source: AudioSource | None = None
        self.failure: str | None = None
        self._listening = True
        self._realtime = True
        self._anchor: float | None = None
        self._samples = self._origin  # samples read from the source: the session's clock
        self._level = -100.0
        self._server_status = StreamStatus()
        self._lost: str | None = None
        self._next_retry = 0.0
        self._done = False
        self._ready = False
        self._last_latency: float | None = None
        self._last_status = 0.0
        self._reported_drop = 0.0

    # -- commands (any thread) ---------------------------------------------------------------------

    def clock(self) -> float:
        """Seconds of audio since the session began (wall-clock paced for live sources)."""
        if not self._realtime or self._anchor is None:
            return self._samples / SAMPLE_RATE
        return max(self._samples / SAMPLE_RATE, self._origin / SAMPLE_RATE + time.monotonic() - self._anchor)

    # -- the worker -----------------------------------------------------------------------------------

    def _begin(self) -> None:
        self._emit(EngineState("loading", f"connecting to {self.url}…"))
        if self._opening is not None:
            self._mark(self._opening)
        self.link.start()
        self.source = self._start_source()

    def _step(self) -> bool:
        self._commands_due()
        if self._lost is not None:
            self._retry_source()
        elif self._read():
            return True
        self._handle_inbox(wait=0.0)
        self._status()
        return False

    def _start_source(self) -> AudioSource:
        source = self._open_source()
        source.start()
        self._realtime = source.realtime
        return source

    def _read(self) -> bool:
        """Record and queue what the source has; True at the end of the input."""
        assert self.source is not None
        if not self._realtime and self.audio.unsent_s(self.link.sent) > READ_AHEAD_S:
            self._handle_inbox(wait=0.05)  # a file read ahead of the network gains nothing
            return False
        try:
            block = self.source.read(0.05 if self._realtime else 0.0)
            while block is not None:
                self._feed(block)
                block = self.source.read(0.0) if self._realtime else None
        except EndOfStream:
            return True
        except DeviceError as exc:
            self._lost, self._next_retry = str(exc), time.monotonic() + RETRY_S
            self.source.stop()
            self._emit(Notice("error", f"{exc} — captions so far are saved; retrying every {RETRY_S:g} s (r: now)",
                              device_lost=True))
        return False

    def _feed(self, block: np.ndarray) -> None:
        if self._realtime:
            start = time.monotonic() - (self._samples - self._origin + len(block)) / SAMPLE_RATE
            self._anchor = start if self._anchor is None else min(self._anchor, start)
        if not self._listening:
            block = np.zeros_like(block)  # paused: silence keeps the clocks, the file and the server aligned
        self._level = rms_dbfs(block)
        self._samples += len(block)
        if self.writer is not None:
            self.writer.write_audio(block)
        self.hooks.hear(block)  # the speaker labels are worked out here, from the audio sent
        self.audio.append(block)
        if self.audio.dropped_s > self._reported_drop + 1:
            self._reported_drop = self.audio.dropped_s
            self._emit(Notice("warning", f"the server has been unreachable too long: {self.audio.dropped_s:.0f} s "
                                         "of audio will not be captioned (they are in the session's audio file)"))

    def _retry_source(self) -> None:
        if time.monotonic() < self._next_retry:
            self._handle_inbox(wait=0.05)
            return
        self._next_retry = time.monotonic() + RETRY_S
        try:
            self.source = self._start_source()
        except LiveError:
            return
        self._lost, self._anchor = None, None
        self._emit(Notice("information", "microphone reconnected"))

    # -- what the server says ---------------------------------------------------------------------

    def _handle_inbox(self, wait: float) -> None:
        try:
            item = self._inbox.get(timeout=wait) if wait else self._inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(item)
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return

    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "message":
            self._message(item[1])
        elif kind == "ready":
            ready: Ready = item[1]
            if not self._ready or self.failure is not None:
                self.failure = None
                if self.stats.engine_ready_s is None:
                    self.stats.engine_ready_s = time.monotonic() - self.stats.started
                self._emit(EngineState("ready", f"recognized by {self.url} ({ready.engine} · {ready.model})",
                                       ready.engine, ready.model))
            if self._ready:
                self._emit(Notice("information", f"reconnected to the server; captions resume from {hms(ready.clock)}"))
            self._ready = True
        elif kind == "lost":
            self._emit(Notice("warning", f"connection to the server lost ({item[1]}); reconnecting — the audio is "
                                         "still recorded and is captioned once it is back"))
        elif kind == "fatal":
            self.failure = f"recognition stopped: {item[1]}"
            self._emit(EngineState("failed", self.failure))
            if self.stop_on_failure:
                self._stop.set()
        elif kind == "done":
            self._done = True

    def _message(self, message: ServerMessage) -> None:
        if isinstance(message, Caption):
            caption = replace(message, emitted=self.clock())
            if caption.kind == "partial" and not self.partials:
                return
            if caption.kind == "final":
                caption = self.hooks.revise(caption)  # the course's vocabulary, before it is saved
                if caption.text and self.writer is not None:
                    self.writer.add_final(caption)  # on disk before anyone sees it
                if caption.text:
                    self.stats.finals += 1
                    if self.stats.first_final_s is None:
                        self.stats.first_final_s = time.monotonic() - self.stats.started
                self._last_latency = caption.latency
            self._emit(caption)
        elif isinstance(message, StreamStatus):
            self._server_status = message
        elif isinstance(message, ServerNotice):
            self._emit(Notice(message.level, f"server: {message.message}"))  # type: ignore[arg-type]
        elif isinstance(message, ErrorMessage):
            self._emit(Notice("warning", f"server: {message.message}"))

    # -- commands, status, the end -------------------------------------------------------------------

    def _commands_due(self) -> None:
        self.hooks.deliver(self._mark)  # translations and speaker labels: their finals are saved already
        while True:
            command = self._next_command()
            if command is None:
                return
            if isinstance(command, Pause):
                if command.paused == (not self._listening):
                    continue
                self._listening = not command.paused
                self._mark(Marker("pause" if command.paused else "resume", self.clock()))
            elif isinstance(command, Bookmark):
                self._mark(Marker("bookmark", command.at, command.note))
            elif isinstance(command, Retry):
                if self._lost is not None:
                    self._next_retry = 0.0
                if self.failure is not None and not self.link.alive:
                    self.link = self.link.again()
                    self.link.start()
                else:
                    self.link.reconnect_now()

    def _mark(self, marker: Marker | Translation | SpeakerLabel) -> None:
        if self.writer is not None:
            self.writer.add_entry(marker.to_json())
        self._emit(marker)

    def _status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < 0.1:
            return
        self._last_status = now
        remote = self._server_status
        backlog = self.audio.unsent_s(self.link.sent)
        self.stats.max_backlog_s = max(self.stats.max_backlog_s, backlog)
        self.stats.overflows = self.source.overflows if self.source else 0
        self.stats.account(remote.in_speech or remote.pending_finals > 0)
        self._emit(Status(
            clock=self.clock(), level_dbfs=self._level, in_speech=remote.in_speech,
            overflows=self.stats.overflows, backlog_s=backlog, pending_finals=remote.pending_finals,
            paused=not self._listening, latency=self._last_latency, behind=remote.behind or backlog > 2.0,
            behind_s=backlog + remote.behind_s, lag_s=remote.lag_s, shed=remote.shed,
        ))

    def _finish(self, error: str | None) -> str | None:
        """Send the rest and wait for the server's last finals (bounded), then close the files."""
        try:
            self._commands_due()
            self.audio.close()
            if self.failure is None and error is None:
                wait = self.finish_s if self._stop.is_set() else FINISH_S + self.audio.unsent_s(self.link.sent)
                deadline = time.monotonic() + wait
                while not self._done and self.failure is None and self.link.alive and time.monotonic() < deadline \
                        and not self._hurry.is_set():
                    self._handle_inbox(wait=0.1)
                    self._commands_due()  # a bookmark while the last captions come is still saved
                    self._status()
                self._handle_inbox(wait=0.0)
                if not self._done and self.failure is None and self.audio.end > self.audio.base:
                    start, end = self.audio.base / SAMPLE_RATE, self.audio.end / SAMPLE_RATE
                    if self.writer is not None:
                        self.writer.add_entry(Uncaptioned(start, end).to_json())
                    self._emit(Notice("warning", f"{end - start:.0f} s of speech from {hms(start)} not captioned yet: "
                                                 f"`live finish {self.writer.folder if self.writer else 'DIR'}` "
                                                 "captions it from the session's audio"))
            self.hooks.settle(self._commands_due)  # the last finals' translations and labels, before the folder closes
            self._status(force=True)
        except Exception as exc:
            log.exception("finishing the session failed")
            error = error or f"saving stopped: {describe(exc)}"
        finally:
            self.link.abort()
            self.link.join(5.0)
            error = self._release(error)
            self._discard_if_never_connected()
        return error or self.failure

    def _discard_if_never_connected(self) -> None:
        """A new session that never reached the server (refused, or unreachable) holds no caption and a
        few seconds of audio: kept, it was only a "(no captions)" entry in `live sessions`. Its folder
        goes (Finished then names none). A resumed one, or one with any line saved, stays."""
        writer = self.writer
        if writer is None or self._ready or self.failure is None or self._origin:
            return
        transcript = writer.folder / TRANSCRIPT
        if transcript.exists() and transcript.stat().st_size:
            return
        shutil.rmtree(writer.folder, ignore_errors=True)
        log.info("%s removed: the server was never reached, nothing was captioned", writer.folder)
        self.writer = None
