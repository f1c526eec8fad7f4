"""The contract every audio source keeps, and the constants the rest of live measures audio by.

The pipeline reads any source the same way, so it cannot tell a live microphone from a recording
replayed in real time.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

SAMPLE_RATE = 16000  # what every source hands out, and what the VAD and engines take
SILENCE_DBFS = -100.0


class EndOfStream(Exception):
    """A finite source is exhausted and drained (not an error: the session simply ends)."""


def rms_dbfs(samples: np.ndarray) -> float:
    """Level of ``samples`` in dB relative to full scale (1.0); -100 for silence or no samples."""
    if samples.size == 0:
        return SILENCE_DBFS
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    if power <= 1e-10:  # below -100 dBFS
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 10.0 * math.log10(power))


class AudioSource(ABC):
    """What the pipeline reads: 16 kHz mono float32 blocks, and a clock of samples handed out.

    ``read`` is called from one thread; ``stop`` may be called from another: a ``read`` waiting
    then raises `EndOfStream` within its timeout.
    """

    realtime: bool = True
    input_latency: float = 0.0  # seconds a block is old when it arrives (a microphone's buffering)

    def __init__(self) -> None:
        self._samples_delivered = 0
        self._overflows = 0

    @abstractmethod
    def start(self) -> None:
        """Open the stream; raises DeviceError or InputError with a line saying what to do."""

    @abstractmethod
    def read(self, timeout: float) -> np.ndarray | None:
        """Next block, or None if none arrived within ``timeout`` seconds.

        Raises EndOfStream once a finite source is exhausted (or after ``stop``), DeviceError if the
        device went away.
        """

    @abstractmethod
    def stop(self) -> None:
        """Close the stream; safe to call more than once."""

    def close(self) -> None:
        self.stop()

    @property
    def samples_delivered(self) -> int:
        """16 kHz samples handed out by read() so far: the stream's audio clock."""
        return self._samples_delivered

    @property
    def overflows(self) -> int:
        """Blocks lost because the reader fell behind the device."""
        return self._overflows

    @property
    def waiting(self) -> bool:
        """True when a block could be read right now without waiting for it.

        Audio already waiting means the reader is behind the stream, so it can skip work that only
        matters when it keeps up (partial decodes). A source that cannot tell says False.
        """
        return False

    @property
    @abstractmethod
    def description(self) -> str:
        """One short line for the status bar, e.g. "mic: pulse" or "file: jfk.flac"."""

    def __enter__(self) -> AudioSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
