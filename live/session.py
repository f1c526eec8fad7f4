"""Turns Settings into a ready Pipeline: which source, which engine, which session folder.

Shared by the TUI, headless mode and the tests; tests pass their own ``open_source`` or ``load_engine``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path

from live import __version__
from live.audio import AudioSource, FileSource, MicSource, resolve_device
from live.captions import CaptionOptions
from live.config import Settings
from live.errors import InputError
from live.pipeline import EngineLoader, Pipeline, StatusCallback
from live.transcript import SessionWriter
from live.vad import VadOptions


def demo_clip() -> Path:
    """The short real lecture clip that ships with the package (see live/data/SOURCES.md)."""
    return Path(str(resources.files("live") / "data" / "demo.flac"))


def source_factory(settings: Settings) -> Callable[[], AudioSource]:
    """Check the input now (a clear error before any UI), open it later in the worker."""
    path = demo_clip() if settings.demo else settings.input
    if path is not None:
        if not path.exists():
            raise InputError(f"{path}: no such file; check the path given to --input")
        if path.is_dir():
            raise InputError(f"{path} is a folder; --input takes an audio or video file")
        probe = FileSource(path, realtime=False)
        probe.start()  # decodes the first block: a corrupt or audio-less file fails here, in one line
        probe.stop()
        realtime = not settings.fast
        return lambda: FileSource(path, realtime=realtime)
    resolve_device(settings.device)  # a clear error now, before any UI
    # Resolved again at each (re)connect: a re-plugged microphone may come back under another index.
    return lambda: MicSource(settings.device, rescan=True)


def check_model(settings: Settings) -> None:
    """A --model folder that cannot be SenseVoice fails now, not after the UI is up."""
    if settings.model and settings.engine in ("auto", "sensevoice") and Path(settings.model).expanduser().exists():
        from live.models import check_sensevoice_folder, is_whisper_folder

        folder = Path(settings.model).expanduser()
        if settings.engine == "auto" and is_whisper_folder(folder):
            return  # auto runs a Whisper folder with Whisper
        check_sensevoice_folder(folder)


def slides_context(settings: Settings) -> str | None:
    """The slides as a block for the notes' system prompt (SlidesError in one line if unreadable)."""
    if settings.slides is None:
        return None
    try:
        stat = settings.slides.stat()
        key = (settings.slides.resolve(), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (settings.slides, 0, 0)  # load_slides says what is wrong with it
    return _slides_block(*key)


@functools.lru_cache(maxsize=4)
def _slides_block(path: Path, mtime_ns: int, size: int) -> str:
    # Keyed by mtime and size too: the CLI checks the deck before the UI, the notes read it after;
    # a deck parsed once serves both, and an edited deck is parsed again.
    from live.slides import load_slides, slides_prompt_block

    return slides_prompt_block(load_slides(path))


def engine_loader(settings: Settings) -> EngineLoader:
    def load(on_status: StatusCallback):
        from live.asr.loader import load_engine

        return load_engine(
            settings.engine, model=settings.model, device=settings.compute, threads=settings.threads,
            backend=settings.backend, on_status=on_status,
        )

    return load


def build_pipeline(
    settings: Settings,
    sink: Callable[[object], None],
    *,
    open_source: Callable[[], AudioSource] | None = None,
    load_engine: EngineLoader | None = None,
) -> Pipeline:
    open_source = open_source or source_factory(settings)
    if load_engine is None:
        check_model(settings)
        load_engine = engine_loader(settings)
    meta = {
        "live_version": __version__,
        "started": datetime.now().isoformat(timespec="seconds"),
        "input": str(settings.input) if settings.input else ("demo" if settings.demo else "microphone"),
        "device": settings.device,
        "engine": settings.engine,
        "model": settings.model,
        "language": settings.language,
        "pid": os.getpid(),
    }
    writer = SessionWriter.create(settings.session_dir, meta=meta, record_audio=settings.record_audio)
    return Pipeline(
        open_source,
        load_engine,
        sink,
        writer=writer,
        vad=VadOptions(
            aggressiveness=settings.vad_aggressiveness,
            silence_ms=settings.silence_ms,
            max_segment_s=settings.max_segment_s,
        ),
        captions=CaptionOptions(partials=not settings.headless or settings.partials),
        language=settings.language,
    )
