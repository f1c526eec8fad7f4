"""``live --share``: the room served by a process of its own, so its viewers can never hold up the sharer.

Writing each caption to hundreds of sockets costs CPU and, inside one Python process, the GIL: the
sharer's worker would wait on it while the web server fans an event out (measured with 500 viewers on
2 cores: a ``publish`` on the session's thread held up to 141 ms, see benchmarks/room.py). So the
front end holds a ``SharedRoom``: ``publish`` puts the event on a queue and returns; one thread sends
what is queued down a pipe in batches; the child process (``live.room.child``) runs the room at a
lower priority and answers with its port, how many watch, notices (a translation that stopped) and
its log records, which the parent logs as its own (so they reach the session's live.log, never the
TUI's screen). If the child dies, the parent says so once and the lecture goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from live.errors import LiveError
from live.events import Notice
from live.room.child import ChildSpec
from live.room.codes import new_code, pretty
from live.room.room import RoomOptions
from live.room.share import ShareOptions

if TYPE_CHECKING:
    from live.llm import LLMSettings

log = logging.getLogger("live.room")

class SharedRoom:
    """The front end's handle on a room in its own process.

    ``start`` returns the viewer URL (or raises ``LiveError``/``ConfigError`` in one line);
    ``publish`` from any thread returns at once; ``rotate`` gives the new URL; ``close`` shuts the
    room; ``finish`` ends it when the session is over (every final reaches the viewers first) and
    stops the process. ``notify`` gets notices for the sharer (from a thread of this object's)."""

    def __init__(self, share: ShareOptions | None = None, room: RoomOptions | None = None, *,
                 llm: LLMSettings | None = None, terms: Sequence[str] = (), provided: str | None = None,
                 notify: Callable[[Notice], None] | None = None) -> None:
        self.spec = ChildSpec(new_code(), share or ShareOptions(), room or RoomOptions(), llm, tuple(terms), provided)
        self.notify = notify
        self.port: int | None = None
        self.viewers = 0
        self.dead: str | None = None  # why the room's process is gone, if it is
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._conn = None
        self._process = None
        self._replies: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._finishing = False

    # -- what the front end shows -------------------------------------------------------------

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def pretty_code(self) -> str:
        return pretty(self.spec.code)

    @property
    def base_url(self) -> str:
        from live.room.share import base_url

        return base_url(self.spec.share, self.port)

    @property
    def url(self) -> str:
        return f"{self.base_url}/r/{self.spec.code}"

    # -- life ---------------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> str:
        """Start the room's process and wait until it serves; the viewer URL."""
        self._process = _spawn()
        self._conn = self._process.connect(timeout)
        if self._conn is None:
            self._kill()
            raise LiveError(f"the room's web server did not start within {timeout:g} s (see the log)")
        self._conn.send(self.spec)
        reader = threading.Thread(target=self._read, name="live-room-reader", daemon=True)
        reader.start()
        try:
            kind, value = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._kill()
            raise LiveError(f"the room's web server did not start within {timeout:g} s") from None
        if kind != "started":
            self._kill()
            raise_error(value)
        self.port = value
        sender = threading.Thread(target=self._send_loop, name="live-room-sender", daemon=True)
        sender.start()
        self._threads = [reader, sender]
        return self.url

    def publish(self, event: object) -> None:
        """Hand a session event to the room; returns at once, whatever the viewers do."""
        if self.dead is None:
            self._queue.put(event)

    def rotate(self) -> str:
        """A new code: the old link stops working and its viewers are disconnected. The new URL."""
        self.spec.code = new_code()
        self._queue.put(("rotate", self.spec.code))
        return self.url

    def close(self, why: str = "closed") -> None:
        """Close the room now (viewers are told); the session goes on unshared."""
        self._queue.put(("close", why))

    def finish(self, error: str | None = None, timeout: float = 5.0) -> bool:
        """The session is over: every viewer gets what is left and the end, then the process stops.
        True when every viewer had the end within ``timeout`` (after translations settled)."""
        if self._process is None:
            return True
        self._finishing = True
        delivered = False
        if self.dead is None:
            self._queue.put(("finish", error, timeout))
            try:
                kind, value = self._replies.get(timeout=timeout + self.spec.room.settle_s + 5.0)
                delivered = kind == "finished" and bool(value)
            except queue.Empty:
                log.warning("room: the web server did not finish in time; stopped")
        self._queue.put(None)
        if self._process is not None and not self._process.wait(5.0):
            self._kill()
        for thread in self._threads:
            thread.join(2.0)
        self._process = None
        return delivered

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process = None  # nothing left to finish

    # -- the two threads ----------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while True:  # whatever else is queued goes in the same message
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events: list[object] = []
            try:
                for item in batch:  # in order: events in runs, a command where it was given
                    if item is None or isinstance(item, tuple):
                        if events:
                            self._conn.send(("events", events))
                            events = []
                        if item is None:
                            return
                        self._conn.send(item)
                    else:
                        events.append(item)
                if events:
                    self._conn.send(("events", events))
            except (OSError, ValueError):
                return  # the process is gone: the reader says so

    def _read(self) -> None:
        try:
            while True:
                message = self._conn.recv()
                kind = message[0]
                if kind in ("started", "failed", "finished"):
                    self._replies.put((kind, message[1]))
                elif kind == "viewers":
                    self.viewers = message[1]
                elif kind == "notice":
                    self._tell(message[1])
                elif kind == "log":
                    logging.getLogger(message[2]).log(message[1], "%s", message[3])
        except (EOFError, OSError):
            pass
        if not self._finishing and self.port is not None:
            code = self._process.exitcode() if self._process is not None and self._process.wait(1.0) else None
            self.dead = f"the room's web server stopped (exit {code}); the captions go on here"
            log.warning("room: %s", self.dead)
            self._tell(Notice("warning", self.dead))
        self._replies.put(("failed", "the room's process ended"))

    def _tell(self, notice: Notice) -> None:
        if self.notify is None:
            return
        try:
            self.notify(notice)
        except Exception:  # the front end's bug must not stop the room's reader; the log keeps it
            log.exception("a front end failed on a room notice")


def raise_error(value: tuple[str, str]) -> None:
    from live.errors import ConfigError

    kind, message = value if isinstance(value, tuple) else ("LiveError", str(value))
    raise (ConfigError if kind == "ConfigError" else LiveError)(message)


class _Child:
    """The room's process: ``python -m live.room.child``, connected back over an authenticated
    loopback connection (no fork of a process that holds threads and models, no re-import of the
    caller's main module). Its stderr goes to the log, never to the terminal."""

    def __init__(self) -> None:
        import pickle
        import secrets
        import subprocess
        import sys
        from multiprocessing.connection import Listener

        self._authkey = secrets.token_bytes(32)
        self._listener = Listener(("127.0.0.1", 0), authkey=self._authkey)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.popen = subprocess.Popen([sys.executable, "-m", "live.room.child"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.popen.stdin.write(pickle.dumps((self._listener.address, self._authkey)))
        self.popen.stdin.close()
        threading.Thread(target=self._stderr, name="live-room-stderr", daemon=True).start()

    def connect(self, timeout: float):
        """The child's connection once it has called back; None if it did not within ``timeout``."""
        got: list = []

        def accept() -> None:
            try:
                got.append(self._listener.accept())
            except (OSError, EOFError, multiprocessing.AuthenticationError):
                pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        thread.join(timeout)
        self._listener.close()
        return got[0] if got else None

    def _stderr(self) -> None:
        for line in self.popen.stderr:
            log.warning("room process: %s", line.decode(errors="replace").rstrip())

    def wait(self, timeout: float) -> bool:
        import subprocess

        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        self.popen.kill()
        self.wait(2.0)

    def exitcode(self) -> int | None:
        return self.popen.poll()


def _spawn() -> _Child:
    return _Child()
