"""Pick and load the recognition engine, and say in one line what was loaded and why.

"auto" prefers SenseVoice (a given folder, one already downloaded, or one that can be downloaded
now) and falls back to Whisper tiny.en, which ships with the ``whisper`` extra and needs no network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from live.asr.base import Engine
from live.errors import ConfigError, ModelError
from live.models import DEFAULT_SENSEVOICE, DownloadError, resolve_sensevoice

log = logging.getLogger("live.asr.loader")

ENGINES = ("auto", "sensevoice", "whisper")
BACKENDS = ("auto", "onnx", "torch")
StatusCallback = Callable[[str], None]


def _shown(path: Path) -> str:
    """A path as short as it can be shown: relative to the working folder, else with ~ for home."""
    path = path.resolve()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def _download_reporter(on_status: StatusCallback) -> Callable[[int, int | None], None]:
    """Turn byte counts into "downloading 42 %…" lines, one per whole percent."""
    last = [-1]

    def report(done: int, total: int | None) -> None:
        if total:
            percent = min(100, done * 100 // total)
            if percent != last[0]:
                last[0] = percent
                on_status(f"downloading SenseVoice {percent} %…")
        else:
            on_status(f"downloading SenseVoice {done / 1e6:.0f} MB…")

    return report


def _load_sensevoice(folder: Path, *, backend: str, device: str, threads: int | None,
                     on_status: StatusCallback) -> Engine:
    """The one place a SenseVoice folder becomes an engine (the ONNX runtime plugs in here)."""
    from live.asr.sensevoice import SenseVoiceEngine

    if backend == "onnx":
        raise ModelError("the ONNX backend is not available in this build; use --backend torch")
    on_status(f"loading SenseVoice from {_shown(folder)}…")
    return SenseVoiceEngine(folder, device=device, threads=threads)


def _load_whisper(model: str | None, *, device: str, threads: int | None, on_status: StatusCallback) -> Engine:
    from live.asr.whisper import WhisperEngine

    on_status(f"loading Whisper {model or 'tiny.en'}…")
    return WhisperEngine(model, device=device, threads=threads)


def _whisper_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("faster_whisper") is not None


def load_engine(engine: str, *, model: str | None, device: str = "cpu", threads: int | None = None,
                backend: str = "auto", on_status: StatusCallback = lambda s: None) -> tuple[Engine, str]:
    """Load the engine asked for and return it with a one-line reason for the status bar.

    ``model`` is a folder or hub id for SenseVoice, a folder or size name for Whisper. ``on_status``
    receives progress lines ("downloading 42 %…", "loading SenseVoice…") while this runs.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    progress = _download_reporter(on_status)

    if engine == "whisper":
        loaded = _load_whisper(model, device=device, threads=threads, on_status=on_status)
        return loaded, f"whisper {loaded.model}"

    if engine == "sensevoice":
        on_status("looking for the SenseVoice model…")
        folder = resolve_sensevoice(model, progress=progress)
        loaded = _load_sensevoice(folder, backend=backend, device=device, threads=threads, on_status=on_status)
        return loaded, f"sensevoice: {_shown(folder)}"

    # auto: a model the user named is theirs to fix, so its errors are not papered over.
    if model is not None:
        if os.path.isfile(os.path.join(os.path.expanduser(model), "model.bin")):  # a CTranslate2 folder
            loaded = _load_whisper(model, device=device, threads=threads, on_status=on_status)
            return loaded, f"whisper {loaded.model}: {_shown(Path(model).expanduser())}"
        folder = resolve_sensevoice(model, progress=progress)
        loaded = _load_sensevoice(folder, backend=backend, device=device, threads=threads, on_status=on_status)
        return loaded, f"sensevoice: {_shown(folder)}"

    on_status("looking for the SenseVoice model…")
    try:
        folder = resolve_sensevoice(None, progress=progress)
        loaded = _load_sensevoice(folder, backend=backend, device=device, threads=threads, on_status=on_status)
    except ModelError as sensevoice_error:
        log.info("SenseVoice unavailable: %s", sensevoice_error)
        why = _why_not(sensevoice_error)
        if not _whisper_installed():
            raise ModelError(
                f"no speech model: {why} and faster-whisper is not installed; pass --model FOLDER with a "
                "SenseVoice folder, or pip install 'live-captions[whisper]'") from sensevoice_error
        on_status(f"{why}; loading Whisper instead…")
        loaded = _load_whisper(None, device=device, threads=threads, on_status=on_status)
        return loaded, f"whisper {loaded.model}: {why}"
    return loaded, f"sensevoice: {_shown(folder)}"


def _why_not(error: ModelError) -> str:
    """Why SenseVoice could not be used, short enough for the status bar."""
    if isinstance(error, DownloadError):
        if error.offline:
            return f"SenseVoice not available offline (cannot download {error.model_id})"
        return f"SenseVoice download failed ({error.model_id})"
    return f"SenseVoice not usable ({str(error).split(':', 1)[0]})"

__all__ = ["BACKENDS", "DEFAULT_SENSEVOICE", "ENGINES", "load_engine"]
