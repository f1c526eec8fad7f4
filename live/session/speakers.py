"""``SpeakerService``: who said each final, worked out on a thread of its own, never in the captions' way.

The worker hands it the audio it hears (``hear``: kept for a while in a ring) and, once a final is
saved and shown, the final (``add``: its audio is cut from the ring then and queued). The thread loads
the voice encoder (the weights fetched once, if need be), embeds each final and runs the role
labeller; every label that is new or changed goes to ``deliver`` — the worker's ``append`` — as a
``SpeakerLabel``, so the worker writes it to transcript.jsonl after its final and shows it. A later
label for an index replaces the earlier one. ``enroll`` (the L key) takes the last seconds heard as
the lecturer's voice. At the end ``settle`` waits a bounded time for the labels still pending, so every
final of a session is labelled before it ends.

A missing or unfetchable speaker model turns labelling off for the session with one notice; the
captions never wait for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from live.captions import Caption
from live.errors import LiveError
from live.events import Notice
from live.speakers import RoleLabeller, RoleOptions, SpeakerLabel

log = logging.getLogger("live.speakers")

RATE = 16000
Deliver = Callable[[SpeakerLabel], None]


@dataclass
class SpeakerServiceOptions:
    """How the session's labelling keeps up.

    Attributes:
        keep_s: audio kept in the ring for finals not yet added (a final can come this long after its
            speech while recognition is behind or the model loads; later than that it goes unlabelled).
        enroll_s: the audio before the L key taken as the lecturer's voice.
        finish_timeout_s: at the end, how long the last labels are waited for.
        max_queue_s: finals' audio waiting to be labelled beyond which the oldest are given up.
    """

    keep_s: float = 330.0
    enroll_s: float = 4.0
    finish_timeout_s: float = 1.5  # q leaves within ~2 s; a label takes ~0.1 s, so few are ever pending
    max_queue_s: float = 300.0


@dataclass
class SpeakerStats:
    """What labelling cost: finals labelled, their seconds of audio, the thread's CPU seconds."""

    finals: int = 0
    audio_s: float = 0.0
    cpu_s: float = 0.0
    load_s: float | None = None
    lost: int = 0
    labels_sent: int = 0
    latencies_s: list[float] = field(default_factory=list)  # from ``add`` to the final's first label

    def to_json(self) -> dict:
        lat = sorted(self.latencies_s)
        return {"finals": self.finals, "audio_s": round(self.audio_s, 2), "cpu_s": round(self.cpu_s, 3),
                "load_s": None if self.load_s is None else round(self.load_s, 2), "lost": self.lost,
                "labels_sent": self.labels_sent,
                "label_latency_p50_s": round(lat[len(lat) // 2], 3) if lat else None,
                "label_latency_max_s": round(lat[-1], 3) if lat else None}


class _Ring:
    """The last ``keep_s`` of audio heard, addressed by the stream's clock; kept as 16-bit samples (5.5 min
    is 10 MB, half of float32, and the embeddings do not change)."""

    def __init__(self, keep_s: float, start_s: float) -> None:
        self._blocks: deque[np.ndarray] = deque()  # int16
        self._first = round(start_s * RATE)  # stream sample of the first kept sample
        self._size = 0
        self._keep = int(keep_s * RATE)

    @property
    def start_s(self) -> float:
        return self._first / RATE

    @property
    def end_s(self) -> float:
        return (self._first + self._size) / RATE

    def add(self, block: np.ndarray) -> None:
        self._blocks.append((np.clip(block, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(-1))
        self._size += len(self._blocks[-1])
        while self._size - len(self._blocks[0]) >= self._keep:
            gone = self._blocks.popleft()
            self._first += len(gone)
            self._size -= len(gone)

    def slice(self, start_s: float, end_s: float) -> np.ndarray | None:
        """The audio between two clock times; None when it is no longer (or not yet) all here."""
        a, b = round(start_s * RATE), round(end_s * RATE)
        if a < self._first or b > self._first + self._size or b <= a:
            return None
        out, at = [], self._first
        for block in self._blocks:
            lo, hi = max(a, at), min(b, at + len(block))
            if lo < hi:
                out.append(block[lo - at:hi - at])
            at += len(block)
            if at >= b:
                break
        return np.concatenate(out).astype(np.float32) / 32767.0


def _lower_priority(step: int = 10) -> None:
    """This thread only (Linux: a thread is its own scheduling entity) yields the cores to the captions:
    labels can wait a moment, captions should not."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (AttributeError, OSError) as error:  # not Linux, or not allowed: labels run at the same priority
        log.debug("speaker labels at normal priority: %s", error)


class SpeakerService:
    """Labels one session's finals; ``connect(deliver)`` before the first final."""

    def __init__(self, load: Callable[[Callable[[str], None]], Callable[[np.ndarray], object]], *,
                 roles: RoleOptions | None = None, options: SpeakerServiceOptions | None = None,
                 notify: Callable[[Notice], None] | None = None, start_s: float = 0.0) -> None:
        """``load(on_status)`` returns the embedding function (``VoiceEncoder.embed_partials``); it runs
        on the service's thread. ``start_s``: the stream clock of the first sample heard."""
        self.options = options or SpeakerServiceOptions()
        self.stats = SpeakerStats()
        self.off: str | None = None
        self._load = load
        self._roles = roles or RoleOptions()
        self._notify = notify
        self._deliver: Deliver | None = None
        self._ring = _Ring(self.options.keep_s, start_s)
        self._ring_lock = threading.Lock()
        self._jobs: deque[tuple[str, int, np.ndarray, float]] = deque()  # (kind, index, audio, added at)
        self._queued_s = 0.0
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._labeller: RoleLabeller | None = None
        self._thread = threading.Thread(target=self._run, name="live-speakers", daemon=True)
        self._thread.start()

    # -- the session's side (the worker's thread, the front end's for enroll) -----------------------

    def connect(self, deliver: Deliver, notify: Callable[[Notice], None] | None = None) -> None:
        self._deliver = deliver
        if notify is not None:
            self._notify = notify

    def hear(self, block: np.ndarray) -> None:
        """Audio as the VAD gets it (zeros while paused), in order; cheap."""
        with self._ring_lock:
            self._ring.add(block)

    def add(self, caption: Caption) -> None:
        """A saved final: its audio is queued for labelling; returns at once."""
        if caption.kind != "final" or not caption.text.strip() or self.off is not None or self._closed:
            return
        with self._ring_lock:
            audio = self._ring.slice(caption.start, caption.end)
        if audio is None:
            self.stats.lost += 1
            log.warning("final %d: its audio is no longer kept; left unlabelled", caption.index)
            return
        self._queue("final", caption.index, audio)

    def enroll(self) -> bool:
        """The L key: the voice of the last ``enroll_s`` heard is the lecturer's. False when off."""
        if self.off is not None or self._closed:
            return False
        with self._ring_lock:
            end = self._ring.end_s
            audio = self._ring.slice(max(end - self.options.enroll_s, self._ring.start_s), end)
        if audio is None or len(audio) < RATE // 2:
            return False
        self._queue("enroll", -1, audio)
        return True

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._jobs) + (1 if self._busy else 0)

    def settle(self, serve: Callable[[], None]) -> None:
        """The session is ending: wait for the pending labels (at most ``finish_timeout_s``), calling
        ``serve`` (the worker's command step) so they are written as they come; then stop."""
        deadline = time.monotonic() + self.options.finish_timeout_s
        with self._cond:
            while (self._jobs or self._busy) and self.off is None and self._labeller is not None \
                    and time.monotonic() < deadline:
                self._cond.wait(0.05)
                self._cond.release()
                try:
                    serve()
                finally:
                    self._cond.acquire()
            left = len(self._jobs) if self.off is None else 0
        if left:
            self._say("warning", f"{left} caption{'s' if left != 1 else ''} not labelled by speaker before the end "
                                 "(labelling fell behind); every caption is saved")
        self.close()
        serve()

    def close(self, timeout: float = 5.0) -> bool:
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread -------------------------------------------------------------------------------------

    def _queue(self, kind: str, index: int, audio: np.ndarray) -> None:
        with self._cond:
            self._jobs.append((kind, index, audio, time.monotonic()))
            self._queued_s += len(audio) / RATE
            while self._queued_s > self.options.max_queue_s and len(self._jobs) > 1:
                _, lost, dropped, _ = self._jobs.popleft()
                self._queued_s -= len(dropped) / RATE
                self.stats.lost += 1
                log.warning("final %d given up: labelling is %.0f s behind", lost, self._queued_s)
            self._cond.notify_all()

    def _run(self) -> None:
        _lower_priority()
        began = time.monotonic()
        try:
            embed = self._load(lambda text: self._say("information", text))
        except LiveError as error:
            self._turn_off(str(error))
            return
        except Exception as error:  # a bug: labelling off, captions on, the traceback in the log
            log.exception("the speaker model failed to load")
            self._turn_off(f"internal error {type(error).__name__}; see the log")
            return
        self.stats.load_s = time.monotonic() - began
        self._labeller = RoleLabeller(embed, self._roles)  # type: ignore[arg-type]
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                kind, index, audio, added = self._jobs.popleft()
                self._queued_s -= len(audio) / RATE
                self._busy = True
            try:
                self._label(kind, index, audio, added)
            except Exception:  # one bad final must not stop the labels of the rest
                log.exception("labelling final %d failed", index)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _label(self, kind: str, index: int, audio: np.ndarray, added: float) -> None:
        assert self._labeller is not None
        cpu = time.thread_time()
        if kind == "enroll":
            changed = self._labeller.enroll(audio)
        else:
            changed = self._labeller.feed(index, audio)
            self.stats.finals += 1
            self.stats.audio_s += len(audio) / RATE
        self.stats.cpu_s += time.thread_time() - cpu
        if kind == "final":
            self.stats.latencies_s.append(time.monotonic() - added)
        for label in changed:
            self._hand_over(label)

    def _hand_over(self, label: SpeakerLabel) -> None:
        if self._deliver is None:
            log.warning("speaker labels not connected: label for %d dropped", label.index)
            return
        self.stats.labels_sent += 1
        self._deliver(label)

    def _turn_off(self, why: str) -> None:
        with self._cond:
            self.off = why
            self._jobs.clear()
            self._cond.notify_all()
        self._say("warning", f"speaker labels off: {why}; captions go on")

    def _say(self, level: str, message: str) -> None:
        log.log(logging.INFO if level == "information" else logging.WARNING, "speakers: %s", message)
        if self._notify is not None:
            try:
                self._notify(Notice(level, message))  # type: ignore[arg-type]
            except Exception:  # the receiver's bug must not stop the labels; the log keeps it
                log.exception("a front end failed on a speaker notice")


class FileSpeakers:
    """Who said each final of a whole file (``live transcribe``), labelled once all of it is heard.

    On the worker's thread: ``voice_change`` (the batcher's test, ``BatchOptions.voice_change``) embeds
    each closed segment once and says where the voice changes, so no decode batch spans two voices;
    ``add`` embeds each saved final, from the audio ``hear`` kept. ``settle``, before the folder closes,
    labels every final with the whole file in view (``live.speakers.cluster``) and hands the labels to
    ``deliver`` (the worker's ``append``), which writes them after the finals.
    """

    def __init__(self, embed: Callable[[np.ndarray], object], *, roles: RoleOptions | None = None,
                 keep_s: float = 330.0) -> None:
        self.roles = roles or RoleOptions()
        self.stats = SpeakerStats()
        self._embed = embed
        self._ring = _Ring(keep_s, 0.0)
        self._segments: dict[tuple[float, float], object] = {}
        self._finals: list[tuple[int, object]] = []
        self._deliver: Deliver | None = None

    def connect(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def hear(self, block: np.ndarray) -> None:
        self._ring.add(block)

    def voice_change(self, earlier, later) -> bool:
        """Two segments long enough to tell voices apart, of different voices (a short one never splits
        a batch: a shout or a breath is no new speaker, and a shorter decode costs the words)."""
        if min(earlier.duration, later.duration) < self.roles.min_embed_s + 0.5:
            return False
        a, b = self._segment(earlier), self._segment(later)
        short = min(a.voiced, b.voiced) < self.roles.min_embed_s  # type: ignore[attr-defined]
        return not short and float(a.embedding @ b.embedding) < self.roles.same_voice  # type: ignore[attr-defined]

    def add(self, caption: Caption) -> None:
        if caption.kind != "final" or not caption.text.strip():
            return
        audio = self._ring.slice(caption.start, caption.end)
        if audio is None:
            self.stats.lost += 1
            return
        self._finals.append((caption.index, self._timed(audio)))
        self.stats.finals += 1
        self._segments = {span: p for span, p in self._segments.items() if span[1] > caption.end}

    def settle(self, serve: Callable[[], None]) -> None:
        from live.speakers.cluster import label_embedded

        cpu = time.thread_time()
        labels = label_embedded([i for i, _ in self._finals], [p for _, p in self._finals], self.roles)  # type: ignore[misc]
        self.stats.cpu_s += time.thread_time() - cpu
        for index in sorted(labels):
            if self._deliver is not None:
                self._deliver(labels[index])
                self.stats.labels_sent += 1
        serve()

    def _segment(self, segment) -> object:
        key = (segment.start, segment.end)
        if key not in self._segments:
            self._segments[key] = self._timed(segment.audio)
        return self._segments[key]

    def _timed(self, audio: np.ndarray) -> object:
        cpu = time.thread_time()
        partials = self._embed(audio)
        self.stats.cpu_s += time.thread_time() - cpu
        self.stats.audio_s += len(audio) / RATE  # embedded (segments at the batcher, then finals)
        return partials
