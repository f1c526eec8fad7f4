"""Audio in: a microphone or a media file, handed out as 16 kHz mono float32 blocks.

Every source follows one contract (`AudioSource`), so the pipeline cannot tell a live microphone from
a recording replayed in real time. sounddevice (PortAudio) and PyAV (FFmpeg) are imported lazily:
``live --help`` and the tests that never touch a device must not need either library loaded.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from live.errors import DeviceError, InputError

logger = logging.getLogger("live.audio")

SAMPLE_RATE = 16000
FILE_BLOCK_SECONDS = 0.1
SILENCE_DBFS = -100.0


class EndOfStream(Exception):
    """A finite source is exhausted and drained (not an error: the session simply ends)."""


@dataclass(frozen=True)
class InputDevice:
    """One input-capable device as PortAudio lists it."""

    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool


def rms_dbfs(samples: np.ndarray) -> float:
    """Level of ``samples`` in dB relative to full scale (1.0); -100 for silence or no samples."""
    if samples.size == 0:
        return SILENCE_DBFS
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    if power <= 1e-10:  # below -100 dBFS
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 10.0 * math.log10(power))


# --------------------------------------------------------------------------------------------------
# Devices


def _sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into an actionable error."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise DeviceError(
            "PortAudio is not installed; install libportaudio2 (Debian/Ubuntu: sudo apt install "
            "libportaudio2) or use --input FILE to caption a recording"
        ) from exc
    return sounddevice


def list_devices(rescan: bool = False) -> list[InputDevice]:
    """Input-capable devices, in PortAudio's order.

    PortAudio takes its device list once, when it is initialised. ``rescan=True`` re-initialises it so
    that a microphone plugged in (or a sound server started) since then shows up; it must not be
    used while a stream is open, because re-initialising closes every stream.
    """
    sd = _sounddevice()
    if rescan:
        # sounddevice has no public call for this; these two are what it runs at import and exit.
        sd._terminate()
        sd._initialize()
    try:
        default_index = int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError):
        default_index = -1  # no default input: there may be no input at all
    devices = []
    for info in sd.query_devices():
        if info["max_input_channels"] <= 0:
            continue
        devices.append(
            InputDevice(
                index=int(info["index"]),
                name=str(info["name"]),
                channels=int(info["max_input_channels"]),
                default_samplerate=float(info["default_samplerate"]),
                is_default=int(info["index"]) == default_index,
            )
        )
    return devices


def resolve_device(spec: str | int | None) -> int | str | None:
    """Turn a --device value into what sounddevice takes: an index, or None for the default.

    ``spec`` is an index (int or digits) or a case-insensitive name or part of one; an exact name wins
    over a partial match.
    """
    devices = list_devices()
    if not devices:
        raise DeviceError(
            "no microphone found (PortAudio lists no input device); use --input FILE to caption a recording"
        )
    if spec is None:
        return None
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        if any(d.index == index for d in devices):
            return index
        raise DeviceError(f"no input device matches '{spec}'; run `live devices` to list them")
    wanted = spec.strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if exact:
        return exact[0].index
    partial = [d for d in devices if wanted in d.name.lower()]
    if len(partial) == 1:
        return partial[0].index
    if len(partial) > 1:
        names = ", ".join(f"{d.index}: {d.name}" for d in partial)
        raise DeviceError(f"'{spec}' matches several input devices ({names}); give its index or full name")
    raise DeviceError(f"no input device matches '{spec}'; run `live devices` to list them")


# --------------------------------------------------------------------------------------------------
# Resampling


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


# --------------------------------------------------------------------------------------------------
# Sources


class AudioSource(ABC):
    """What the pipeline reads: 16 kHz mono float32 blocks, and a clock of samples handed out.

    ``read`` is called from one thread; ``stop`` may be called from another: a ``read`` waiting
    then raises `EndOfStream` within its timeout.
    """

    realtime: bool = True

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
    @abstractmethod
    def description(self) -> str:
        """One short line for the status bar, e.g. "mic: pulse" or "file: jfk.flac"."""

    def __enter__(self) -> AudioSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MicSource(AudioSource):
    """A live input device through sounddevice.

    The PortAudio callback only copies blocks into a queue; downmixing and resampling happen in
    `read`, on the reader's thread, so the callback can never be slow enough to lose audio.
    """

    realtime = True

    def __init__(
        self,
        device: str | int | None = None,
        *,
        samplerate: int | None = None,
        stall_timeout: float = 2.0,
        first_block_timeout: float = 5.0,
        max_queued_blocks: int = 4000,
        rescan: bool = False,
    ) -> None:
        """
        Args:
            device: index or (part of a) name; None for the system default.
            samplerate: capture rate to ask for; None asks for 16 kHz and falls back to the device's
                native rate (then resampled here).
            stall_timeout: seconds without a callback, once audio flowed, that mean the device is gone.
            first_block_timeout: the same before the first callback (sound servers take ~2 s to start).
            max_queued_blocks: callback blocks kept for a slow reader before they count as overflows.
            rescan: re-read PortAudio's device list before opening, so a reconnect finds a device
                plugged in again (see `list_devices`; closes any other PortAudio stream).
        """
        super().__init__()
        self._spec = device
        self._forced_rate = samplerate
        self._rescan = rescan
        self._stall_timeout = stall_timeout
        self._first_block_timeout = first_block_timeout
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=max_queued_blocks)
        self._stream: Any = None
        self._resampler: Resampler | None = None
        self._name = "default" if device is None else str(device)
        self._channels = 1
        self._rate = SAMPLE_RATE
        self._started_at = 0.0
        self._last_callback: float | None = None
        self._callback_error: BaseException | None = None
        self._stopped = threading.Event()

    @property
    def description(self) -> str:
        return f"mic: {self._name}"

    @property
    def capture_rate(self) -> int:
        """The rate the device actually delivers (16000 unless it could not do 16 kHz)."""
        return self._rate

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # Runs on PortAudio's thread: never block, never log, never raise (that kills the stream
        # without a word). Anything unexpected is kept and re-raised by read().
        try:
            self._last_callback = time.monotonic()
            if status.input_overflow:
                self._overflows += 1
            self._queue.put_nowait(indata.copy())
        except queue.Full:
            self._overflows += 1
        except Exception as exc:  # noqa: BLE001 - handed to read(), see above
            self._callback_error = exc

    def _choose_settings(self, sd: ModuleType, index: int | None, info: dict[str, Any]) -> tuple[int, int]:
        native_rate = int(round(float(info["default_samplerate"]))) or SAMPLE_RATE
        max_channels = int(info["max_input_channels"])
        rates = [self._forced_rate] if self._forced_rate else [SAMPLE_RATE, native_rate]
        channel_options = [1, min(2, max_channels), max_channels]
        tried = []
        for rate in dict.fromkeys(rates):
            for channels in dict.fromkeys(channel_options):
                try:
                    sd.check_input_settings(device=index, channels=channels, samplerate=rate, dtype="float32")
                    return rate, channels
                except (sd.PortAudioError, ValueError) as exc:
                    tried.append(f"{rate} Hz x{channels}: {exc}")
        logger.debug("input settings refused: %s", "; ".join(tried))
        raise DeviceError(
            f"input device '{self._name}' accepts none of the usual formats; pick another with --device "
            "(run `live devices` to list them)"
        )

    def start(self) -> None:
        if self._stream is not None:
            return
        sd = _sounddevice()
        if self._rescan:
            list_devices(rescan=True)
        index = resolve_device(self._spec)
        try:
            info = dict(sd.query_devices(index, "input") if index is None else sd.query_devices(index))
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot query input device '{self._name}': {exc}; run `live devices`") from exc
        self._name = str(info["name"])
        self._rate, self._channels = self._choose_settings(sd, index, info)
        self._resampler = None if self._rate == SAMPLE_RATE else Resampler(self._rate, SAMPLE_RATE)
        self._stopped.clear()
        self._last_callback = None
        self._callback_error = None
        while not self._queue.empty():  # blocks from an earlier start belong to another stream
            self._queue.get_nowait()
        try:
            stream = sd.InputStream(
                device=index,
                channels=self._channels,
                samplerate=self._rate,
                dtype="float32",
                callback=self._callback,
            )
            stream.start()
        except sd.PortAudioError as exc:
            raise DeviceError(
                f"cannot open input device '{self._name}': {exc}; check it is plugged in and not used "
                "by another program, or pick another with --device"
            ) from exc
        self._started_at = time.monotonic()
        self._stream = stream
        logger.info("recording from %s at %d Hz x%d", self._name, self._rate, self._channels)

    def _check_alive(self) -> None:
        """Raise DeviceError when the stream died or stopped delivering while it should be running."""
        if self._callback_error is not None:
            raise DeviceError(
                f"audio capture from '{self._name}' failed ({self._callback_error!r}); restart the capture"
            )
        stream = self._stream
        if stream is None:
            return
        if not stream.active:
            reason = "stopped delivering audio (its stream closed)"
        else:
            last = self._last_callback
            waited = time.monotonic() - (last if last is not None else self._started_at)
            limit = self._stall_timeout if last is not None else self._first_block_timeout
            if waited <= limit:
                return
            reason = f"sent no audio for {waited:.1f} s"
        raise DeviceError(
            f"input device '{self._name}' {reason}; check that it is still connected, then reconnect"
        )

    def read(self, timeout: float) -> np.ndarray | None:
        if self._stream is None:
            if self._stopped.is_set():
                raise EndOfStream
            raise RuntimeError("MicSource.read() before start()")
        if self._callback_error is not None:
            self._check_alive()
        try:
            blocks = [self._queue.get(timeout=max(timeout, 0.0))]
        except queue.Empty:
            if self._stopped.is_set():
                raise EndOfStream from None
            self._check_alive()
            return None
        while True:  # whatever else is already waiting: fewer, larger blocks for the pipeline
            try:
                blocks.append(self._queue.get_nowait())
            except queue.Empty:
                break
        frames = np.concatenate(blocks)
        mono = frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1, dtype=np.float32)
        out = self._resampler.process(mono) if self._resampler else np.ascontiguousarray(mono)
        if out.size == 0:
            return None
        self._samples_delivered += out.size
        return out

    def stop(self) -> None:
        self._stopped.set()
        stream, self._stream = self._stream, None
        if stream is None:
            return
        # sounddevice ignores PortAudio errors here by default: a vanished device cannot be closed
        # cleanly, and there is nothing left to save from it.
        stream.abort()
        stream.close()


# --------------------------------------------------------------------------------------------------
# Files


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path given to --input")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an audio or video file to --input")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); give a recording with sound in it")


def _open_media(path: Path) -> tuple[Any, Any]:
    """Open ``path`` with FFmpeg and pick its first audio track; InputError if that is impossible."""
    _check_file(path)
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


class FileSource(AudioSource):
    """A recording replayed in 100 ms blocks, either paced like a microphone or as fast as read.

    Decoding streams alongside reading, so an hour-long lecture never sits in memory whole. With
    ``realtime=True`` a block is released once the wall clock has passed its last sample (as a
    microphone would deliver it), measured from `start` so that pacing never drifts.
    """

    def __init__(
        self, path: str | Path, realtime: bool = True, block_seconds: float = FILE_BLOCK_SECONDS
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.realtime = realtime
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

    def start(self) -> None:
        if self._container is not None:
            return
        self._container, stream = _open_media(self.path)
        self._chunks = _decode(self._container, stream, self.path)
        self._stopped.clear()
        try:
            # Decode the first block now so a damaged or silent file fails here, not mid-session.
            self._next = self._take_block()
        except BaseException:
            self.stop()
            raise
        self._t0 = time.monotonic()

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
