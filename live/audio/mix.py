"""Several live sources as one: the microphone and the computer's own audio, summed (``--mix``).

Every source already hands out 16 kHz mono float32 (each resamples its device's rate itself), so
mixing is a matter of lining the streams up and adding them. Each stream is held to the wall clock
(the time since the first audio arrived):

- Blocks are taken from every source as they come and summed sample for sample, as far as the
  shortest stream reaches: devices that deliver in real time stay aligned to a block or so.
- A source more than ``max_skew_s`` behind the clock (one that starts late — a PulseAudio monitor
  takes up to ~2 s to deliver its first block — one that lost blocks, or one whose clock runs slow) is
  padded with silence, so the mix never waits for it.
- A source more than ``max_skew_s`` ahead of the clock (a burst of audio it held back, or a clock that
  runs fast) loses its oldest samples, so it cannot push the others late.
- So the streams stay within ``max_skew_s`` of each other and of real time, and memory stays bounded.
- A sum that would clip is scaled down, block by block, to just under full scale (a hard clip would
  put distortion into the recognizer's input).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from live.audio.devices import list_devices
from live.audio.source import SAMPLE_RATE, AudioSource, EndOfStream

HEADROOM = 0.99  # the loudest sample a mixed block may have


class MixSource(AudioSource):
    """The sum of ``sources``, aligned within ``max_skew_s``.

    A source that ends (a file) counts as silence from then on; the mix ends when all have ended. A
    DeviceError from any source is the mix's: the worker reconnects the whole mix.
    ``rescan``: re-read PortAudio's device list once before the sources open (re-initialising PortAudio
    closes every open stream, so the sources themselves must not).
    """

    realtime = True

    def __init__(self, sources: Sequence[AudioSource], *, max_skew_s: float = 0.25, rescan: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        if len(sources) < 2:
            raise ValueError("a mix needs at least two sources")
        self.sources = list(sources)
        self.max_skew = int(max_skew_s * SAMPLE_RATE)
        self._rescan = rescan
        self._buffers: list[list[np.ndarray]] = [[] for _ in self.sources]
        self._sizes = [0] * len(self.sources)
        self._ended = [False] * len(self.sources)
        self._clock = clock
        self._t0: float | None = None  # when the first sample arrived, on ``clock``
        self.padded = [0] * len(self.sources)  # silence put in for each source that fell behind, in samples
        self.dropped = [0] * len(self.sources)  # samples given up because a source ran ahead

    @property
    def description(self) -> str:
        return "mix: " + " + ".join(source.description for source in self.sources)

    @property
    def waiting(self) -> bool:
        return any(source.waiting for source in self.sources)

    @property
    def overflows(self) -> int:
        return sum(source.overflows for source in self.sources)

    def start(self) -> None:
        if self._rescan:
            list_devices(rescan=True)
        started: list[AudioSource] = []
        try:
            for source in self.sources:
                source.start()
                started.append(source)
        except BaseException:
            for source in started:
                source.stop()
            raise

    def read(self, timeout: float) -> np.ndarray | None:
        for i, source in enumerate(self.sources):
            if self._ended[i]:
                continue
            try:
                # Wait (up to ``timeout``) only on the source furthest behind: the others are polled.
                block = source.read(timeout if i == self._furthest_behind() else 0.0)
            except EndOfStream:
                self._ended[i] = True
                continue
            if block is not None and block.size:
                self._buffers[i].append(np.asarray(block, dtype=np.float32))
                self._sizes[i] += block.size
        return self._mix()

    def _furthest_behind(self) -> int:
        live = [i for i in range(len(self.sources)) if not self._ended[i]]
        return min(live, key=lambda i: self._sizes[i]) if live else -1

    def _mix(self) -> np.ndarray | None:
        if all(self._ended) and not any(self._sizes):
            raise EndOfStream
        live = [i for i in range(len(self.sources)) if not self._ended[i]]
        now = self._clock()
        if self._t0 is None:
            if not any(self._sizes):
                return None
            self._t0 = now - max(self._sizes) / SAMPLE_RATE  # the leader's first sample began then
        due = int((now - self._t0) * SAMPLE_RATE) - self._samples_delivered  # samples the clock says are due
        for i in live:
            if self._sizes[i] < due - self.max_skew:
                self._pad(i, due - self.max_skew - self._sizes[i])
            elif self._sizes[i] > due + self.max_skew:
                self.dropped[i] += self._take(i, self._sizes[i] - due - self.max_skew).size
        n = min(self._sizes[i] for i in live) if live else max(self._sizes)
        if n <= 0:
            return None
        out = np.zeros(n, dtype=np.float32)
        for i in range(len(self.sources)):
            part = self._take(i, n)  # an ended source's missing samples are silence
            out[:part.size] += part
        peak = float(np.max(np.abs(out)))
        if peak > HEADROOM:
            out *= HEADROOM / peak
        self._samples_delivered += n
        return out

    def _pad(self, i: int, n: int) -> None:
        self._buffers[i].append(np.zeros(n, dtype=np.float32))
        self._sizes[i] += n
        self.padded[i] += n

    def _take(self, i: int, n: int) -> np.ndarray:
        """Up to ``n`` samples from the front of source ``i``'s buffer."""
        if not self._sizes[i]:
            return np.zeros(0, dtype=np.float32)
        joined = np.concatenate(self._buffers[i]) if len(self._buffers[i]) > 1 else self._buffers[i][0]
        part, rest = joined[:n], joined[n:]
        self._buffers[i] = [rest] if rest.size else []
        self._sizes[i] = rest.size
        return part

    def stop(self) -> None:
        for source in self.sources:
            source.stop()
