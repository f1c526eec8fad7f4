"""One model for every connection: a decode queue shared by all streams and uploads.

Each connection runs its own session core, whose captioner asks its engine for one decode at a time
and waits for it. Here that engine is a ``SharedEngine``: a thin proxy that puts the request in the
server's one queue and blocks until the result comes back. So the queue holds at most one request
per stream or upload in progress, and the admission limits bound it.

Order: finals, then speculative decodes (a segment gone quiet or a forced cut in sight: its final,
most likely), then partials and file batches; within a class the stream served longest ago goes first,
so one busy stream cannot starve the others. A request's class is asked again each time the queue is
ordered: a speculative decode whose segment has closed meanwhile is that stream's final now. When the engine
has a batch axis (SenseVoice on ONNX Runtime: ``transcribe_batch``) one model call takes several
streams' short requests of similar length, where a call's fixed cost is most of it: on 2 cores, 4 pieces
in one call cost 0.65× their one-by-one time at 0.5 s, 0.88× at 2 s, 0.91× at 4 s and the same at 8 s,
while each waits for the longest. So a batch holds at most 8 s of audio, and a final is batched only
with finals. Whisper (faster-whisper) decodes one piece at a time.
Requests of several replicas (``--ray``) are dispatched in parallel, one batch per replica.
A final never waits behind partials: when one comes while a batch of partials is being decoded
and the engine can stop a call (ONNX Runtime's terminate flag), that call is stopped and its
requests go back in the queue, behind the final.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from live.asr.base import Engine, Transcription
from live.audio import SAMPLE_RATE
from live.errors import LiveError, ModelError
from live.session.loading import describe
from live.session.stats import DecodeCost

log = logging.getLogger("live.serve")

CLASSES = {"final": 0, "speculative": 1, "partial": 2, "file": 2}
LAST = max(CLASSES.values())
PADDING_SLACK = 1.5  # a batch may cost at most this much more than its audio (padding to the longest)


class Cancelled(Exception):
    """A request taken out of the queue before it was decoded."""


class Backend(Protocol):
    """What the scheduler decodes with: a local engine, or Ray Serve replicas."""

    name: str
    model: str
    parallel: int  # batches in flight at once
    max_batch: int  # requests in one model call (1: no batch axis)

    def decode(self, audios: list[np.ndarray], language: str) -> list[Transcription]: ...

    def preempt(self) -> bool:
        """Stop the call running now if the engine can (it then raises); False if it cannot."""
        ...

    def close(self) -> None: ...


class LocalBackend:
    """The engine in this process, called from one thread."""

    parallel = 1

    def __init__(self, engine: Engine, max_batch: int = 8) -> None:
        self.engine = engine
        self.name, self.model = engine.name, engine.model
        self.max_batch = max_batch if hasattr(engine, "transcribe_batch") else 1

    def decode(self, audios: list[np.ndarray], language: str) -> list[Transcription]:
        if len(audios) > 1:
            return list(self.engine.transcribe_batch(audios, language))  # type: ignore[attr-defined]
        return [self.engine.transcribe(audios[0], language)]

    def preempt(self) -> bool:
        stop = getattr(self.engine, "cancel", None)
        if stop is None or not getattr(self.engine, "cancel_is_prompt", True):
            return False
        stop()
        return True

    def close(self) -> None:
        pass


BatchRecord = Callable[[list[str], float, float], None]  # (kinds, wall s, audio s)


@dataclass
class _Request:
    stream: str
    kind: str
    audio: np.ndarray
    language: str
    seq: int
    kind_of: Callable[[], str] | None = None  # the kind now, asked of the stream (see the module doc)
    future: Future = field(default_factory=Future)

    @property
    def rank(self) -> int:
        return CLASSES.get(self.kind_of() if self.kind_of is not None else self.kind, LAST)


class DecodeScheduler:
    """The shared queue and the threads that empty it into the backend."""

    def __init__(self, load: Callable[[], Backend], *, max_batch_audio_s: float = 8.0,
                 on_batch: BatchRecord | None = None) -> None:
        self._load = load
        self.max_batch_audio_s = max_batch_audio_s
        self.on_batch = on_batch
        self.backend: Backend | None = None
        self.error: str | None = None
        self.ready = threading.Event()
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._served: dict[str, float] = {}
        self._seq = itertools.count()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self.busy = 0  # batches being decoded now
        self._running: list[list[_Request]] = []  # the batches being decoded, as taken
        self._preempted: set[int] = set()  # id() of those stopped for a final
        self.preemptions = 0
        self.cost = DecodeCost()  # how long a call takes lately, by its seconds of audio

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model in a thread of its own; ``ready`` is set when it is loaded (or failed)."""
        thread = threading.Thread(target=self._load_then_run, name="live-serve-load", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _load_then_run(self) -> None:
        try:
            backend = self._load()
        except BaseException as exc:  # a failed load is reported by /readyz and to each stream
            if not isinstance(exc, LiveError):
                log.exception("the model failed to load")
            self.error = describe(exc)
            self.ready.set()
            return
        self.backend = backend
        log.info("model ready: %s %s (%d in parallel, batches of up to %d)", backend.name, backend.model,
                 backend.parallel, backend.max_batch)
        for n in range(1, backend.parallel):
            thread = threading.Thread(target=self._dispatch, name=f"live-serve-decode-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.ready.set()
        # This thread decodes too, and so lives as long as the server: a Ray driver dies with the
        # thread that called ray.init (the process exits without a word).
        self._dispatch()

    def wait_ready(self, timeout: float | None = None) -> Backend:
        """The loaded backend; ModelError when it failed to load (or is not loaded in ``timeout``)."""
        if not self.ready.wait(timeout):
            raise ModelError("the server's model is still loading")
        if self.backend is None:
            raise ModelError(f"the server's model failed to load: {self.error}")
        return self.backend

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pending, self._pending = self._pending, []
            self._cond.notify_all()
        for request in pending:
            request.future.set_exception(LiveError("the server is shutting down"))
        if self.backend is not None:
            self.backend.close()

    # -- requests ----------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Requests waiting for a decode (not counting those being decoded)."""
        return len(self._pending)

    def submit(self, stream: str, kind: str, audio: np.ndarray, language: str,
               kind_of: Callable[[], str] | None = None) -> Future:
        request = _Request(stream, kind, np.asarray(audio, dtype=np.float32), language, next(self._seq), kind_of)
        with self._cond:
            if self._closed:
                request.future.set_exception(LiveError("the server is shutting down"))
                return request.future
            self._pending.append(request)
            self._served.setdefault(stream, 0.0)
            self._cond.notify()
            if request.rank == 0:
                self._preempt_for_final()
        return request.future

    def _preempt_for_final(self) -> None:
        """Under the lock: stop a batch of partials being decoded, if the backend can (see the module
        doc). The stop lands on that call or on one already finished, never on a later one: a later
        call needs this lock to be taken from the queue first."""
        backend = self.backend
        if backend is None or len(self._running) < backend.parallel:
            return  # a decoder is free: the final goes there
        preempt = getattr(backend, "preempt", None)
        for batch in self._running:
            if id(batch) not in self._preempted and all(r.rank > 0 for r in batch):
                if preempt is not None and preempt():
                    self._preempted.add(id(batch))
                    self.preemptions += 1
                return

    def cancel(self, stream: str) -> bool:
        """Take the stream's request out of the queue if it is still waiting there (a partial whose
        segment has closed); True if it was. One already being decoded finishes, and is dropped."""
        with self._cond:
            mine = [r for r in self._pending if r.stream == stream]
            self._pending = [r for r in self._pending if r.stream != stream]
        for request in mine:
            request.future.set_exception(Cancelled("no longer wanted"))
        return bool(mine)

    def forget(self, stream: str) -> None:
        """A stream that ended: its fairness record goes."""
        with self._cond:
            self._served.pop(stream, None)

    def engine(self, stream: str, kind_of: Callable[[], str]) -> SharedEngine:
        backend = self.wait_ready()
        return SharedEngine(self, stream, kind_of, backend.name, backend.model)

    # -- dispatching ---------------------------------------------------------------------------------

    def _take(self) -> list[_Request]:
        """The next batch (under the lock): the first request in order, then others like it."""
        assert self.backend is not None
        ranks = {id(r): r.rank for r in self._pending}  # asked once: a stream's kind may change meanwhile
        ranked = sorted(self._pending, key=lambda r: (ranks[id(r)], self._served.get(r.stream, 0.0), r.seq))
        head = ranked[0]
        batch = [head]
        if self.backend.max_batch > 1:
            longest = total = len(head.audio)
            for other in ranked[1:]:
                if len(batch) >= self.backend.max_batch:
                    break
                if other.language != head.language or other.stream in {r.stream for r in batch} \
                        or ranks[id(other)] != ranks[id(head)]:
                    continue
                new_longest = max(longest, len(other.audio))
                new_total = total + len(other.audio)
                if new_longest * (len(batch) + 1) > PADDING_SLACK * new_total \
                        or new_total > self.max_batch_audio_s * SAMPLE_RATE:
                    continue
                batch.append(other)
                longest, total = new_longest, new_total
        chosen = {id(r) for r in batch}
        self._pending = [r for r in self._pending if id(r) not in chosen]
        now = time.monotonic()
        for request in batch:
            if request.stream in self._served:
                self._served[request.stream] = now
        return batch

    def _dispatch(self) -> None:
        backend = self.backend
        assert backend is not None
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                batch = self._take()
                self.busy += 1
                self._running.append(batch)
            try:
                self._decode(backend, batch)
            finally:
                with self._cond:
                    self.busy -= 1
                    self._running.remove(batch)
                    self._preempted.discard(id(batch))

    def _decode(self, backend: Backend, batch: list[_Request]) -> None:
        began = time.perf_counter()
        try:
            results = backend.decode([r.audio for r in batch], batch[0].language)
        except Exception as exc:  # noqa: BLE001 - handed to the stream whose decode it was
            with self._cond:
                if id(batch) in self._preempted:  # stopped for a final: back in the queue, behind it
                    self._pending.extend(batch)
                    self._cond.notify()
                    return
            if len(batch) == 1:
                log.warning("a decode failed: %s", describe(exc))
                batch[0].future.set_exception(exc)
                return
            log.warning("a batch of %d failed (%s); decoding them one by one", len(batch), describe(exc))
            for request in batch:
                self._decode(backend, [request])
            return
        for request, result in zip(batch, results):
            request.future.set_result(result)
        wall, audio_s = time.perf_counter() - began, sum(len(r.audio) for r in batch) / SAMPLE_RATE
        self.cost.record(audio_s, wall)
        if self.on_batch is not None:
            self.on_batch([r.kind for r in batch], wall, audio_s)


class SharedEngine:
    """A connection's engine: the same interface as a local one, decoded by the shared queue.

    ``kind_of`` says whether the decode asked for now is a final (the connection's captioner has
    one pending) or a partial; that sets its place in the queue.
    """

    def __init__(self, scheduler: DecodeScheduler, stream: str, kind_of: Callable[[], str], name: str,
                 model: str) -> None:
        self._scheduler = scheduler
        self._stream = stream
        self._kind_of = kind_of
        self.name = name
        self.model = model

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> Transcription:
        return self._scheduler.submit(self._stream, self._kind_of(), audio, language, self._kind_of).result()

    def cancel(self) -> None:
        """The session's decoder no longer wants the running decode: out of the queue if still there."""
        self._scheduler.cancel(self._stream)
