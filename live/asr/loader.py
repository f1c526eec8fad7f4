"""Pick and load the recognition engine, and say in one line what was loaded and why.

"auto" prefers SenseVoice (a given folder, one already downloaded, or one that can be downloaded
now; it covers zh/en/yue/ja/ko) and falls back to Whisper, which ships with the ``whisper`` extra and
needs no network: base (multilingual) for zh/yue/ja/ko/auto, tiny.en only for English. "whisper"
follows the same rule; ``--model base|tiny.en|FOLDER`` overrides it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from live.asr.base import BACKENDS, ENGINES, Engine
from live.errors import ConfigError, ModelError
from live.events import StatusCallback
from live.models import (
    DEFAULT_SENSEVOICE,
    DownloadError,
    is_whisper_folder,
    resolve_sensevoice,
)

log = logging.getLogger("live.asr.loader")

Loader = Callable[[StatusCallback], "tuple[Engine, str]"]


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


def onnx_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def _load_sensevoice(folder: Path, *, backend: str, device: str, threads: int | None,
                     on_status: StatusCallback) -> tuple[Engine, str]:
    """The SenseVoice engine for ``folder`` and the runtime it uses ("onnx int8" or "torch").

    "auto" takes ONNX Runtime (int8: loads in ~2 s, decodes 2-3x faster) when it is installed and
    the model runs on the CPU, and falls back to torch if the export cannot be made.
    """
    if backend == "onnx" and device != "cpu":
        raise ConfigError(f"the onnx backend runs on the CPU only: drop --device {device} or use --backend torch")
    if _wants_onnx(backend, device):
        from live.asr.onnx_engine import OnnxSenseVoiceEngine

        on_status(f"loading SenseVoice (onnx) from {_shown(folder)}…")
        try:
            return OnnxSenseVoiceEngine(folder, threads=threads, on_status=on_status), "onnx int8"
        except ModelError as error:
            if backend == "onnx":
                raise
            log.warning("ONNX Runtime unavailable for %s, using torch: %s", folder, error)
            on_status("ONNX export failed; loading SenseVoice with torch…")
    from live.asr.sensevoice import SenseVoiceEngine

    on_status(f"loading SenseVoice from {_shown(folder)}…")
    return SenseVoiceEngine(folder, device=device, threads=threads), "torch"


def _wants_onnx(backend: str, device: str) -> bool:
    return backend == "onnx" or (backend == "auto" and device == "cpu" and onnx_installed())


def _sensevoice_reason(folder: Path, runtime: str) -> str:
    suffix = "" if runtime == "torch" else f" ({runtime})"
    return f"sensevoice{suffix}: {_shown(folder)}"


# Whisper size names faster-whisper knows (fetched from Hugging Face, except the two that ship in packages).
_WHISPER_SIZE = re.compile(r"(tiny|base|small|medium|large(-v[123])?|turbo|large-v3-turbo|distil-[\w.-]+)(\.en)?")


def whisper_model_for(language: str) -> str:
    """The packaged Whisper for a language: tiny.en for English, base (multilingual) for the rest."""
    return "tiny.en" if language == "en" else "base"


def _interim_whisper(language: str) -> str:
    """The Whisper that captions while SenseVoice's ONNX build runs: by language, as the fallback is."""
    from live.models.packaged import packages_installed

    name = whisper_model_for(language)
    return name if name == "tiny.en" or packages_installed() else "tiny.en"


def _role(name: str) -> str:
    return "English only" if name.endswith(".en") else "multilingual"


def _load_whisper(model: str | None, *, device: str, threads: int | None, on_status: StatusCallback) -> Engine:
    from live.asr.whisper import WhisperEngine

    if model == "base":
        from live.models.packaged import packaged_folder

        packaged_folder(on_status=on_status)  # assembled once, with a status line while it is
    on_status(f"loading Whisper {model or 'tiny.en'}…")
    return WhisperEngine(model, device=device, threads=threads)


def _packaged_whisper(language: str, why: str | None, *, device: str, threads: int | None,
                      on_status: StatusCallback) -> tuple[Engine, str]:
    """Whisper chosen by language (no --model): base, or tiny.en for English and when base is not
    installed and the language may be English. ``why``: why not SenseVoice (auto), or None."""
    from live.models.packaged import packages_installed

    name = whisper_model_for(language)
    note = ""
    if name == "base" and not packages_installed():
        if language != "auto":
            raise ModelError(f"Whisper base (multilingual, for --language {language}) is not installed"
                             f"{f' and {why}' if why else ''}: pip install 'live-captions[whisper]', or pass "
                             "--model FOLDER with a multilingual Whisper or SenseVoice folder")
        name, note = "tiny.en", "; Whisper base not installed, English only"
    loaded = _load_whisper(name, device=device, threads=threads, on_status=on_status)
    chosen = f"whisper {loaded.model} ({_role(loaded.model)}, for --language {language})"
    return loaded, f"{chosen}: {why}{note}" if why else f"{chosen}{note}"


def faster_engine(current: Engine, language: str | None, *, device: str = "cpu",
                  threads: int | None = None) -> Loader | None:
    """The loader of an engine faster than ``current`` for speech in ``language``, where there is one (the
    lag governor's last step): tiny.en for English on a larger Whisper; SenseVoice on ONNX Runtime for
    SenseVoice on torch, once its export is built. None: nothing faster here."""
    if current.name == "whisper" and language == "en" and not current.model.startswith("tiny") \
            and _whisper_installed():
        return lambda on_status: (_load_whisper("tiny.en", device=device, threads=threads, on_status=on_status),
                                  "whisper tiny.en (faster, while the captions catch up)")
    folder = getattr(current, "folder", None)
    if current.name == "sensevoice" and type(current).__name__ == "SenseVoiceEngine" and folder is not None \
            and device == "cpu" and onnx_installed():
        from live.models.onnx_cache import cached_onnx

        if cached_onnx(folder) is not None:
            def onnx(on_status: StatusCallback) -> tuple[Engine, str]:
                from live.asr.onnx_engine import OnnxSenseVoiceEngine

                return (OnnxSenseVoiceEngine(folder, threads=threads, on_status=on_status),
                        "sensevoice onnx int8 (faster, while the captions catch up)")

            return onnx
    return None


def _whisper_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("faster_whisper") is not None


def load_engine(engine: str, *, model: str | None, device: str = "cpu", threads: int | None = None,
                backend: str = "auto", language: str = "auto", on_status: StatusCallback = lambda s: None,
                interim: bool = False) -> tuple[Engine, str] | tuple[Engine, str, Loader]:
    """Load the engine asked for and return it with a one-line reason for the status bar.

    ``model`` is a folder or hub id for SenseVoice, a folder or size name for Whisper. ``language``
    (the spoken language asked for) chooses the Whisper model when none is named. ``on_status``
    receives progress lines ("downloading 42 %…", "loading SenseVoice…") while this runs.
    ``interim``: when SenseVoice's ONNX build is not there yet, do not wait for it — start it in the
    background and return a quick engine now, plus the loader of the fast one as a third item (a live
    session switches to it when the build is done).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    progress = _download_reporter(on_status)

    if engine == "whisper":
        if model is None:
            return _packaged_whisper(language, None, device=device, threads=threads, on_status=on_status)
        loaded = _load_whisper(model, device=device, threads=threads, on_status=on_status)
        return loaded, f"whisper {loaded.model}"

    def sensevoice(name: str | None) -> tuple[Engine, str] | tuple[Engine, str, Loader]:
        on_status("looking for the SenseVoice model…")
        folder = resolve_sensevoice(name, progress=progress)
        if interim and _wants_onnx(backend, device):
            from live.asr.coldstart import start_while_building

            quick = start_while_building(
                folder, device=device, threads=threads, on_status=on_status,
                load_whisper=lambda quick_threads: _load_whisper(_interim_whisper(language), device=device,
                                                                 threads=quick_threads, on_status=on_status),
                fast_reason=_sensevoice_reason(folder, "onnx int8"))
            if quick is not None:
                return quick
        loaded, runtime = _load_sensevoice(folder, backend=backend, device=device, threads=threads,
                                           on_status=on_status)
        return loaded, _sensevoice_reason(folder, runtime)

    if engine == "sensevoice":
        return sensevoice(model)

    # auto: a model the user named is theirs to fix, so its errors are not papered over.
    if model is not None:
        if is_whisper_folder(Path(model).expanduser()):
            loaded = _load_whisper(model, device=device, threads=threads, on_status=on_status)
            return loaded, f"whisper {loaded.model}: {_shown(Path(model).expanduser())}"
        if not Path(model).expanduser().exists() and _WHISPER_SIZE.fullmatch(model):
            loaded = _load_whisper(model, device=device, threads=threads, on_status=on_status)
            return loaded, f"whisper {loaded.model}: --model {model}"
        return sensevoice(model)

    try:
        return sensevoice(None)
    except ModelError as sensevoice_error:
        log.info("SenseVoice unavailable: %s", sensevoice_error)
        why = _why_not(sensevoice_error)
        if not _whisper_installed():
            raise ModelError(
                f"no speech model: {why} and faster-whisper is not installed; pass --model FOLDER with a "
                "SenseVoice folder, or pip install 'live-captions[whisper]'") from sensevoice_error
        on_status(f"{why}; loading Whisper instead…")
        return _packaged_whisper(language, why, device=device, threads=threads, on_status=on_status)


def _why_not(error: ModelError) -> str:
    """Why SenseVoice could not be used, short enough for the status bar."""
    if isinstance(error, DownloadError):
        if error.offline:
            return f"SenseVoice not available offline (cannot download {error.model_id})"
        return f"SenseVoice download failed ({error.model_id})"
    return f"SenseVoice not usable ({str(error).split(':', 1)[0]})"

__all__ = ["BACKENDS", "DEFAULT_SENSEVOICE", "ENGINES", "load_engine"]
