"""Turns Settings into a ready Pipeline: which source, which engine, which session folder.

Shared by the TUI, headless mode and the tests; tests pass their own ``open_source`` or ``load_engine``.
"""

from __future__ import annotations

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
        realtime = not settings.fast
        return lambda: FileSource(path, realtime=realtime)
    device = resolve_device(settings.device)
    return lambda: MicSource(device)


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
    load_engine = load_engine or engine_loader(settings)
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
