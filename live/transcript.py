"""The session folder: what stays on disk after class.

``transcript.jsonl`` is the source of truth: each final is appended, flushed and fsynced the moment it
is final, before it is shown. ``audio.wav`` is appended as it arrives and its header is patched after
every write, so a process killed mid-write leaves a readable file. ``transcript.txt``, ``.srt`` and
``.vtt`` are rendered from the JSONL on close (and by ``render_all`` for a session that crashed).

A write that fails (full disk, folder removed) never stops the captions: the error is kept in
``SessionWriter.error`` for the UI to show, finals stay in memory, and later writes are retried.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import textwrap
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np

from live.audio import SAMPLE_RATE
from live.captions import Caption
from live.errors import SessionError
from live.files import atomic_write, read_jsonl
from live.timefmt import hms

log = logging.getLogger("live.transcript")

TRANSCRIPT = "transcript.jsonl"
AUDIO = "audio.wav"


def new_session_dir(root: Path, now: datetime | None = None) -> Path:
    """Create ``root/YYYY-MM-DD_HH-MM-SS`` (with a suffix if taken); SessionError if it can't be made."""
    stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(100):
            folder = root / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
    except OSError as exc:
        raise SessionError(
            f"cannot create a session folder in {root}: {exc.strerror or exc}; pass --session-dir DIR "
            "with a folder you can write"
        ) from None
    raise SessionError(f"too many sessions named {stamp} in {root}")


class WavAppender:
    """16-bit mono WAV that is valid after every append (the header is rewritten each time)."""

    def __init__(self, path: Path, rate: int = SAMPLE_RATE) -> None:
        self.path = path
        self.rate = rate
        self.frames = 0
        self._f = open(path, "wb")
        self._f.write(self._header(0))
        self._f.flush()

    def _header(self, data_bytes: int) -> bytes:
        return (
            b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, self.rate, self.rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes)
        )

    def append(self, samples: np.ndarray) -> None:
        pcm = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2")
        self._f.seek(0, os.SEEK_END)
        self._f.write(pcm.tobytes())
        self.frames += len(pcm)
        # Data first, then the sizes: a kill between the two loses at most this block.
        self._f.seek(4)
        self._f.write(struct.pack("<I", 36 + self.frames * 2))
        self._f.seek(40)
        self._f.write(struct.pack("<I", self.frames * 2))
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


class SessionWriter:
    """Writes one session folder. Called from the pipeline's thread only."""

    def __init__(self, folder: Path, *, meta: dict | None = None, record_audio: bool = True) -> None:
        self.folder = folder
        self.error: str | None = None
        self.finals: list[Caption] = []
        self._unwritten: list[str] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(folder / TRANSCRIPT, "a", encoding="utf-8")
            self._wav = WavAppender(folder / AUDIO) if record_audio else None
            if meta is not None:
                (folder / "session.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        except OSError as exc:
            raise SessionError(
                f"cannot write the session folder {folder}: {exc.strerror or exc}; pass --session-dir DIR "
                "with a folder you can write"
            ) from None

    @classmethod
    def create(cls, root: Path, **kwargs) -> SessionWriter:
        return cls(new_session_dir(root), **kwargs)

    def write_audio(self, samples: np.ndarray) -> None:
        if self._wav is None:
            return
        try:
            self._wav.append(samples)
        except OSError as exc:
            self._fail(exc)

    def add_final(self, caption: Caption) -> None:
        """Append a final to the JSONL and make it durable before the caller shows it."""
        self.finals.append(caption)
        self._append_line(json.dumps(caption.to_json(), ensure_ascii=False))

    def add_bookmark(self, at: float, note: str = "") -> None:
        self._append_line(json.dumps({"type": "bookmark", "at": round(at, 3), "note": note}, ensure_ascii=False))

    def _append_line(self, line: str) -> None:
        self._unwritten.append(line)
        try:
            self._jsonl.write("\n".join(self._unwritten) + "\n")
            self._jsonl.flush()
            os.fsync(self._jsonl.fileno())
            self._unwritten.clear()
            self.error = None
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        msg = f"cannot write to {self.folder}: {exc.strerror or exc}; captions are kept in memory until it can"
        if msg != self.error:
            log.error(msg)
        self.error = msg

    def close(self) -> None:
        """Finish the audio file and render the text formats from the JSONL."""
        if self._unwritten:
            self._append_line("")  # one more try for lines a full disk held back
        for f in (self._jsonl, self._wav):
            try:
                if f is not None:
                    f.close()
            except OSError as exc:
                self._fail(exc)
        try:
            render_all(self.folder)
        except OSError as exc:
            self._fail(exc)


# ---------------------------------------------------------------------------------------------------
# Rendering the transcript into text and subtitle formats


def read_entries(folder: Path) -> tuple[list[Caption], list[dict]]:
    """Finals and bookmarks from a session's JSONL, skipping a torn last line."""
    finals: list[Caption] = []
    marks: list[dict] = []
    for obj in read_jsonl(folder / TRANSCRIPT):
        if obj.get("type") == "final":
            finals.append(Caption.from_json(obj))
        elif obj.get("type") == "bookmark":
            marks.append(obj)
    return finals, marks


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _line_width(text: str) -> int:
    # CJK text has no spaces and wide glyphs: ~16 characters a line, as subtitle guides advise.
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    return 16 if cjk > len(text) / 3 else 42


def cues(finals: Iterable[Caption]) -> list[tuple[float, float, str]]:
    """Split finals into subtitle cues of at most two lines, timed in proportion to their text."""
    out: list[tuple[float, float, str]] = []
    for cap in finals:
        text = cap.text.strip()
        if not text:
            continue
        width = _line_width(text)
        if width == 42:
            lines = textwrap.wrap(text, width)
        else:
            lines = [text[i:i + width] for i in range(0, len(text), width)]
        blocks = ["\n".join(lines[i:i + 2]) for i in range(0, len(lines), 2)]
        total = sum(len(b) for b in blocks)
        t = cap.start
        for block in blocks:
            dur = (cap.end - cap.start) * len(block) / total
            out.append((t, t + dur, block))
            t += dur
    return out


def to_srt(finals: Iterable[Caption]) -> str:
    return "".join(
        f"{i}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{text}\n\n" for i, (a, b, text) in enumerate(cues(finals), 1)
    )


def to_vtt(finals: Iterable[Caption]) -> str:
    body = "".join(f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{text}\n\n" for a, b, text in cues(finals))
    return "WEBVTT\n\n" + body


def to_txt(finals: Iterable[Caption], bookmarks: Iterable[dict] = ()) -> str:
    rows = [(c.start, f"[{hms(c.start)}] {c.text}") for c in finals if c.text.strip()]
    rows += [(b["at"], f"[{hms(b['at'])}] ★ bookmark {b.get('note', '')}".rstrip()) for b in bookmarks]
    return "".join(line + "\n" for _, line in sorted(rows, key=lambda r: r[0]))


def render_all(folder: Path) -> None:
    """(Re)write transcript.txt/.srt/.vtt from transcript.jsonl, e.g. after a crash."""
    finals, marks = read_entries(folder)
    for name, text in (
        ("transcript.txt", to_txt(finals, marks)),
        ("transcript.srt", to_srt(finals)),
        ("transcript.vtt", to_vtt(finals)),
    ):
        atomic_write(folder / name, text, durable=False)
