"""The server's side of each stream's session folder, and resuming a session after a dropped
connection or a server restart.

Each stream gets ``<data dir>/streams/<session_id>/``: the session core writes its
``transcript.jsonl`` (and the rendered .txt/.srt/.vtt) there, as a local run does; the audio stays
on the client. ``session.json`` names the key that owns it. A resume (``start`` with ``session_id``
and ``resume_from``) finds the folder again, in this process or after a restart, keeps the finals
that end by ``resume_from`` (the client has those), drops any the client never got (their audio is
sent again), and continues the session's clock and caption indices from there.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from live.captions import Caption
from live.events import Marker
from live.files import atomic_write
from live.transcript import TRANSCRIPT, Line, read_lines
from live.wire.protocol import ProtocolError, Start

log = logging.getLogger("live.serve")

EPSILON_S = 0.0005  # times travel rounded to the millisecond


class Active(Protocol):
    """A stream in progress, as the session registry sees it."""

    key_id: str

    async def supersede(self) -> None:
        """Close this connection (its session was resumed elsewhere) and wait until its worker is done."""


@dataclass(frozen=True)
class Opened:
    session_id: str
    folder: Path
    clock: float  # where the session's clock continues (0 for a new session)
    next_index: int
    resumed: bool
    resumes: int = 0


class StreamSessions:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "streams"
        self._active: dict[str, Active] = {}
        self._lock = threading.Lock()

    def active(self, session_id: str) -> Active | None:
        with self._lock:
            return self._active.get(session_id)

    def register(self, session_id: str, stream: Active) -> None:
        with self._lock:
            self._active[session_id] = stream

    def unregister(self, session_id: str, stream: Active) -> None:
        with self._lock:
            if self._active.get(session_id) is stream:
                del self._active[session_id]

    def open(self, key_id: str, start: Start) -> Opened:
        """A new session folder, or the one ``start`` resumes (after its old connection has ended).
        ProtocolError ``unknown_session`` when there is none for this key. Blocking file work."""
        if start.session_id is None:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            while True:
                session_id = secrets.token_urlsafe(12)
                folder = self.root / session_id
                try:
                    folder.mkdir(mode=0o700)  # a lecture is its key holder's alone
                    break
                except FileExistsError:
                    continue
            return Opened(session_id, folder, start.resume_from, start.next_index, resumed=False)
        folder = self.root / start.session_id
        meta = _meta(folder)
        if meta.get("key_id") != key_id:
            # Someone else's session reads the same as none at all.
            raise ProtocolError("unknown_session", "no such session on this server (it may have been removed); "
                                                   "start a new one")
        kept_index = truncate_after(folder, start.resume_from)
        return Opened(start.session_id, folder, start.resume_from, max(start.next_index, kept_index + 1),
                      resumed=True, resumes=int(meta.get("resumes", 0)) + 1)


def _meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "session.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def truncate_after(folder: Path, resume_from: float) -> int:
    """Keep the transcript lines up to ``resume_from`` (a final by its end, a marker by its moment, a
    translation or speaker label with its final); the highest final index kept (-1: none)."""
    path = folder / TRANSCRIPT
    kept: list[Line] = []
    finals: set[int] = set()
    dropped = 0
    for line in read_lines(path):
        if isinstance(line, Caption):
            keep = line.end <= resume_from + EPSILON_S
            if keep:
                finals.add(line.index)
        elif isinstance(line, Marker):
            keep = line.at <= resume_from + EPSILON_S
        else:
            keep = line.index in finals
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        log.info("resume at %.3f s: %d transcript lines after it dropped (their audio is sent again)",
                 resume_from, dropped)
    if path.exists():
        atomic_write(path, "".join(json.dumps(line.to_json(), ensure_ascii=False) + "\n" for line in kept))
    return max(finals, default=-1)
