"""One session's worker: audio source → VAD → captioner → session folder → events.

``Worker.run`` is the body of one thread (the TUI's worker, or the main thread when headless). The
source starts at once and everything heard is recorded and segmented while the model loads in a
second thread; finals that close before the model is ready are decoded as soon as it is.

The worker always ends well. Whatever raises — the source, the model load, a decode, the writer —
becomes an event: a lost microphone is retried; recognition that stops (load or decode) leaves the
audio recording and the captions on screen until ``Retry`` reloads the model; anything else ends the
session with ``Finished.error``. Commands (pause, bookmark, retry) arrive through a queue; only this
thread writes the session folder, and a final is on disk before any front end sees it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from live.audio import SAMPLE_RATE, AudioSource, EndOfStream
from live.captions import BatchOptions, Caption, CaptionOptions, Captioner
from live.errors import DeviceError, LiveError
from live.session.events import Bookmark, Command, EngineState, Finished, Marker, Notice, Pause, Retry, Status
from live.session.loading import EngineLoader, ModelLoad, describe
from live.session.stats import SessionStats
from live.textnorm import TextNormalizer, TextOptions
from live.timefmt import hms
from live.vad import Segmenter, VadOptions

if TYPE_CHECKING:
    from live.transcript import SessionWriter

log = logging.getLogger("live.session")

RETRY_S = 3.0  # how often a lost microphone is looked for again
MAX_PENDING_S = 300.0  # closed speech kept for decoding while recognition is behind or stopped


class Worker:
    """Runs one session. Commands are thread-safe; ``run`` blocks until the session is done."""

    def __init__(
        self,
        open_source: Callable[[], AudioSource],
        load_engine: EngineLoader,
        emit: Callable[[object], None],
        *,
        writer: SessionWriter | None = None,
        vad: VadOptions | None = None,
        captions: CaptionOptions | None = None,
        batching: BatchOptions | None = None,
        language: str = "auto",
        stop_on_failure: bool = False,
        max_pending_s: float = MAX_PENDING_S,
        start_s: float = 0.0,
        first_index: int = 0,
        opening: Marker | None = None,
        script: str | None = None,
    ) -> None:
        """``start_s``, ``first_index``: the clock and the segment number the stream starts at (a
        resumed session continues its own); ``opening``: a marker saved and shown first (the gap);
        ``script``: how Chinese is written (live.textnorm.TextOptions)."""
        self._open_source = open_source
        self._load_engine = load_engine
        self._emit_to = emit
        self.writer = writer
        self.stop_on_failure = stop_on_failure  # no one to press Retry (headless): end the session
        self.max_pending_s = max_pending_s
        self.stats = SessionStats()
        self.segmenter = Segmenter(vad or VadOptions(), start_s=start_s, first_index=first_index)
        self._opening = opening
        self.captioner = Captioner(self.segmenter, language=language, options=captions, clock=self.clock,
                                   batching=batching, on_decode=self.stats.record_decode,
                                   text=TextNormalizer(TextOptions(script)))
        self.source: AudioSource | None = None
        self.failure: str | None = None  # why recognition stopped, until it works again
        self._load: ModelLoad | None = None
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._paused = False  # as asked; the worker applies it in order with the other commands
        self._listening = True
        self._realtime = True
        self._anchor: tuple[float, float] | None = None  # (monotonic time, stream seconds) of a known point
        self._lost: str | None = None  # the microphone is gone: why
        self._next_retry = 0.0
        self._attempts = 0
        self._last_latency: float | None = None
        self._last_status = 0.0
        self._ended = False

    # -- commands (any thread) ---------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pause(self, paused: bool) -> None:
        self._paused = paused
        self._commands.put(Pause(paused))

    @property
    def paused(self) -> bool:
        return self._paused

    def bookmark(self, note: str = "") -> float:
        at = self.clock()
        self._commands.put(Bookmark(at, note))
        return at

    def retry(self) -> None:
        self._commands.put(Retry())

    reconnect = retry

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
        try:
            self._start_load()
            if self._opening is not None:
                self._mark(self._opening)
            self.source = self._start_source()
            while not self._stop.is_set():
                self._commands_due()
                self._attach_engine()
                if self._lost is not None:
                    self._retry_source()
                elif self._read():
                    break
                self._decode()
                self._status()
        except LiveError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("the session stopped")
            error = f"the session stopped: {describe(exc)}"
        error = self._finish(error)
        self._emit(Finished(str(self.writer.folder) if self.writer else None, error))

    def _emit(self, event: object) -> None:
        try:
            self._emit_to(event)
        except Exception:  # a front end's bug must not stop the captions; the log keeps it
            log.exception("a front end failed on %s", type(event).__name__)

    def _start_source(self) -> AudioSource:
        source = self._open_source()
        source.start()
        self.stats.input_latency_s = getattr(source, "input_latency", 0.0)
        self._realtime = source.realtime
        self._anchor = None
        return source

    # -- recognition -------------------------------------------------------------------------------------

    def _start_load(self) -> None:
        self._emit(EngineState("loading", "loading model…"))
        self._load = ModelLoad(self._load_engine, lambda text: self._emit(EngineState("loading", text)))

    def _attach_engine(self) -> None:
        load = self._load
        if load is None or not load.done.is_set():
            return
        self._load = None
        if load.engine is None:
            self._recognition_stopped(f"could not load the model: {load.error}")
            return
        restarted = self.failure is not None
        self.failure = None
        self.captioner.engine = load.engine
        if self.stats.engine_ready_s is None:
            self.stats.engine_ready_s = time.monotonic() - self.stats.started
        self._emit(EngineState("ready", load.reason, load.engine.name, load.engine.model))
        if restarted:
            self._emit(Notice("information", "recognition restarted; captions continue in the same session"))

    def _recognition_stopped(self, reason: str) -> None:
        self.captioner.engine = None
        where = f"; captions so far are saved in {self.writer.folder}" if self.writer is not None else ""
        self.failure = f"recognition stopped: {reason}{where}"
        self._emit(EngineState("failed", self.failure))
        if self.stop_on_failure:
            self._stop.set()

    def _decode(self) -> None:
        if self.captioner.engine is None:
            return
        behind = self.source is not None and self._lost is None and self.source.waiting
        try:
            captions = self.captioner.process_iter(behind=behind)
        except Exception as exc:
            log.exception("a decode failed")
            self._recognition_stopped(describe(exc))
            return
        for caption in captions:
            self._publish(caption)

    def _publish(self, caption: Caption) -> None:
        if caption.kind == "final":
            if caption.text:
                self._save(lambda w: w.add_final(caption))  # on disk before anyone sees it
                self.stats.finals += 1
                if self.stats.first_final_s is None:
                    self.stats.first_final_s = time.monotonic() - self.stats.started
            self._last_latency = caption.latency
        self._emit(caption)

    def _save(self, write: Callable[[SessionWriter], None]) -> None:
        """Write through the session writer, telling the user when the folder stops or starts working."""
        if self.writer is None:
            return
        before = self.writer.error
        try:
            write(self.writer)  # a full disk is an OSError the writer keeps to itself and retries
        except Exception as exc:
            log.exception("writing the session failed")
            raise LiveError(f"saving stopped: {describe(exc)}; what was saved before is in {self.writer.folder}") from exc
        after = self.writer.error
        if after and after != before:
            self._emit(Notice("error", after))
        elif before and not after:
            self._emit(Notice("information", f"{self.writer.folder} can be written again; nothing was lost"))

    # -- audio -------------------------------------------------------------------------------------------

    def _read(self) -> bool:
        """Feed what the source has (live) or one block (--fast). True at the end of the input."""
        assert self.source is not None
        if not self._realtime and (self.captioner.engine is None or self.captioner.pending_finals > 1):
            # A file read as fast as it decodes: nothing to gain by reading ahead of the decoder.
            if self.captioner.engine is None:
                self._stop.wait(0.05)
            return False
        busy = self.captioner.pending_finals > 0 and self.captioner.engine is not None
        timeout = 0.0 if busy else 0.05
        try:
            while True:
                block = self.source.read(timeout)
                if block is None:
                    return False
                self._feed(block)
                if not self._realtime:
                    return False
                timeout = 0.0
        except EndOfStream:
            return True
        except DeviceError as exc:
            self._device_lost(str(exc))
            return False
        except LiveError:
            raise
        except Exception as exc:
            log.exception("the audio source failed")
            raise LiveError(f"audio stopped: {describe(exc)}") from exc

    def _feed(self, block: np.ndarray) -> None:
        if self._realtime:
            # When did this stream start? No earlier than now minus the audio received so far; the
            # read that waited least in a queue says it best. A late first read (the model loading)
            # would otherwise set the clock late and make every latency look smaller than it is.
            base = self._anchor[1] if self._anchor is not None else self.segmenter.clock
            start = time.monotonic() - (self.segmenter.clock + len(block) / SAMPLE_RATE - base)
            if self._anchor is None or start < self._anchor[0]:
                self._anchor = (start, base)
        if not self._listening:
            # Paused means not listening: silence keeps the clock, the audio file and the VAD aligned.
            block = np.zeros_like(block)
        self._save(lambda w: w.write_audio(block))
        self.captioner.insert_audio(block)
        self._bound_pending()

    def _bound_pending(self) -> None:
        """Keep memory flat when recognition is far behind (or stopped): the oldest waiting speech is
        given up on, with a notice; its audio is in the session's audio file all the same."""
        while self.captioner.pending_audio_s > self.max_pending_s:
            seg = self.captioner.drop_oldest()
            if seg is None:
                return
            self._emit(Notice("warning", f"fell behind: {seg.duration:.0f} s of speech at {hms(seg.start)} "
                                         "were not captioned (they are in the session's audio file)"))

    def _device_lost(self, message: str) -> None:
        """Keep what was heard, tell the user, and look for the microphone again every few seconds."""
        # Stream time (transcript, audio.wav, latency) skips the outage: the new stream re-anchors
        # the clock at its first block.
        self.captioner.close_segment()
        if self.source is not None:
            self.source.stop()
        self._lost, self._attempts = message, 0
        self._next_retry = time.monotonic() + RETRY_S
        self._emit(Notice("error", f"{message} — captions so far are saved; retrying every {RETRY_S:g} s "
                                   "(r: now)", device_lost=True))

    def _retry_source(self, now: bool = False) -> None:
        if not now and time.monotonic() < self._next_retry:
            self._stop.wait(0.05 if self.captioner.pending_finals == 0 else 0.0)
            return
        self._attempts += 1
        self._next_retry = time.monotonic() + RETRY_S
        try:
            self.source = self._start_source()
        except LiveError as exc:
            if self._attempts == 1 or self._attempts % 10 == 0:
                self._emit(Notice("warning", f"still no microphone ({exc}); retrying", device_lost=True))
            return
        self._lost = None
        self._emit(Notice("information", "microphone reconnected"))

    # -- commands, status, the end -------------------------------------------------------------------

    def _commands_due(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if isinstance(command, Pause):
                if command.paused == (not self._listening):
                    continue
                self._listening = not command.paused
                if command.paused:
                    self.captioner.close_segment()  # what was said before the pause is captioned now
                self._mark(Marker("pause" if command.paused else "resume", self.clock()))
            elif isinstance(command, Bookmark):
                self._mark(Marker("bookmark", command.at, command.note))
            elif isinstance(command, Retry):
                if self._lost is not None:
                    self._retry_source(now=True)
                if self.failure is not None and self._load is None:
                    self._start_load()

    def _mark(self, marker: Marker) -> None:
        self._save(lambda w: w.add_entry(marker.to_json()))
        self._emit(marker)

    def _status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < 0.1:
            return
        self._last_status = now
        backlog = 0.0 if self._ended else max(0.0, self.clock() - self.segmenter.clock)
        stats = self.stats
        stats.max_backlog_s = max(stats.max_backlog_s, backlog)
        stats.overflows = self.source.overflows if self.source else 0
        pending = self.captioner.pending_finals
        if self.captioner.engine is not None:
            stats.account(self.segmenter.in_speech or pending > 0)
        self._emit(Status(
            clock=self.clock(), level_dbfs=self.segmenter.level_dbfs, in_speech=self.segmenter.in_speech,
            overflows=stats.overflows, backlog_s=backlog, pending_finals=pending, paused=not self._listening,
            latency=self._last_latency, behind=self._realtime and (pending > 1 or backlog > 1.0),
        ))

    def _finish(self, error: str | None) -> str | None:
        """Caption what was heard (unless recognition is down), close the files; the error to report."""
        self._ended = True
        try:
            self._commands_due()  # a bookmark pressed just before quitting is still saved
            self.captioner.close_segment()
            if self.captioner.pending_finals and self.failure is None and self._load is not None:
                self._emit(Notice("information", "waiting for the model to caption what was heard…"))
                self._load.done.wait()
            self._attach_engine()
            while self.captioner.pending_finals and self.captioner.engine is not None:
                self._decode()
            self._status(force=True)  # the bar shows how it ended, not the last busy moment
        except Exception as exc:
            log.exception("finishing the session failed")
            error = error or f"saving stopped: {describe(exc)}"
        finally:
            if self.source is not None:
                self.source.stop()
            if self.writer is not None:
                try:
                    self.writer.close()
                except Exception as exc:
                    log.exception("closing the session folder failed")
                    error = error or f"saving stopped: {describe(exc)}"
        return error or self.failure
