"""A room: one session's captions shared with everyone who has its code.

``Room.publish`` is the sharer's side: the front end tees every session event to it, from the
session's thread, and it returns at once (the event joins an inbox and the web server's loop is woken
once): viewers can never delay the sharer's captions. On the loop, the inbox is drained into the hub
(``live.room.hub``), finals are handed to the room's translators, and every viewer stream is woken
through one shared future.

The code can be rotated (the old one stops working and its viewers are disconnected) and the room
closed; when the session finishes, pending translations get a bounded wait, then every viewer reads the
end, and ``finish`` returns once they all have (or its timeout has passed) so the web server can stop.
``Rooms`` finds a room by its code for the web app (one for ``live --share``, many on ``live serve``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from live.captions import Caption
from live.events import Finished, Notice
from live.room.codes import code_hash, new_code, normalize
from live.room.hub import HubOptions, RoomHub, Viewer
from live.room.translations import MakeTranslator, RoomTranslations

log = logging.getLogger("live.room")


@dataclass
class RoomOptions:
    """What a room offers its viewers.

    Attributes:
        title: the page's heading (e.g. the course's name).
        languages: language codes viewers may choose; each is translated once on the sharing side.
        settle_s: when the session ends, how long translations still pending are awaited.
        hub: what the room keeps (``HubOptions``).
    """

    title: str = "Live captions"
    languages: tuple[str, ...] = ()
    settle_s: float = 5.0
    hub: HubOptions = field(default_factory=HubOptions)


class Room:
    """One shared session. ``publish`` from any thread; the rest of its viewer side runs on the loop
    it is ``attach``-ed to."""

    def __init__(self, options: RoomOptions | None = None, *, make_translator: MakeTranslator | None = None,
                 provided: str | None = None, notify: Callable[[Notice], None] | None = None,
                 code: str | None = None, translated_elsewhere: Callable[[str], None] | None = None) -> None:
        """``make_translator`` translates a language viewers choose here; ``translated_elsewhere`` instead
        asks someone else (a server's room asks its sharer) for it."""
        self.options = options or RoomOptions()
        self.hub = RoomHub(self.options.hub)
        self.code = code or new_code()
        self.generation = 0
        self.opened_at = time.time()
        self.translations = RoomTranslations(self.options.languages, make_translator, self.publish, provided=provided,
                                             notify=notify, unavailable=self._unavailable,
                                             elsewhere=translated_elsewhere)
        self.closed: str | None = None
        self._rooms: Rooms | None = None
        self._inbox: deque[object] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[asyncio.Future] = []  # one per idle viewer stream, completed at the next change
        self._ending: threading.Thread | None = None
        self._drained = threading.Event()

    # -- the sharer's side (any thread) ---------------------------------------------------------

    def publish(self, event: object) -> None:
        """Hand a session event to the room; returns at once. ``Finished`` starts the end: pending
        translations are awaited (at most ``settle_s``), then the viewers read the end."""
        if isinstance(event, Finished):
            self._end_soon(event.error)
            return
        self._inbox.append(event)
        self._kick()

    def rotate(self, code: str | None = None) -> str:
        """A new code (``code``, or a random one); the old one stops working and the viewers who came
        with it are disconnected."""
        with self._lock:
            old, self.code = self.code, code or new_code()
            self.generation += 1
            generation = self.generation
        if self._rooms is not None:
            self._rooms.rekey(self, old)
        self._call(lambda: self._close_old(generation))
        return self.code

    def close(self, why: str = "closed") -> None:
        """The sharer closes the room: every viewer is told, and the code stops working."""
        if self.closed is not None:
            return
        self.closed = why
        if self._rooms is not None:
            self._rooms.remove(self)
        self._call(lambda: (self.hub.close(why), self._wake(), self._check_drained()))
        self.translations.close()

    def finish(self, error: str | None = None, timeout: float = 5.0) -> bool:
        """The session is over: end the room (if ``Finished`` has not) and wait until every viewer has
        read the end, at most ``timeout`` s after the translations settled. True when all have."""
        thread = self._end_soon(error)
        thread.join(self.options.settle_s + 1.0)
        done = self._loop is None or self._drained.wait(timeout)
        self.translations.close()
        return done

    @property
    def viewers(self) -> int:
        return len(self.hub.viewers)

    def _end_soon(self, error: str | None) -> threading.Thread:
        with self._lock:
            if self._ending is None:
                self._ending = threading.Thread(target=self._end, args=(error,), name="live-room-end", daemon=True)
                self._ending.start()
            return self._ending

    def _end(self, error: str | None) -> None:
        self.translations.settle(self.options.settle_s)
        self._inbox.append(Finished(None, error))
        self._kick()

    def _unavailable(self, lang: str, text: str) -> None:
        self._inbox.append(("say", lang, text))
        self._kick()

    def _kick(self) -> None:
        loop = self._loop
        if loop is None:
            return  # drained when the loop attaches
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._call(self._drain)

    def _call(self, fn: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            fn()  # no loop yet: nobody is reading, and nothing else touches the hub
            return
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop has closed: the web server is gone, nobody is reading
            log.debug("room event after the web server stopped")

    # -- the viewers' side (the web server's loop) ----------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the viewer side on ``loop`` (the web server's); events published before are drained now."""
        self._loop = loop
        with self._lock:
            self._scheduled = True
        loop.call_soon(self._drain)

    def detach(self) -> None:
        """The loop is stopping: publish goes back to holding events until another attaches."""
        self._wake()
        self._loop = None

    def _drain(self) -> None:
        with self._lock:
            self._scheduled = False
        while self._inbox:
            event = self._inbox.popleft()
            if isinstance(event, tuple):
                self.hub.say(event[2], lang=event[1])
                continue
            self.hub.publish(event)
            if isinstance(event, Caption) and event.kind == "final":
                self.translations.feed(event)
        self._wake()
        self._check_drained()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # a stream cancelled meanwhile left its own future cancelled
                waiter.set_result(None)

    def changed(self) -> asyncio.Future:
        """A future of the caller's own that completes at the next change (an event, a rotation, the end)."""
        assert self._loop is not None, "the room is not attached to a loop"
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def join(self, after: str | None, lang: str | None, *, fresh: bool, generation: int) -> Viewer:
        return self.hub.subscribe(after, lang, fresh=fresh, generation=generation)

    def leave(self, viewer: Viewer) -> None:
        self.hub.unsubscribe(viewer)
        self._check_drained()

    def _close_old(self, generation: int) -> None:
        if self.hub.close_viewers("rotated", before_generation=generation):
            self._wake()

    def _check_drained(self) -> None:
        if self.hub.ended is not None and not any(not v.done for v in self.hub.viewers):
            self._drained.set()

    def hello(self, lang: str | None, note: str | None) -> dict:
        """What a viewer is told when its stream opens."""
        return {"k": "hello", "title": self.options.title, "languages": self.translations.offered(), "lang": lang,
                "note": note, "state": "ended" if self.hub.ended is not None else "live"}


class Rooms:
    """The open rooms of one web server, found by code (hashed: a lookup's time says nothing of it)."""

    def __init__(self, rooms: Iterable[Room] = ()) -> None:
        self._lock = threading.Lock()
        self._by_hash: dict[str, Room] = {}
        for room in rooms:
            self.add(room)

    def add(self, room: Room) -> Room:
        with self._lock:
            self._by_hash[code_hash(room.code)] = room
            room._rooms = self
        return room

    def find(self, text: str) -> tuple[Room, int] | None:
        """The room whose current code ``text`` is, with the code's generation; None if none."""
        code = normalize(text)
        if code is None:
            return None
        with self._lock:
            room = self._by_hash.get(code_hash(code))
        if room is None or not hmac.compare_digest(room.code, code):
            return None
        return room, room.generation

    def rekey(self, room: Room, old: str) -> None:
        with self._lock:
            self._by_hash.pop(code_hash(old), None)
            if room.closed is None:
                self._by_hash[code_hash(room.code)] = room

    def remove(self, room: Room) -> None:
        with self._lock:
            self._by_hash.pop(code_hash(room.code), None)

    def __iter__(self):
        with self._lock:
            return iter(list(self._by_hash.values()))

    def __len__(self) -> int:
        return len(self._by_hash)
