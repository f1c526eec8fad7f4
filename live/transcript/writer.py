"""The session folder as it is written: what stays on disk after class.

``transcript.jsonl`` is the source of truth: each final is appended, flushed and fsynced the moment it
is final, before it is shown. ``audio.wav`` is appended as it arrives and its header is patched after
every write, so a process killed mid-write leaves a readable file. ``transcript.txt``, ``.srt`` and
``.vtt`` grow with it, a final's lines appended as it is saved (a closed window or a crash leaves them
as far as the JSONL), and are rendered again from the JSONL on close (``live.transcript.render``).

A write that fails (full disk, folder removed) never stops the captions: the error is kept in
``SessionWriter.error`` for the UI to show, finals stay in memory, and later writes are retried.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from live.audio import SAMPLE_RATE
from live.captions import Caption
from live.errors import SessionError
from live.events import Marker
from live.transcript.render import caption_line, mark_line, render_all, srt_cues, vtt_cues
from live.transcript.schema import AUDIO, TRANSCRIPT, parse_line, read_lines

log = logging.getLogger("live.transcript")


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
            "with a folder you can write", exc.errno
        ) from None
    raise SessionError(f"too many sessions named {stamp} in {root}")


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class WavAppender:
    """16-bit mono WAV that is valid after every append (the header is rewritten each time).

    Samples are written at the offset the header accounts for, so a write that fails half-way (a full
    disk) is simply written over by the next one: the file never holds a torn block inside its data.
    """

    HEADER = 44

    def __init__(self, path: Path, rate: int = SAMPLE_RATE, *, append: bool = False) -> None:
        self.path = path
        self.rate = rate
        self.frames = 0
        if append and path.exists():
            self.frames = wav_frames(path, rate)  # SessionError unless it is a recording of ours
            self._fd = os.open(path, os.O_RDWR)
            return
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        _pwrite_all(self._fd, self._header(0), 0)

    def _header(self, data_bytes: int) -> bytes:
        return (
            b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, self.rate, self.rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes)
        )

    def append(self, samples: np.ndarray) -> None:
        pcm = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2")
        _pwrite_all(self._fd, pcm.tobytes(), self.HEADER + self.frames * 2)
        self.frames += len(pcm)
        # Data first, then the sizes: a kill between the two loses at most this block.
        os.pwrite(self._fd, struct.pack("<I", 36 + self.frames * 2), 4)
        os.pwrite(self._fd, struct.pack("<I", self.frames * 2), 40)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.ftruncate(fd, self.HEADER + self.frames * 2)  # a block that failed half-way
            finally:
                os.close(fd)


def wav_frames(path: Path, rate: int = SAMPLE_RATE) -> int:
    """Samples in a session's audio.wav by its header (a block torn by a crash after it is not counted);
    SessionError if the file is not the 16-bit mono recording a session writes."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(WavAppender.HEADER)
    except OSError as exc:
        raise SessionError(f"cannot read {path}: {exc.strerror or exc}") from None
    ok = (len(header) == WavAppender.HEADER and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
          and struct.unpack("<IHHIIHH", header[16:36]) == (16, 1, 1, rate, rate * 2, 2, 16) and header[36:40] == b"data")
    if not ok:
        raise SessionError(f"{path} is not a recording made by live; move it away to continue the session, "
                           "or continue with --no-audio")
    return struct.unpack("<I", header[40:44])[0] // 2


@dataclass(frozen=True)
class ResumePoint:
    """Where a saved session stopped: the clock it had reached, the next segment index, what it holds."""

    clock: float
    next_index: int
    finals: int
    stopped_at: float  # wall time (epoch seconds) of its last write


def resume_point(folder: Path) -> ResumePoint:
    """Read a saved session to continue it; SessionError (one line) if it is not a session folder."""
    jsonl, audio = folder / TRANSCRIPT, folder / AUDIO
    if not folder.is_dir() or not (jsonl.exists() or audio.exists()):
        raise SessionError(f"{folder} is not a session folder (no {TRANSCRIPT}); give a folder from `live sessions`")
    end, index, finals = 0.0, -1, 0
    for line in read_lines(jsonl):
        if isinstance(line, Caption):
            end, index, finals = max(end, line.end), max(index, line.index), finals + 1
        elif isinstance(line, Marker):
            end = max(end, line.at)
    if audio.exists():
        end = max(end, wav_frames(audio) / SAMPLE_RATE)
    stopped = max((p.stat().st_mtime for p in (jsonl, audio) if p.exists()), default=0.0)
    return ResumePoint(clock=end, next_index=index + 1, finals=finals, stopped_at=stopped)


class SessionWriter:
    """Writes one session folder. Called from the session's worker thread only.

    ``transcript.jsonl`` is appended through its file descriptor: the size after the last durable
    write is remembered, and a write that failed (a full disk) is cut back to it before the lines it
    held are written again, so every line lands exactly once, in order.
    """

    def __init__(self, folder: Path, *, meta: dict | None = None, record_audio: bool = True,
                 resume: bool = False) -> None:
        """``resume``: continue a saved session — lines and audio are appended (a line torn by a
        crash is dropped first)."""
        self.folder = folder
        self.error: str | None = None
        self._unwritten: list[str] = []
        self._lost_audio = 0  # samples a full disk kept out of audio.wav, written as silence later
        self._failing: set[str] = set()  # "audio", "lines": what cannot be written right now
        self._reason = ""  # why the last write failed
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(folder / TRANSCRIPT, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._good = _drop_torn_line(self._fd, folder / TRANSCRIPT)
            self._wav = WavAppender(folder / AUDIO, append=resume) if record_audio else None
            self._texts = _TextFiles(folder, resume=resume)
            if meta is not None:
                (folder / "session.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        except OSError as exc:
            raise SessionError(
                f"cannot write the session folder {folder}: {exc.strerror or exc}; pass --session-dir DIR "
                "with a folder you can write", exc.errno
            ) from None

    @property
    def records_audio(self) -> bool:
        return self._wav is not None

    @classmethod
    def create(cls, root: Path, **kwargs) -> SessionWriter:
        return cls(new_session_dir(root), **kwargs)

    def write_audio(self, samples: np.ndarray) -> None:
        if self._wav is not None:
            try:
                if self._lost_audio:  # keep the file on the session's clock across the outage
                    self._wav.append(np.zeros(self._lost_audio, np.float32))
                    self._lost_audio = 0
                self._wav.append(samples)
            except OSError as exc:
                self._lost_audio += len(samples)
                self._fail("audio", exc)
            else:
                self._ok("audio")
        if self._unwritten:  # audio arrives all the time: the moment to try held-back lines again
            self._flush_lines()

    def add_final(self, caption: Caption) -> None:
        """Append a final to the JSONL and make it durable before the caller shows it; then its lines
        to the text and subtitle files."""
        self.add_entry(caption.to_json(), text=False)
        if not self._unwritten:
            self._texts.final(caption)

    def add_entry(self, entry: dict, *, text: bool = True) -> None:
        """Append one JSON line (a final, a bookmark, a marker) and make it durable."""
        self._unwritten.append(json.dumps(entry, ensure_ascii=False))
        self._flush_lines()
        if text and not self._unwritten and isinstance(line := parse_line(entry), Marker):
            self._texts.mark(line)

    def _flush_lines(self) -> None:
        data = ("\n".join(self._unwritten) + "\n").encode("utf-8")
        try:
            if os.fstat(self._fd).st_size != self._good:
                os.ftruncate(self._fd, self._good)  # what a failed write left behind
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:
            self._fail("lines", exc)
            try:
                os.ftruncate(self._fd, self._good)  # no torn line left behind, should this be the last try
            except OSError:
                pass  # cut at the next try
            return
        self._good += len(data)
        self._unwritten.clear()
        self._ok("lines")

    def _fail(self, what: str, exc: OSError) -> None:
        self._failing.add(what)
        self._reason = exc.strerror or str(exc)
        msg = f"cannot write to {self.folder}: {self._reason}; captions are kept in memory until it can"
        if self._wav is not None:
            msg += " (the audio meanwhile is kept as silence)"
        self._say(msg)

    def _say(self, msg: str) -> None:
        if msg != self.error:
            log.error(msg)
        self.error = msg

    def _ok(self, what: str) -> None:
        self._failing.discard(what)
        if not self._failing:
            self.error = None

    def close(self) -> None:
        """Finish the audio file and render the text formats from the JSONL. What could not be saved
        in the end is said in ``error``."""
        if self._unwritten:
            self._flush_lines()  # one more try for lines a full disk held back
        for close in (lambda: os.close(self._fd), self._wav.close if self._wav else None):
            try:
                if close is not None:
                    close()
            except OSError as exc:
                self._fail("close", exc)
        if self._unwritten:
            self._say(f"cannot write to {self.folder}: {self._reason}; the last {len(self._unwritten)} lines of "
                      "its transcript could not be saved")
        try:
            render_all(self.folder)
        except (OSError, SessionError) as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            if not self._unwritten:
                self._say(f"cannot write the transcript's text files in {self.folder}: {reason}; {TRANSCRIPT} "
                          "has every caption")


def _drop_torn_line(fd: int, path: Path) -> int:
    """Cut a last line that a crash left without its newline (it was never shown: a line is shown
    only once it is durable); returns the size the file keeps."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
    keep = max(0, size - len(tail)) + tail.rfind(b"\n") + 1
    os.ftruncate(fd, keep)
    log.warning("%s: dropped a last line torn by a crash (%d bytes)", path, size - keep)
    return keep


class _TextFiles:
    """transcript.txt, .srt and .vtt kept as far as the JSONL: each final's lines appended as it is saved.
    Best effort (the JSONL is the record, and close renders all three again); never a reason to stop."""

    def __init__(self, folder: Path, *, resume: bool) -> None:
        self.folder = folder
        self.cues = 0
        if resume:
            render_all(folder)  # as far as the JSONL, whatever a crash left
            srt = folder / "transcript.srt"
            self.cues = srt.read_text(encoding="utf-8").count(" --> ") if srt.exists() else 0
        else:
            for name, head in (("transcript.txt", ""), ("transcript.srt", ""), ("transcript.vtt", "WEBVTT\n\n")):
                (folder / name).write_text(head, encoding="utf-8")

    def final(self, caption: Caption) -> None:
        if not caption.text.strip():
            return
        srt = srt_cues([caption], self.cues + 1)
        self._append("transcript.txt", caption_line(caption) + "\n")
        if self._append("transcript.srt", srt):
            self.cues += srt.count(" --> ")
        self._append("transcript.vtt", vtt_cues([caption]))

    def mark(self, marker: Marker) -> None:
        self._append("transcript.txt", mark_line(marker) + "\n")

    def _append(self, name: str, text: str) -> bool:
        try:
            with open(self.folder / name, "a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            log.debug("%s not appended (%s); rendered again on close", name, exc)
            return False
        return True
