"""The room's process (``python -m live.room.child``), started by ``live.room.process.SharedRoom``: it
connects back to the sharer, serves the room (``live.room.share.ShareServer``) at a lower priority,
takes events and commands from the connection until told to finish, and sends back its port, how
many watch, notices and its log records. If the sharer goes away, it closes the room and exits.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from live.errors import LiveError
from live.room.room import RoomOptions
from live.room.share import ShareOptions

if TYPE_CHECKING:
    from live.llm import LLMSettings

log = logging.getLogger("live.room")

CHILD_NICE = 5  # the captions first: the kernel gives the viewers' side what the sharer leaves


@dataclass
class ChildSpec:
    """What the room's process is started with (it is pickled across)."""

    code: str
    share: ShareOptions
    room: RoomOptions
    llm: LLMSettings | None = None  # how translations reach the LLM (its key is read in the child)
    terms: tuple[str, ...] = ()
    provided: str | None = None  # the session's own --translate language
    nice: int = CHILD_NICE


class _Forward(logging.Handler):
    """The child's log records, sent to the parent to be logged there."""

    def __init__(self, send: Callable[[tuple], None]) -> None:
        super().__init__(logging.INFO)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self._send(("log", record.levelno, record.name, text))
        except Exception:  # a record that cannot be sent goes to stderr (the parent logs that), never up
            self.handleError(record)


def child_main(conn, spec: ChildSpec) -> None:
    """The room's process: serve the room, take events and commands from the pipe until told to stop."""
    from live.errors import ConfigError
    from live.room.room import Room
    from live.room.share import ShareServer

    lock = threading.Lock()

    def send(message: tuple) -> None:
        with lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                pass

    _quiet(spec.nice, send)
    make = None
    if spec.llm is not None:
        from live.translate import translator_for

        def make(lang: str):
            return translator_for(spec.llm, lang, terms=spec.terms)

    room = Room(spec.room, make_translator=make, provided=spec.provided, code=spec.code,
                notify=lambda notice: send(("notice", notice)))
    server = ShareServer(room, spec.share)
    try:
        server.start()
    except (ConfigError, LiveError) as exc:
        send(("failed", (type(exc).__name__, str(exc))))
        return
    send(("started", server.port))
    stop = threading.Event()
    threading.Thread(target=_count_viewers, args=(room, send, stop), daemon=True).start()
    try:
        while True:
            message = conn.recv()
            kind = message[0]
            if kind == "events":
                for event in message[1]:
                    room.publish(event)
            elif kind == "rotate":
                room.rotate(message[1])
            elif kind == "close":
                room.close(message[1])
            elif kind == "finish":
                send(("finished", server.close(message[1], timeout=message[2])))
                return
    except (EOFError, OSError):
        log.warning("room: the sharer went away; closing the room")
        room.close()
        server.stop()
    finally:
        stop.set()


def _quiet(nice: int, send: Callable[[tuple], None]) -> None:
    """Lower this process's priority and send its log to the parent."""
    try:
        os.nice(nice)
    except (AttributeError, OSError):
        pass  # not on this system: the room still works
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_Forward(send))
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)


def main() -> None:
    """``python -m live.room.child``: connect back to the sharer (address and key on stdin), serve."""
    import pickle
    import sys
    from multiprocessing.connection import Client

    address, authkey = pickle.loads(sys.stdin.buffer.read())
    conn = Client(address, authkey=authkey)
    spec = conn.recv()
    child_main(conn, spec)


def _count_viewers(room, send: Callable[[tuple], None], stop: threading.Event) -> None:
    said = -1
    while not stop.wait(1.0):
        if room.viewers != said:
            said = room.viewers
            send(("viewers", said))


if __name__ == "__main__":
    main()
