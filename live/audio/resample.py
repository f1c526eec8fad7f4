"""Sample-rate conversion for devices that cannot deliver 16 kHz themselves."""

from __future__ import annotations

import math

import numpy as np

from live.audio.source import SAMPLE_RATE


class Resampler:
    """Streaming polyphase resampler (windowed-sinc low-pass) for a fixed rational rate ratio.

    It keeps the last input samples between calls, so a stream fed in blocks of any size gives
    exactly the output of one call on the whole stream: no clicks at block seams. Its delay is about
    ``taps_per_phase / 2`` input samples (well under a millisecond at 44.1 or 48 kHz).
    """

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE, taps_per_phase: int = 96) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        g = math.gcd(in_rate, out_rate)
        self.in_rate, self.out_rate = in_rate, out_rate
        self.up, self.down = out_rate // g, in_rate // g
        self._taps = taps_per_phase
        n = taps_per_phase * self.up
        # Pass band ends below the lower Nyquist by the filter's transition width, so that the
        # stop band starts near it: little aliasing when going down, no imaging when going up.
        nyquist = min(in_rate, out_rate) / 2.0
        transition = 5.0 * in_rate / taps_per_phase  # Kaiser, beta 8: ~80 dB stop band
        cutoff = max(nyquist - transition / 2.0, 0.5 * nyquist)
        fs_up = float(in_rate * self.up)
        t = np.arange(n) - (n - 1) / 2.0
        h = (2.0 * cutoff / fs_up) * np.sinc(2.0 * cutoff / fs_up * t) * np.kaiser(n, 8.0)
        h *= self.up / h.sum()
        # phase p, tap k -> h[p + k * up]: each output sample needs one phase, i.e. taps_per_phase taps
        self._poly = h.reshape(taps_per_phase, self.up).T.astype(np.float32)
        self._history = np.zeros(taps_per_phase - 1, dtype=np.float32)
        self._consumed = 0  # input samples seen so far
        self._produced = 0  # output samples made so far

    @property
    def identity(self) -> bool:
        return self.up == self.down

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next block; returns every output sample whose input is now complete."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self.identity:
            return x.copy()
        extended = np.concatenate([self._history, x])
        first_input = self._consumed - (self._taps - 1)  # stream index of extended[0]
        self._consumed += x.size
        end = (self._consumed * self.up + self.down - 1) // self.down
        n = np.arange(self._produced, end, dtype=np.int64)
        self._produced = end
        self._history = extended[extended.size - (self._taps - 1):]
        if n.size == 0:
            return np.zeros(0, dtype=np.float32)
        t = n * self.down
        newest = t // self.up - first_input
        idx = newest[:, None] - np.arange(self._taps)[None, :]
        return np.einsum("ij,ij->i", extended[idx], self._poly[t % self.up]).astype(np.float32)
