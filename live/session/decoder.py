"""The session's decodes, one at a time, on a thread of their own.

The worker keeps reading audio and running the VAD while the engine works, so a segment that closes
during a partial decode is seen at once: the partial is cancelled where the engine can stop (ONNX
Runtime's terminate flag) and its result dropped elsewhere, and the final goes next. The engine is
only ever called from this thread.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from live.asr.base import Engine, Transcription
from live.captions import DecodeJob


@dataclass(frozen=True)
class Done:
    """A finished decode: its result, or the error it raised, or neither (it was cancelled)."""

    job: DecodeJob
    result: Transcription | None
    error: BaseException | None
    wall_s: float


class Decoder:
    """Runs the submitted decode on its thread; the worker polls for it (thread-safe)."""

    def __init__(self) -> None:
        self.job: DecodeJob | None = None  # running, as the worker sees it
        self._engine: Engine | None = None
        self._cancelled = False
        self._jobs: queue.SimpleQueue[tuple[DecodeJob, Engine, str] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-decode", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def submit(self, job: DecodeJob, engine: Engine, language: str) -> None:
        assert self.job is None, "one decode at a time"
        self.job, self._cancelled = job, False
        self._finished.clear()
        self._jobs.put((job, engine, language))

    def cancel(self) -> None:
        """The running decode is no longer wanted: stop it if the engine can, drop its result anyway."""
        if self.job is None or self._cancelled:
            return
        self._cancelled = True
        engine = self._engine
        stop = getattr(engine, "cancel", None)
        if stop is not None:
            stop()

    def poll(self, wait: float = 0.0) -> Done | None:
        """The decode that finished, if one did (within ``wait`` seconds)."""
        if self.job is None:
            return None
        if wait > 0:
            self._finished.wait(wait)
        try:
            done = self._done.get_nowait()
        except queue.Empty:
            return None
        self.job = None
        return done

    def close(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, engine, language = item
            self._engine = engine
            began = time.perf_counter()
            try:
                result, error = engine.transcribe(job.audio, language), None
            except BaseException as exc:  # noqa: BLE001 - handed to the worker, which says what stopped
                result, error = None, exc
            self._engine = None
            if self._cancelled:
                result, error = None, None  # asked for: not a failure, and not a caption
            self._done.put(Done(job, result, error, time.perf_counter() - began))
            self._finished.set()
