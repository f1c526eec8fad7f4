"""What the library reads from disk: which folders under a session root are sessions, whether one
changed since it was indexed, and what it holds.

A session is a folder directly under the root (not hidden) holding a ``transcript.jsonl``: the
``YYYY-MM-DD_HH-MM-SS`` folders of live sessions, and any ``live transcribe`` output put there. Nothing
here writes, so reading a session while a live one appends to it is safe: the lines there now are read,
a torn last line is skipped, and the next search sees the file has grown.
"""

from __future__ import annotations

import json
import os
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from live.captions import Caption
from live.transcript import AUDIO, TRANSCRIPT, read_lines

SESSION_META = "session.json"
NOTES = "summary.md"
FOLDER_STAMP = "%Y-%m-%d_%H-%M-%S"
FIRST_WORDS_CHARS = 240


@dataclass(frozen=True)
class Stamp:
    """What tells an indexed session from a changed one.

    Attributes:
        size: transcript.jsonl's size in bytes.
        mtime_ns: its modification time.
        meta_mtime_ns: session.json's modification time (0 when there is none).
    """

    size: int
    mtime_ns: int
    meta_mtime_ns: int


@dataclass(frozen=True)
class Final:
    """One final caption as the index keeps it.

    Attributes:
        start: seconds into the session where it begins.
        end: where it ends.
        text: the caption.
        index: its segment number in the session.
    """

    start: float
    end: float
    text: str
    index: int


@dataclass(frozen=True)
class SessionRead:
    """A session folder read once, for the index.

    Attributes:
        finals: its final captions, in file order.
        started: when it began (session.json, else the folder's name), None when unknown.
    """

    finals: list[Final]
    started: datetime | None

    @property
    def last_end(self) -> float:
        return max((f.end for f in self.finals), default=0.0)

    @property
    def first_words(self) -> str:
        words, size = [], 0
        for final in self.finals:
            if size >= FIRST_WORDS_CHARS:
                break
            words.append(final.text)
            size += len(final.text) + 1
        return " ".join(" ".join(words).split())[:FIRST_WORDS_CHARS]


def scan(root: Path) -> dict[str, Stamp]:
    """The sessions directly under ``root``, by folder name. Folders that vanish mid-scan are left out."""
    found: dict[str, Stamp] = {}
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                st = os.stat(os.path.join(entry.path, TRANSCRIPT))
            except OSError:
                continue  # not a session (or deleted just now)
            try:
                meta_mtime = os.stat(os.path.join(entry.path, SESSION_META)).st_mtime_ns
            except OSError:
                meta_mtime = 0
            found[entry.name] = Stamp(st.st_size, st.st_mtime_ns, meta_mtime)
    return found


def read_session(folder: Path) -> SessionRead:
    """The finals of ``folder``'s transcript (other line types, and lines that are not a final's
    shape, are skipped) and when it started."""
    return SessionRead(list(_finals(folder / TRANSCRIPT)), started(folder))


def _finals(path: Path) -> Iterator[Final]:
    for line in read_lines(path):
        if isinstance(line, Caption) and line.text.strip():
            yield Final(line.start, max(line.start, line.end), line.text, line.index)


def started(folder: Path) -> datetime | None:
    """session.json's ``started``, else the time in a ``YYYY-MM-DD_HH-MM-SS`` folder name."""
    try:
        meta = json.loads((folder / SESSION_META).read_text(encoding="utf-8"))
        return datetime.fromisoformat(meta["started"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    try:
        return datetime.strptime(folder.name[:19], FOLDER_STAMP)
    except ValueError:
        return None


def audio_seconds(folder: Path) -> float | None:
    """The length of the session's audio.wav (its header is kept valid while it grows), or None."""
    try:
        with wave.open(str(folder / AUDIO), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (OSError, EOFError, wave.Error, ZeroDivisionError):
        return None


def has_notes(folder: Path) -> bool:
    try:
        return (folder / NOTES).stat().st_size > 0
    except OSError:
        return False
