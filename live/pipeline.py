"""One session's worker: audio source → VAD → captioner → session folder → sink.

``Pipeline.run`` is the body of one worker thread (the TUI's, or the main thread when headless). The
microphone starts at once and everything heard is recorded and segmented while the model loads in a
second thread; finals that close before the model is ready are decoded as soon as it is. Everything the
UI needs arrives through ``sink`` as the small dataclasses below, and a final is on disk before the
sink sees it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from live.asr.base import Engine
from live.audio import SAMPLE_RATE, AudioSource, EndOfStream
from live.captions import Caption, CaptionOptions, Captioner
from live.errors import DeviceError, LiveError
from live.transcript import SessionWriter
from live.vad import Segmenter, VadOptions

log = logging.getLogger("live.pipeline")

StatusCallback = Callable[[str], None]
RETRY_S = 3.0  # how often a lost microphone is looked for again
EngineLoader = Callable[[StatusCallback], "tuple[Engine, str]"]


@dataclass(frozen=True)
class Status:
    """A ~10 Hz snapshot for the status bar."""

    clock: float  # seconds since the stream began
    level_dbfs: float
    in_speech: bool
    overflows: int
    backlog_s: float  # audio received but not yet through the VAD
    pending_finals: int
    paused: bool
    latency: float | None  # of the last final


@dataclass
class PipelineStats:
    """What ``live bench`` reads back (``--stats-file``): where the time and the CPU went."""

    started: float = field(default_factory=time.monotonic)
    engine_ready_s: float | None = None  # since the worker started
    first_final_s: float | None = None
    max_backlog_s: float = 0.0
    overflows: int = 0
    # Process CPU and wall seconds once the model is loaded: busy (speech, a queued final or a decode)
    # or idle (what a silent classroom costs).
    cpu_speech_s: float = 0.0
    wall_speech_s: float = 0.0
    cpu_silence_s: float = 0.0
    wall_silence_s: float = 0.0
    decodes: list = field(default_factory=list)  # (kind, audio s, wall s)
    _last: tuple[float, float, bool] | None = None
    _decodes_seen: int = 0

    def account(self, busy: bool) -> None:
        """Charge the time since the last call to speech if the pipeline was busy then or since
        (a decode recorded in between counts as busy)."""
        busy = busy or len(self.decodes) != self._decodes_seen
        self._decodes_seen = len(self.decodes)
        now, cpu = time.monotonic(), time.process_time()
        if self._last is not None:
            wall_d, cpu_d, was_busy = now - self._last[0], cpu - self._last[1], self._last[2]
            if was_busy or busy:
                self.cpu_speech_s += cpu_d
                self.wall_speech_s += wall_d
            else:
                self.cpu_silence_s += cpu_d
                self.wall_silence_s += wall_d
        self._last = (now, cpu, busy)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_") and k != "started"}


@dataclass(frozen=True)
class EngineState:
    state: Literal["loading", "ready", "failed"]
    message: str
    engine: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Notice:
    level: Literal["information", "warning", "error"]
    message: str
    device_lost: bool = False


@dataclass(frozen=True)
class Finished:
    """The worker is done; ``folder`` holds the session (None when nothing was recorded)."""

    folder: str | None
    error: str | None = None


class Pipeline:
    """Runs one session. Control methods are thread-safe; ``run`` blocks until done."""

    def __init__(
        self,
        open_source: Callable[[], AudioSource],
        load_engine: EngineLoader,
        sink: Callable[[object], None],
        *,
        writer: SessionWriter | None = None,
        vad: VadOptions | None = None,
        captions: CaptionOptions | None = None,
        language: str = "auto",
    ) -> None:
        self._open_source = open_source
        self._load_engine = load_engine
        self._sink = sink
        self.writer = writer
        self.segmenter = Segmenter(vad or VadOptions())
        self.captioner = Captioner(self.segmenter, language=language, options=captions, clock=self.clock)
        self.source: AudioSource | None = None
        self.engine: Engine | None = None
        self.engine_error: str | None = None
        self._engine_done = threading.Event()
        self._stop = threading.Event()
        self._reconnect = threading.Event()
        self._paused = False
        self._realtime = True
        self._anchor: tuple[float, float] | None = None  # (monotonic time, stream seconds) of a known point
        self._last_latency: float | None = None
        self._last_status = 0.0
        self.stats = PipelineStats()
        self.stats.decodes = self.captioner.decode_times

    # -- control (any thread) ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._reconnect.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pause(self, paused: bool) -> None:
        self._paused = paused

    @property
    def paused(self) -> bool:
        return self._paused

    def reconnect(self) -> None:
        self._reconnect.set()

    def bookmark(self, note: str = "") -> float:
        at = self.clock()
        if self.writer is not None:
            self.writer.add_bookmark(at, note)
        return at

    def clock(self) -> float:
        """Seconds of audio since the stream began: wall time for live sources, samples for --fast."""
        stream_time = getattr(self.source, "stream_time", None)
        if stream_time is not None:
            return stream_time()  # a source with a clock of its own (bench's accelerated replay)
        if not self._realtime or self._anchor is None:
            return self.segmenter.clock
        t, at = self._anchor
        return at + (time.monotonic() - t)

    # -- the worker ----------------------------------------------------------------------------------

    def run(self) -> None:
        error: str | None = None
        threading.Thread(target=self._load, name="live-model-load", daemon=True).start()
        try:
            self.source = self._start_source()
            self._loop()
        except LiveError as exc:
            error = str(exc)
            self._sink(Notice("error", error))
        finally:
            self._finish()
            self._sink(Finished(str(self.writer.folder) if self.writer else None, error))

    def _load(self) -> None:
        self._sink(EngineState("loading", "loading model…"))
        try:
            engine, reason = self._load_engine(lambda text: self._sink(EngineState("loading", text)))
        except LiveError as exc:
            self.engine_error = str(exc)
            self._sink(EngineState("failed", str(exc)))
        else:
            self.engine = engine
            self.stats.engine_ready_s = time.monotonic() - self.stats.started
            self._sink(EngineState("ready", reason, engine.name, engine.model))
        finally:
            self._engine_done.set()

    def _start_source(self) -> AudioSource:
        source = self._open_source()
        source.start()
        self._realtime = source.realtime
        self._anchor = None
        return source

    def _loop(self) -> None:
        assert self.source is not None
        while not self._stop.is_set():
            if not self._realtime and self.captioner.engine is None:
                # --fast replays as fast as the decoder goes: nothing to gain by reading ahead of it.
                self._engine_done.wait(0.1)
                if not self._engine_done.is_set():
                    continue
            if self.captioner.engine is None and self.engine is not None:
                self.captioner.engine = self.engine
            if self.engine_error is not None and self.captioner.engine is None:
                raise LiveError(self.engine_error)
            busy = self.captioner.pending_finals > 0 and self.captioner.engine is not None
            try:
                ended = self._drain(wait=0.0 if busy else 0.05)
            except DeviceError as exc:
                self._device_lost(str(exc))
                continue
            for caption in self.captioner.process_iter():
                self._emit(caption)
            self._status()
            if ended:
                return

    def _drain(self, wait: float) -> bool:
        """Feed everything the source has (live) or one block (--fast). True at end of input."""
        assert self.source is not None
        timeout = wait
        while True:
            try:
                block = self.source.read(timeout)
            except EndOfStream:
                return True
            if block is None:
                return False
            self._feed(block)
            if not self._realtime:
                return False
            timeout = 0.0

    def _feed(self, block: np.ndarray) -> None:
        if self._realtime:
            # When did this stream start? No earlier than now minus the audio received so far; the
            # read that waited least in a queue says it best. A late first read (the model loading)
            # would otherwise set the clock late and make every latency look smaller than it is.
            base = self._anchor[1] if self._anchor is not None else self.segmenter.clock
            start = time.monotonic() - (self.segmenter.clock + len(block) / SAMPLE_RATE - base)
            if self._anchor is None or start < self._anchor[0]:
                self._anchor = (start, base)
        if self._paused:
            # Paused means not listening: silence keeps the clock, the audio file and the VAD aligned.
            block = np.zeros_like(block)
        if self.writer is not None:
            self.writer.write_audio(block)
        self.captioner.insert_audio(block)

    def _emit(self, caption: Caption) -> None:
        if caption.kind == "final":
            if caption.text and self.writer is not None:
                had_error = self.writer.error
                self.writer.add_final(caption)  # on disk before anyone sees it
                if self.writer.error and self.writer.error != had_error:
                    self._sink(Notice("error", self.writer.error))
            if caption.text:
                if self.stats.first_final_s is None:
                    self.stats.first_final_s = time.monotonic() - self.stats.started
            self._last_latency = caption.latency
        self._sink(caption)

    def _status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < 0.1:
            return
        self._last_status = now
        backlog = max(0.0, self.clock() - self.segmenter.clock)
        stats = self.stats
        stats.max_backlog_s = max(stats.max_backlog_s, backlog)
        stats.overflows = self.source.overflows if self.source else 0
        if self.captioner.engine is not None:
            stats.account(self.segmenter.in_speech or self.captioner.pending_finals > 0)
        self._sink(Status(
            clock=self.clock(),
            level_dbfs=self.segmenter.level_dbfs,
            in_speech=self.segmenter.in_speech,
            overflows=stats.overflows,
            backlog_s=backlog,
            pending_finals=self.captioner.pending_finals,
            paused=self._paused,
            latency=self._last_latency,
        ))

    def _device_lost(self, message: str) -> None:
        """Save what was heard, tell the user, and wait for a reconnect (or quit)."""
        # Stream time (transcript, audio.wav, latency) skips the outage: the new stream re-anchors
        # the clock at its first block.
        self.captioner.close_segment()
        self._decode_pending()
        if self.source is not None:
            self.source.stop()
        self._sink(Notice("error", f"{message} — captions so far are saved; retrying every "
                                   f"{RETRY_S:g} s (r: now)", device_lost=True))
        self._reconnect.clear()
        attempts = 0
        while not self._stop.is_set():
            self._reconnect.wait(RETRY_S)  # r wakes it early
            if self._stop.is_set():
                return
            self._reconnect.clear()
            attempts += 1
            try:
                self.source = self._start_source()
            except LiveError as exc:
                if attempts == 1 or attempts % 10 == 0:
                    self._sink(Notice("warning", f"still no microphone ({exc}); retrying", device_lost=True))
                continue
            self._sink(Notice("information", "microphone reconnected"))
            return

    def _decode_pending(self) -> None:
        if self.captioner.pending_finals and self.engine is None and self.engine_error is None:
            self._sink(Notice("information", "waiting for the model to caption what was heard…"))
            self._engine_done.wait()
        self.captioner.engine = self.engine
        for caption in self.captioner.finish() if self.engine is not None else []:
            self._emit(caption)

    def _finish(self) -> None:
        try:
            self.captioner.close_segment()
            self._decode_pending()
        finally:
            if self.source is not None:
                self.source.stop()
            if self.writer is not None:
                self.writer.close()
