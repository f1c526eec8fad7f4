"""One session's worker: audio source → VAD → captioner → session folder → events.

``Worker.run`` is the body of one thread (the TUI's worker, or the main thread when headless). The
source starts at once and everything heard is recorded and segmented while the model loads in a
second thread; decodes run on a third (``decoder``), so reading audio never waits for the engine.

The worker always ends well. Whatever raises — the source, the model load, a decode, the writer —
becomes an event: a lost microphone is retried; recognition that stops (load or decode) leaves the
audio recording and the captions on screen until ``Retry`` reloads the model; anything else ends the
session with ``Finished.error``. Commands (pause, bookmark, retry) arrive through a queue; only this
thread writes the session folder, and a final is on disk before any front end sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from live.audio import SAMPLE_RATE, AudioSource, EndOfStream
from live.captions import BatchOptions, Caption, CaptionOptions, Captioner, DecodeJob
from live.errors import DeviceError, LiveError
from live.session.autolang import AutoLanguage
from live.session.clock import StreamClock
from live.session.commands import Commands
from live.session.decoder import Decoder
from live.session.governor import GovernorOptions
from live.session.pacing import FasterEngine, Pacer
from live.events import Bookmark, EngineState, Marker, Notice, Pause, Retry, Status
from live.session.hooks import WorkerHooks
from live.session.loading import EngineLoader, ModelLoad, describe
from live.session.marks import MarkerQueue
from live.session.reconnect import Reconnect
from live.session.saving import Saver
from live.session.stats import SessionStats
from live.vad import Segmenter, VadOptions

if TYPE_CHECKING:
    from live.transcript import SessionWriter
    from live.events import Translation
    from live.speakers import SpeakerLabel

log = logging.getLogger("live.session")

MAX_PENDING_S = 3600.0  # closed speech kept in memory for decoding while recognition is behind or stopped
FINISH_S = 4.0  # after stop: the most time spent on captions still to decode, so a quit is prompt


class Worker(Commands):
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
        hooks: WorkerHooks | None = None,  # the vocabulary's corrections, the translator's lines (session/hooks.py)
        governor: GovernorOptions | None = None,
        faster_engine: FasterEngine | None = None,
        finish_s: float = FINISH_S,
        auto_language: AutoLanguage | None = None,  # --language auto: settled once, said, the fastest engine loaded
    ) -> None:
        """``start_s``, ``first_index``: the clock and the segment number the stream starts at (a
        resumed session continues its own); ``opening``: a marker saved and shown first (the gap).
        ``governor``: when to shed work as captions fall behind (``live.session.governor``);
        ``faster_engine``: the loader of a faster engine for the running one and the session language,
        if there is one (the governor's last step). ``finish_s``: after ``stop``, how long the speech
        still waiting may be decoded; what is left is marked "not captioned yet" for ``live finish``."""
        super().__init__()
        self._open_source = open_source
        self._load_engine = load_engine
        self._emit_to = emit
        self.writer = writer
        self.stop_on_failure = stop_on_failure  # no one to press Retry (headless): end the session
        self.max_pending_s = max_pending_s
        self.hooks = hooks or WorkerHooks()
        self._auto = auto_language or AutoLanguage(language)  # a short segment: the lecture's language
        self.stats = SessionStats()
        self._save = Saver(writer, self._emit)  # writes, and what the user hears when the folder fails
        self.segmenter = Segmenter(vad or VadOptions(), start_s=start_s, first_index=first_index)
        self._opening = opening
        self._decoder = Decoder()
        self.captioner = Captioner(self.segmenter, language=language, options=captions, clock=self.clock,
                                   batching=batching, on_decode=self.stats.record_decode)
        self.pacer = Pacer(self.captioner, governor, faster_engine, decode_time=self.stats.decode_time)
        self._standin: ModelLoad | None = None  # the pacer's faster engine, loading
        self.finish_s = finish_s
        self._markers = MarkerQueue(self.captioner)  # each waits for the captions of the speech before it
        self.source: AudioSource | None = None
        self.failure: str | None = None  # why recognition stopped, until it works again
        self._load: ModelLoad | None = None
        self._listening = True
        self._clock = StreamClock()
        self._reconnect = Reconnect()
        self._last_latency: float | None = None
        self._last_status = 0.0
        self._ended = False

    # -- commands (any thread) ---------------------------------------------------------------------

    def clock(self) -> float:
        """Seconds of audio since the stream began: wall time for live sources, samples for --fast."""
        return self._clock.now(self.segmenter.clock)

    @property
    def decoding(self) -> DecodeJob | None:
        return self._decoder.job

    # -- the worker ----------------------------------------------------------------------------------

    def _begin(self) -> None:
        self._start_load()
        if self._opening is not None:
            self._mark(self._opening)
        self.source = self._start_source()

    def _step(self) -> bool:
        self._commands_due()
        self._attach_engine()
        if self._reconnect.lost is not None:
            self._retry_source()
        elif self._read():
            return True
        self._decode()
        self._status()
        return False

    def _start_source(self) -> AudioSource:
        source = self._open_source()
        source.start()
        self.stats.input_latency_s = getattr(source, "input_latency", 0.0)
        self._clock.restart(source)
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
        if load is self._standin and not self.pacer.standing_in:
            return  # the governor took the faster engine back before it had loaded
        switching = self.captioner.engine is not None  # a quick engine captions while the fast one loads
        if load.engine is None:
            if switching:  # keep captioning with the quick one
                self._emit(Notice("warning", f"staying with {self.captioner.engine.model}: {load.error}"))
            else:
                self._recognition_stopped(f"could not load the model: {load.error}")
            return
        restarted = self.failure is not None
        self.failure = None
        self.captioner.engine = load.engine  # between two decodes: nothing lost or repeated
        if self.stats.engine_ready_s is None:
            self.stats.engine_ready_s = time.monotonic() - self.stats.started
        self._emit(EngineState("ready", load.reason, load.engine.name, load.engine.model))
        if restarted:
            self._emit(Notice("information", "recognition restarted; captions continue in the same session"))
        elif switching:
            self._emit(Notice("information", f"switched to {load.reason}; captions go on in the same session"))
        if load.then is not None:
            self._load = ModelLoad(load.then, lambda text: log.info("%s", text))

    def _recognition_stopped(self, reason: str) -> None:
        self.captioner.engine = None
        where = f"; captions so far are saved in {self.writer.folder}" if self.writer is not None else ""
        self.failure = f"recognition stopped: {reason}{where}"
        self._emit(EngineState("failed", self.failure))
        if self.stop_on_failure:
            self._stop.set()

    def _decode(self, wait: float = 0.0) -> None:
        """Take a finished decode, stop one that is no longer wanted, start the next (on the decoder's
        thread: reading audio and the VAD never wait for the engine)."""
        decoder = self._decoder
        done = decoder.poll(wait)
        if done is not None:
            if done.error is not None:
                log.error("a decode failed", exc_info=done.error)
                self.captioner.complete(done.job, None)  # a final stays queued for a retry
                self._recognition_stopped(describe(done.error))
                return
            for caption in self.captioner.complete(done.job, done.result, done.wall_s):
                self._publish(caption)
        if decoder.busy:
            if self.captioner.obsolete(decoder.job):  # type: ignore[arg-type]
                decoder.cancel()
            return
        engine = self.captioner.engine
        if engine is None:
            return
        behind = self.source is not None and self._reconnect.lost is None and self.source.waiting
        captions, job = self.captioner.step(behind=behind)
        for caption in captions:
            self._publish(caption)
        if job is not None:
            decoder.submit(job, engine, self._auto.language_for(job.audio))

    def _publish(self, caption: Caption) -> None:
        if caption.kind == "final":
            caption = self.hooks.revise(caption)
            if caption.text:
                self._save(lambda w: w.add_final(caption))  # on disk before anyone sees it
                self.stats.finals += 1
                if self.stats.first_final_s is None:
                    self.stats.first_final_s = time.monotonic() - self.stats.started
            self._last_latency = caption.latency
        self._emit(caption)
        self._load = self._auto.heard(caption, self.captioner.engine, self._emit, self._load, self.pacer.standing_in)

    # -- audio -------------------------------------------------------------------------------------------

    def _read(self) -> bool:
        """Feed what the source has (live) or one block (--fast). True at the end of the input."""
        assert self.source is not None
        if not self._clock.realtime and (self.captioner.engine is None or self.captioner.pending_finals > 1):
            # A file read as fast as it decodes: nothing to gain by reading ahead of the decoder.
            if self._decoder.busy:
                self._decode(wait=0.05)
            else:
                self._stop.wait(0.05 if self.captioner.engine is None else 0.0)
            return False
        # While a decode runs, come back for it soon; a microphone delivers every few tens of ms anyway.
        busy = self._decoder.busy or (self.captioner.pending_finals > 0 and self.captioner.engine is not None)
        timeout = 0.01 if busy else 0.05
        try:
            while True:
                block = self.source.read(timeout)
                if block is None:
                    return False
                self._feed(block)
                if not self._clock.realtime:
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
        self._clock.arrived(self.segmenter.clock, len(block) / SAMPLE_RATE)
        if not self._listening:
            # Paused means not listening: silence keeps the clock, the audio file and the VAD aligned.
            block = np.zeros_like(block)
        self._save(lambda w: w.write_audio(block))
        self.hooks.hear(block)
        self.captioner.insert_audio(block)
        self._bound_pending()

    def _bound_pending(self) -> None:
        """Keep memory bounded when recognition is an hour behind (or stopped): the oldest waiting speech
        leaves memory, marked in the transcript; its audio is in the session's audio file."""
        self._save.uncaptioned(self.captioner.drop_beyond(self.max_pending_s))

    def _device_lost(self, message: str) -> None:
        """Keep what was heard, tell the user, and look for the microphone again every few seconds."""
        # Stream time (transcript, audio.wav, latency) skips the outage: the new stream re-anchors
        # the clock at its first block.
        self.captioner.close_segment()
        if self.source is not None:
            self.source.stop()
        self._reconnect.lose(message)
        self._emit(Notice("error", f"{message} — captions so far are saved; retrying every "
                                   f"{self._reconnect.every_s:g} s (r: now)", device_lost=True))

    def _retry_source(self, now: bool = False) -> None:
        if not self._reconnect.due(now):
            self._stop.wait(0.05 if self.captioner.pending_finals == 0 else 0.0)
            return
        try:
            self.source = self._start_source()
        except LiveError as exc:
            if self._reconnect.worth_saying():
                self._emit(Notice("warning", f"still no microphone ({exc}); retrying", device_lost=True))
            return
        self._reconnect.found()
        self._emit(Notice("information", "microphone reconnected"))

    # -- commands, status, the end -------------------------------------------------------------------

    def _commands_due(self) -> None:
        self.hooks.deliver(self._mark)  # translations and speaker labels: their finals are saved already
        while True:
            command = self._next_command()
            if command is None:  # then the markers whose earlier speech is captioned (all, when ending)
                stalled = self._reconnect.lost is not None or self.captioner.engine is None
                return self._markers.release(self.clock(), self._mark, everything=self._ended, stalled=stalled)
            if isinstance(command, Pause) and command.paused == self._listening:
                self._listening = not command.paused
                if command.paused:
                    self.captioner.close_segment()  # what was said before the pause is captioned now
                self._markers.hold(Marker("pause" if command.paused else "resume", self.clock()))
            elif isinstance(command, Bookmark):
                self._markers.hold(Marker("bookmark", command.at, command.note))
            elif isinstance(command, Retry):
                if self._reconnect.lost is not None:
                    self._retry_source(now=True)
                if self.failure is not None and self._load is None:
                    self._start_load()

    def _mark(self, marker: Marker | Translation | SpeakerLabel) -> None:
        self._save(lambda w: w.add_entry(marker.to_json()))
        self._emit(marker)

    def _status(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_status < 0.1:
            return
        self._last_status = time.monotonic()
        now = self.clock()
        backlog = 0.0 if self._ended else max(0.0, now - self.segmenter.clock)
        # How long the oldest speech not yet captioned has waited: what the next final's latency will
        # at least be. It grows while a decode runs, so the bar tells the truth while waiting too.
        waiting = self.captioner.pending_speech_end
        lag = max(backlog, now - waiting if waiting is not None else 0.0)
        behind_s = backlog + self.captioner.pending_audio_s
        stats, pending = self.stats, self.captioner.pending_finals
        stats.max_backlog_s = max(stats.max_backlog_s, backlog)
        stats.sample_lag(now, lag, behind_s)
        stats.overflows = self.source.overflows if self.source else 0
        if self.captioner.engine is not None:
            stats.account(self.segmenter.in_speech or pending > 0)
            if self._clock.realtime and not self._ended:
                self._govern(now, lag)
        self._emit(Status(
            clock=now, level_dbfs=self.segmenter.level_dbfs, in_speech=self.segmenter.in_speech,
            overflows=stats.overflows, backlog_s=backlog, pending_finals=pending, paused=not self._listening,
            latency=self._last_latency, behind_s=behind_s, lag_s=lag, shed=self.pacer.shed,
            behind=self._clock.realtime and (lag > self.pacer.governor.options.shed_s or behind_s > 2.0),
        ))

    def _govern(self, now: float, lag: float) -> None:
        """Shed or restore a step of work as the lag says (``live.session.governor``)."""
        events, faster = self.pacer.tick(now, lag)
        if events:
            self.stats.governor_steps += 1
            self.stats.deepest_shed = self.pacer.governor.deepest_name
        if faster is not None and self._load is None:
            self._load = self._standin = ModelLoad(faster, lambda text: log.info("%s", text))
        for event in events:
            self._emit(event)

    def _finish(self, error: str | None) -> str | None:
        """Caption what was heard (unless recognition is down), close the files; the error to report."""
        self._ended = True
        # After a stop (q, Ctrl-C, even one that comes while the end of the input is being captioned) the
        # speech still waiting gets ``finish_s``; otherwise the time it needs. The rest is for ``live finish``.
        deadline = None
        try:
            self.captioner.close_segment()
            if self.captioner.pending_finals and self.failure is None and self._load is not None \
                    and self.captioner.engine is None:
                self._emit(Notice("information", "waiting for the model to caption what was heard…"))
                while not self._load.done.wait(0.1) and not self._stop.is_set():
                    pass
                self._load.done.wait(self.finish_s)
            self._attach_engine()
            while not self._save.unsaved and (self._decoder.busy or (
                    self.captioner.pending_finals and self.captioner.engine is not None)):
                if deadline is None and self._stop.is_set():
                    deadline = time.monotonic() + self.finish_s
                if deadline is not None and (time.monotonic() > deadline or self._hurry.is_set()):
                    self._decoder.cancel()  # its final is left with the rest
                    break
                self._decode(wait=0.05)
                self._status()  # the count of what is left keeps moving on the bar
            self._save.uncaptioned(self.captioner.drop_beyond(0.0))
            self._commands_due()  # a bookmark pressed just before quitting is saved, after the captions before it
            self.hooks.settle(self._commands_due)  # the last finals' translations and labels, before the folder closes
            self._status(force=True)  # the bar shows how it ended, not the last busy moment
        except Exception as exc:
            log.exception("finishing the session failed")
            error = error or f"saving stopped: {describe(exc)}"
        finally:
            self._decoder.close()
            error = self._release(error)
        return error or self.failure
