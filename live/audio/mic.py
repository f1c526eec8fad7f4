"""A live microphone through sounddevice (PortAudio), as an `AudioSource`."""

from __future__ import annotations

import logging
import queue
import threading
import time
from types import ModuleType
from typing import Any

import numpy as np

from live.audio.devices import list_devices, load_sounddevice, resolve_device
from live.audio.resample import Resampler
from live.audio.source import SAMPLE_RATE, AudioSource, EndOfStream
from live.errors import DeviceError

# One logger for the whole audio stage: `live transcribe` holds its warnings by this name.
logger = logging.getLogger("live.audio")
CLOSE_TIMEOUT_S = 1.0  # well inside the two seconds that quitting may take


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
        self.stall_timeout = stall_timeout
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

    @property
    def waiting(self) -> bool:
        """True while the callback has queued blocks that `read` has not taken yet."""
        return not self._stopped.is_set() and not self._queue.empty()

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
        sd = load_sounddevice()
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
        # PortAudio's estimate of how old a block is when it reaches us: part of what a listener waits.
        self.input_latency = float(getattr(stream, "latency", 0.0) or 0.0)
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
            limit = self.stall_timeout if last is not None else self._first_block_timeout
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
        # A sound server that died mid-stream can leave PortAudio's abort waiting forever (seen with
        # PulseAudio killed): close on a thread of its own and leave the stream after a moment, so that
        # quitting or reconnecting never hangs on it.
        closer = threading.Thread(target=_close, args=(stream,), name="live-mic-close", daemon=True)
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive():
            logger.warning("%s did not close within %.0f s; left open", self._name, CLOSE_TIMEOUT_S)


def _close(stream: Any) -> None:
    # sounddevice ignores PortAudio errors here by default: a vanished device cannot be closed
    # cleanly, and there is nothing left to save from it.
    stream.abort()
    stream.close()
