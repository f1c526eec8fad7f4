"""Media files through PyAV (FFmpeg): decoded whole, or replayed block by block as an `AudioSource`.

PyAV is imported only when a file is opened, so the tests and commands that never read media do not
load FFmpeg.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from live.audio.source import SAMPLE_RATE, AudioSource, EndOfStream
from live.errors import InputError

# One logger for the whole audio stage: `live transcribe` holds its warnings by this name.
logger = logging.getLogger("live.audio")

FILE_BLOCK_SECONDS = 0.1


def check_media_path(path: Path, flag: str | None = "--input") -> None:
    """The checks that need no decoder, each a line that says what to do; ``flag`` names the option
    the path came from (None: a command's file arguments)."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path" + (f" given to {flag}" if flag else ""))
    if path.is_dir():
        raise InputError(f"{path} is a folder; " + (f"give an audio or video file to {flag}" if flag
                                                    else f"give audio or video files (e.g. {path}/*.mp4)"))
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); give a recording with sound in it")


def _open_media(path: Path) -> tuple[Any, Any]:
    """Open ``path`` with FFmpeg and pick its first audio track; InputError if that is impossible."""
    check_media_path(path)
    import av

    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(
            f"{path} is not an audio or video file FFmpeg can read ({reason}); convert it or give another file"
        ) from exc
    if not container.streams.audio:
        container.close()
        raise InputError(f"{path} has no audio track; give a file with sound in it")
    return container, container.streams.audio[0]


def check_media(path: Path) -> None:
    """FFmpeg opens ``path`` and finds an audio track in it (its headers only: milliseconds); the
    InputError a decode would raise, before anything slow (a model) is started for the file."""
    container, _stream = _open_media(path)
    container.close()


def _decode(container: Any, stream: Any, path: Path) -> Iterator[np.ndarray]:
    """Yield the track as 16 kHz mono float32 chunks of whatever size the decoder gives.

    A file that fails part-way (truncated download, damaged sector) ends where it breaks, with a
    warning: the audio before the damage is still worth captioning. One that fails before any audio
    raises InputError.
    """
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    produced = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    produced += chunk.size
                    yield chunk
        for out in resampler.resample(None):
            chunk = out.to_ndarray().reshape(-1)
            produced += chunk.size
            yield chunk
    except av.error.FFmpegError as exc:
        reason = exc.strerror or str(exc)
        if produced == 0:
            raise InputError(
                f"{path} could not be decoded ({reason}); the file is damaged or not audio, give another file"
            ) from exc
        logger.warning("%s: decoding stopped at %.1f s: %s", path, produced / SAMPLE_RATE, reason)
    if produced == 0:
        raise InputError(f"{path} contains no decodable audio; give a recording with sound in it")


def decode_file(path: str | Path) -> np.ndarray:
    """The first audio track of any file FFmpeg reads, as one 16 kHz mono float32 array."""
    path = Path(path)
    container, stream = _open_media(path)
    try:
        chunks = list(_decode(container, stream, path))
    finally:
        container.close()
    return np.concatenate(chunks).astype(np.float32, copy=False)


def media_duration(path: str | Path) -> float | None:
    """The length the file states for its first audio track (else the container's), in seconds."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000  # av.time_base: microseconds
    except (av.error.FFmpegError, OSError):
        return None  # the real open, later, says what is wrong
    return None


class FileSource(AudioSource):
    """A recording replayed in 100 ms blocks, either paced like a microphone or as fast as read.

    Decoding streams alongside reading, so an hour-long lecture never sits in memory whole. With
    ``realtime=True`` a block is released once the wall clock has passed its last sample (as a
    microphone would deliver it), measured from `start` so that pacing never drifts.
    """

    def __init__(
        self, path: str | Path, realtime: bool = True, block_seconds: float = FILE_BLOCK_SECONDS,
        start_s: float = 0.0,
    ) -> None:
        """``start_s``: begin this far into the file (e.g. to continue a replay that stopped)."""
        super().__init__()
        self.path = Path(path)
        self.realtime = realtime
        self.start_s = max(0.0, start_s)
        self._block = max(1, int(round(block_seconds * SAMPLE_RATE)))
        self._container: Any = None
        self._chunks: Iterator[np.ndarray] | None = None
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        self._exhausted = False
        self._next: np.ndarray | None = None
        self._t0 = 0.0
        self._stopped = threading.Event()

    @property
    def description(self) -> str:
        return f"file: {self.path.name}"

    @property
    def waiting(self) -> bool:
        """True when `read` would hand out a block at once.

        Paced, that is once the wall clock has passed the next block's last sample; as fast as read,
        until the decoder has reached the end of the file. Neither decodes ahead to find out, so a
        file's last block may read False (paced) or True (fast) a moment longer than it should.
        """
        if self._chunks is None or self._stopped.is_set():
            return False
        if self._next is not None:
            size = self._next.size
        elif self._exhausted:
            size = min(self._pending_size, self._block)
        else:
            size = self._block  # the decoder has more: a full block unless the file ends inside it
        if size == 0:
            return False
        if not self.realtime:
            return True
        return time.monotonic() >= self._t0 + (self._samples_delivered + size) / SAMPLE_RATE

    def start(self) -> None:
        if self._container is not None:
            return
        self._container, stream = _open_media(self.path)
        self._chunks = _decode(self._container, stream, self.path)
        self._stopped.clear()
        try:
            self._skip(int(round(self.start_s * SAMPLE_RATE)))
            # Decode the first block now so a damaged or silent file fails here, not mid-session.
            self._next = self._take_block()
            if self._next is None and self.start_s:
                raise InputError(f"--start {self.start_s:g} is past the end of {self.path}; give an earlier time")
        except BaseException:
            self.stop()
            raise
        self._t0 = time.monotonic()

    def _skip(self, samples: int) -> None:
        """Decode and drop the first ``samples`` (exact, unlike a container seek to a keyframe)."""
        assert self._chunks is not None
        while samples > 0:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._exhausted = True
                return
            if chunk.size > samples:
                self._pending, self._pending_size = [chunk[samples:]], chunk.size - samples
                return
            samples -= chunk.size

    def _take_block(self) -> np.ndarray | None:
        assert self._chunks is not None
        while self._pending_size < self._block and not self._exhausted:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._exhausted = True
            elif chunk.size:
                self._pending.append(chunk)
                self._pending_size += chunk.size
        if self._pending_size == 0:
            return None
        joined = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        block = np.array(joined[: self._block], dtype=np.float32)
        rest = joined[self._block:]
        self._pending = [rest] if rest.size else []
        self._pending_size = rest.size
        return block

    def read(self, timeout: float) -> np.ndarray | None:
        if self._stopped.is_set():
            raise EndOfStream
        if self._chunks is None:
            raise RuntimeError("FileSource.read() before start()")
        if self._next is None:
            self._next = self._take_block()
            if self._next is None:
                raise EndOfStream
        block = self._next
        if self.realtime:
            due = self._t0 + (self._samples_delivered + block.size) / SAMPLE_RATE
            wait = due - time.monotonic()
            if wait > timeout:
                if self._stopped.wait(max(timeout, 0.0)):
                    raise EndOfStream
                return None
            if wait > 0 and self._stopped.wait(wait):
                raise EndOfStream
        self._next = None
        self._samples_delivered += block.size
        return block

    def stop(self) -> None:
        self._stopped.set()
        container, self._container = self._container, None
        if container is not None:
            container.close()
