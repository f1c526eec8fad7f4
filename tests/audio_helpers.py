"""Helpers for the audio and VAD tests: the project's real clips, speech extents, a virtual microphone."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from live.audio import SAMPLE_RATE, decode_file, list_devices, rms_dbfs

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VMIC_SCRIPT = SHARED / "scripts" / "virtual-mic.sh"
FRAME = SAMPLE_RATE * 30 // 1000


def clip(name: str) -> np.ndarray:
    """A clip from tests/data (real speech, see tests/data/SOURCES.md), decoded to 16 kHz float32."""
    return decode_file(DATA / name)


def frame_levels(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """dBFS of each whole frame of ``x``."""
    n = x.size // frame
    return np.array([rms_dbfs(x[i * frame:(i + 1) * frame]) for i in range(n)])


def speech_frames(x: np.ndarray, below_peak_db: float = 25.0) -> np.ndarray:
    """Indices of 30 ms frames within ``below_peak_db`` of the loudest frame: surely speech."""
    levels = frame_levels(x)
    return np.flatnonzero(levels > levels.max() - below_peak_db)


def speech_extent(x: np.ndarray) -> tuple[float, float]:
    """Seconds from the start of the first to the end of the last surely-voiced frame."""
    frames = speech_frames(x)
    return frames[0] * FRAME / SAMPLE_RATE, (frames[-1] + 1) * FRAME / SAMPLE_RATE


def best_lag_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int, float]:
    """The shift of ``a`` against ``b`` (within ±max_lag samples) that correlates best, and that correlation."""
    n = min(a.size, b.size) - 2 * max_lag
    assert n > SAMPLE_RATE // 2, "too little overlap to compare"
    ref = b[max_lag:max_lag + n]
    best = (0, -1.0)
    for lag in range(-max_lag, max_lag + 1):
        seg = a[max_lag + lag:max_lag + lag + n]
        c = float(np.corrcoef(seg, ref)[0, 1])
        if c > best[1]:
            best = (lag, c)
    return best


def locate(recording: np.ndarray, source: np.ndarray) -> tuple[int, float]:
    """Where ``source`` starts inside ``recording`` (FFT cross-correlation) and the correlation there."""
    n = 1 << int(np.ceil(np.log2(recording.size + source.size)))
    xc = np.fft.irfft(np.fft.rfft(recording, n) * np.conj(np.fft.rfft(source, n)), n)[: recording.size]
    offset = int(np.argmax(xc))
    overlap = min(source.size, recording.size - offset)
    if overlap < SAMPLE_RATE:
        return offset, 0.0
    return offset, float(np.corrcoef(recording[offset:offset + overlap], source[:overlap])[0, 1])


class VirtualMic:
    """The shared virtual-mic.sh daemon, under a private root so test sessions never share one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._env = {**os.environ, "VMIC_ROOT": str(root)}

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            ["bash", str(VMIC_SCRIPT), *args], env=self._env, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"virtual-mic.sh {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        self._run("start")

    def client_env(self) -> dict[str, str]:
        """The variables a PulseAudio client needs to find this daemon (from `virtual-mic.sh env`)."""
        line = self._run("env").strip()
        words = shlex.split(line.removeprefix("export "))
        return dict(w.split("=", 1) for w in words)

    def play(self, path: Path) -> None:
        self._run("play", str(path))

    def wait(self) -> None:
        self._run("wait")

    def stop(self) -> None:
        self._run("stop")

    def daemon_pid(self) -> int:
        return int((Path(self.client_env()["PULSE_RUNTIME_PATH"]) / "pid").read_text().split()[0])

    def freeze(self, frozen: bool) -> None:
        """Pause or resume the sound server, as a hung audio driver would."""
        os.kill(self.daemon_pid(), signal.SIGSTOP if frozen else signal.SIGCONT)


def virtual_mic_or_skip(root: Path) -> VirtualMic:
    missing = [tool for tool in ("pactl", "pulseaudio", "ffmpeg", "pacat") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the virtual microphone needs {', '.join(missing)} (Debian: pulseaudio pulseaudio-utils ffmpeg)")
    if not VMIC_SCRIPT.is_file():
        pytest.skip(f"the virtual microphone script {VMIC_SCRIPT} is absent (present in CI, not in a user's checkout)")
    mic = VirtualMic(root)
    mic.start()
    return mic


@contextmanager
def virtual_mic_in_this_process(root: Path) -> Iterator[VirtualMic]:
    """The virtual microphone's private PulseAudio, seen by this process's PortAudio (and its children)
    while inside; the daemon stopped and the environment put back after."""
    mic = virtual_mic_or_skip(root)
    env = mic.client_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield mic
    finally:
        mic.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        list_devices(rescan=True)
