"""The fan-out of a room: a session's events in, one Server-Sent Events frame per event, read by any
number of viewers.

Each event is encoded once (``RoomEvent.data``, the frame's bytes) and the same bytes go to every
viewer. Finals, markers, translations and the end are kept in order in a history; a viewer is a cursor
into it, so a late joiner reads the lecture so far, a reconnecting one resumes after the last event id
it had (no gap, no duplicate), and a slow one catches up from where it is. Partials and the status are
not history: only the newest of each is kept, and a viewer gets it once it has caught up, so one that
reads slowly skips partials but never a final. What one viewer reads is bounded (``batch_events``
frames per ``take``); its own state is a few integers.

Event ids are ``EPOCH-SEQ``: a viewer that brings an id of another epoch (the room was made again, e.g.
after a server restart) reads the whole history again, and the page, which keys its rows by the
caption's index, shows nothing twice.

A plain object, not thread-safe and without a clock: the caller (``live.room.room.Room``) hands it
events and reads it from one thread, the web server's event loop.
"""

from __future__ import annotations

import bisect
import json
import logging
import secrets
from dataclasses import dataclass

from live.captions import Caption
from live.errors import ConfigError
from live.events import Finished, Marker, SpeakerLabel, Status, Translation

log = logging.getLogger("live.room")

TERMINAL = ("end", "closed")


@dataclass
class HubOptions:
    """What a room keeps and how often it tells viewers the status.

    Attributes:
        batch_events: the most frames one viewer is handed at once (a late joiner reads the history
            in batches of this many).
        status_every_s: a status (the caption latency) goes out at most this often, in the stream's
            clock; a pause or a change of ``behind`` goes out at once.
        history_max: events kept for late joiners (a 90-minute lecture makes a few thousand); beyond,
            the oldest quarter is forgotten.
    """

    batch_events: int = 256
    status_every_s: float = 1.0
    history_max: int = 200_000

    def __post_init__(self) -> None:
        if self.batch_events < 1 or self.history_max < 100 or self.status_every_s < 0:
            raise ConfigError("room hub: batch_events ≥ 1, history_max ≥ 100, status_every_s ≥ 0")


@dataclass(frozen=True)
class RoomEvent:
    """One event as every viewer receives it: ``data`` is the whole SSE frame."""

    seq: int
    kind: str  # partial, final, marker, translation, notice, status, end, closed
    data: bytes
    lang: str | None = None  # translations: only viewers of this language read them
    index: int = -1  # the caption's segment number (partials, finals, translations)
    text: str = ""  # partials: the guess (an identical one is not sent again)


class Viewer:
    """One open event stream: where it is in the history, and what it was last handed."""

    __slots__ = ("lang", "cursor", "partial_seq", "status_seq", "pending", "closed", "generation", "done")

    def __init__(self, lang: str | None, cursor: int, after: int, generation: int) -> None:
        self.lang = lang
        self.cursor = cursor  # absolute position in the history of the next event to hand over
        self.partial_seq = after
        self.status_seq = 0
        self.pending: list[RoomEvent] = []  # translations of earlier finals, for a language just chosen
        self.closed: str | None = None  # why the room ended this stream early (closed, rotated)
        self.generation = generation
        self.done = False


class RoomHub:
    """Events in (``publish``), frames out per viewer (``subscribe``, ``take``, ``unsubscribe``)."""

    def __init__(self, options: HubOptions | None = None) -> None:
        self.options = options or HubOptions()
        self.epoch = secrets.token_hex(3)
        self.viewers: set[Viewer] = set()
        self.published = 0
        self._seq = 0
        self._history: list[RoomEvent] = []
        self._base = 0  # absolute position of _history[0]
        self._partial: RoomEvent | None = None
        self._status: RoomEvent | None = None
        self._status_key: tuple | None = None
        self._status_clock = float("-inf")
        self._finals: dict[int, int] = {}  # caption index → history seq, so a final is kept once
        self.ended: RoomEvent | None = None

    # -- events in ----------------------------------------------------------------------------------

    def publish(self, event: object) -> RoomEvent | None:
        """Encode a session event once and keep it; None for what viewers do not see (notices, the
        engine's state, a status that changed nothing worth saying)."""
        if self.ended is not None:
            return None
        if isinstance(event, Caption):
            return self._caption(event)
        if isinstance(event, Translation):
            if not event.text.strip():
                return None
            return self._keep("translation", {"k": "t", "i": event.index, "l": event.lang, "t": event.text},
                              lang=event.lang, index=event.index)
        if isinstance(event, SpeakerLabel):  # who said a final: the page marks the questions from the room
            return self._keep("speaker", {"k": "v", "i": event.index, "r": event.speaker, "v": event.voice},
                              index=event.index)
        if isinstance(event, Marker):
            return self._keep("marker", {"k": "m", "m": event.kind, "a": round(event.at, 2), "n": event.note})
        if isinstance(event, Status):
            return self._status_event(event)
        if isinstance(event, Finished):
            return self.end(event.error)
        return None

    def end(self, error: str | None = None) -> RoomEvent:
        """The lecture is over: viewers read to here, then their streams end."""
        if self.ended is None:
            self._partial = None
            self.ended = self._keep("end", {"k": "end", "error": error})
        return self.ended

    def close(self, why: str = "closed") -> RoomEvent:
        """The sharer closed the room: every stream ends (after the history it has not read yet)."""
        if self.ended is None:
            self._partial = None
            self.ended = self._keep("closed", {"k": "closed", "why": why})
        return self.ended

    def say(self, text: str, lang: str | None = None) -> RoomEvent | None:
        """A message for the viewers (only those reading ``lang``, if given), kept in the history."""
        if self.ended is not None:
            return None
        return self._keep("notice", {"k": "n", "l": lang, "t": text}, lang=lang)

    def _caption(self, caption: Caption) -> RoomEvent | None:
        text = caption.text.strip()
        if caption.kind == "final" and text:
            if caption.index in self._finals:
                log.debug("final %d came twice; the first is kept", caption.index)
                return None
            if self._partial is not None and self._partial.index <= caption.index:
                self._partial = None
            event = self._keep("final", {"k": "f", "i": caption.index, "s": round(caption.start, 2),
                                         "e": round(caption.end, 2), "t": text, "l": caption.language},
                               index=caption.index)
            self._finals[caption.index] = event.seq
            return event
        if caption.index in self._finals:
            return None  # a partial (or an empty final) of a segment already final
        # A partial, or an empty final that clears its segment's partial line.
        current = self._partial
        if current is not None and current.index == caption.index and current.text == text:
            return None  # the same guess again: nothing new to send
        self._seq += 1
        self.published += 1
        self._partial = RoomEvent(self._seq, "partial", self._frame({"k": "p", "i": caption.index,
                                                                     "s": round(caption.start, 2), "t": text}),
                                  index=caption.index, text=text)
        return self._partial

    def _status_event(self, status: Status) -> RoomEvent | None:
        latency = None if status.latency is None else round(status.latency, 1)
        key = (status.paused, status.behind, latency)
        flags_changed = self._status_key is None or key[:2] != self._status_key[:2]
        if key == self._status_key or not (flags_changed or status.clock - self._status_clock >= self.options.status_every_s):
            return None
        self._status_key, self._status_clock = key, status.clock
        self._seq += 1
        self._status = RoomEvent(self._seq, "status", self._frame(
            {"k": "s", "lat": latency, "paused": status.paused, "behind": status.behind}, with_id=False))
        return self._status

    def _keep(self, kind: str, payload: dict, *, lang: str | None = None, index: int = -1) -> RoomEvent:
        self._seq += 1
        self.published += 1
        event = RoomEvent(self._seq, kind, self._frame(payload), lang, index)
        self._history.append(event)
        if len(self._history) > self.options.history_max:
            drop = len(self._history) // 4
            log.warning("room history over %d events: the oldest %d are forgotten", self.options.history_max, drop)
            del self._history[:drop]
            self._base += drop
        return event

    def _frame(self, payload: dict, *, with_id: bool = True) -> bytes:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        head = f"id: {self.epoch}-{self._seq}\n" if with_id else ""
        return f"{head}data: {data}\n\n".encode()

    # -- viewers ------------------------------------------------------------------------------------

    def subscribe(self, after: str | None = None, lang: str | None = None, *, fresh: bool = False,
                  generation: int = 0) -> Viewer:
        """A new stream. ``after``: the last event id the viewer had (it resumes after it); ``fresh``:
        it just chose ``lang``, so the translations of what it already has come first."""
        seq = self._parse(after)
        position = self._base + bisect.bisect_right(self._history, seq, key=lambda e: e.seq) if seq else self._base
        viewer = Viewer(lang, position, seq, generation)
        if fresh and lang:
            viewer.pending = [e for e in self._history[:position - self._base] if e.lang == lang]
        self.viewers.add(viewer)
        return viewer

    def _parse(self, after: str | None) -> int:
        """The sequence number in ``after`` when it is of this epoch, else 0 (read from the start)."""
        if not after:
            return 0
        epoch, _, number = after.strip().partition("-")
        if epoch != self.epoch or not number.isdigit():
            return 0
        return min(int(number), self._seq)

    def unsubscribe(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    def close_viewers(self, why: str, *, before_generation: int) -> int:
        """End the streams of viewers older than ``before_generation`` (a rotated code); how many."""
        count = 0
        for viewer in self.viewers:
            if viewer.generation < before_generation and viewer.closed is None:
                viewer.closed = why
                count += 1
        return count

    def take(self, viewer: Viewer) -> list[bytes]:
        """The frames ``viewer`` has not had yet, oldest first (at most ``batch_events``); after the
        last of them ``viewer.done`` says its stream should end."""
        if viewer.done:
            return []
        if viewer.closed is not None:
            viewer.done = True
            return [self._frame({"k": "closed", "why": viewer.closed}, with_id=False)]
        limit = self.options.batch_events
        frames: list[bytes] = []
        if viewer.pending:
            frames = [e.data for e in viewer.pending[:limit]]
            del viewer.pending[:limit]
        start = max(0, viewer.cursor - self._base)
        end = min(len(self._history), start + max(0, limit - len(frames)))
        for event in self._history[start:end]:
            if event.lang is None or event.lang == viewer.lang:
                frames.append(event.data)
            if event.kind in TERMINAL:
                viewer.done = True
        viewer.cursor = self._base + end
        if viewer.done or end < len(self._history) or viewer.pending:
            return frames  # not caught up: the newest partial and status wait until it is
        partial = self._partial
        if partial is not None and partial.seq > viewer.partial_seq:
            frames.append(partial.data)
            viewer.partial_seq = partial.seq
        status = self._status
        if status is not None and status.seq > viewer.status_seq:
            frames.append(status.data)
            viewer.status_seq = status.seq
        return frames

    def behind(self, viewer: Viewer) -> int:
        """History events ``viewer`` has still to read."""
        return self._base + len(self._history) - viewer.cursor + len(viewer.pending)

    # -- for the sharer -----------------------------------------------------------------------------

    @property
    def finals(self) -> int:
        return len(self._finals)

    @property
    def last_id(self) -> str:
        return f"{self.epoch}-{self._seq}"
