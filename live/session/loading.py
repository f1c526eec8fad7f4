"""The model loads in a thread of its own (seconds of CPU, sometimes a download) while the session
records; the worker polls it. Any failure becomes a message, never a hang."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from live.errors import LiveError
from live.events import StatusCallback

if TYPE_CHECKING:
    from live.asr.base import Engine

log = logging.getLogger("live.session")

# A loader returns (engine, reason), or (engine, reason, then): a quick engine now and the loader of
# the one that replaces it (SenseVoice's ONNX build finishing in the background).
EngineLoader = Callable[[StatusCallback], "tuple[Engine, str] | tuple[Engine, str, EngineLoader]"]


def describe(exc: BaseException) -> str:
    """One line for the user: our own errors say what to do; anything else names its type."""
    if isinstance(exc, LiveError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ModelLoad:
    """The model loading in its own thread (seconds of CPU); the worker polls it."""

    def __init__(self, load: EngineLoader, on_status: StatusCallback) -> None:
        self.engine: Engine | None = None
        self.reason = ""
        self.then: EngineLoader | None = None
        self.error: str | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(load, on_status), name="live-model-load",
                                        daemon=True)
        self._thread.start()

    def _run(self, load: EngineLoader, on_status: StatusCallback) -> None:
        try:
            loaded = load(on_status)
            self.engine, self.reason = loaded[0], loaded[1]
            self.then = loaded[2] if len(loaded) > 2 else None  # type: ignore[misc]
        except BaseException as exc:  # noqa: BLE001 - any failure is reported, none may hang the session
            if not isinstance(exc, LiveError):
                log.exception("the model failed to load")
            self.error = describe(exc)
        finally:
            self.done.set()
