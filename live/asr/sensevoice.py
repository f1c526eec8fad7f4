"""SenseVoiceSmall through funasr (torch): one decode of one VAD segment at a time.

funasr is imported here, lazily: its import takes 12-15 s, reconfigures the root logger to INFO on
stderr and prints to stdout. All of that is contained in ``_funasr_quiet`` so a TUI is not
scribbled on. funasr reports "All keys matched successfully" even when weights were skipped for a
wrong shape or a missing key, so the engine compares the checkpoint with the model itself.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from live.asr.base import Transcription
from live.language import LANGUAGES
from live.asr.tags import parse_rich
from live.errors import ConfigError, ModelError
from live.models import check_sensevoice_folder, cpu_threads, sensevoice_files

log = logging.getLogger("live.asr.sensevoice")

# Shorter than one 25 ms analysis window, funasr's front end has no frame to compute and raises.
MIN_SAMPLES = 400


@contextlib.contextmanager
def _funasr_quiet() -> Iterator[None]:
    """Run funasr code without letting it change root logging or write to the terminal.

    Whatever it printed is logged at debug level instead.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        text = captured.getvalue().strip()
        if text:
            log.debug("funasr output: %s", text)


def _checkpoint_mismatch(model: Any, weights: Path) -> tuple[list[str], int]:
    """Names of the model's parameters that ``weights`` lacks or holds in another shape."""
    import torch

    try:
        source = torch.load(weights, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError:  # an old, non-zip checkpoint cannot be memory-mapped
        source = torch.load(weights, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model_state_dict", "model"):  # the nestings funasr accepts
        if isinstance(source, dict) and isinstance(source.get(wrapper), dict):
            source = source[wrapper]
    shapes = {key.removeprefix("module."): tuple(value.shape) for key, value in source.items()
              if hasattr(value, "shape")}
    expected = model.state_dict()
    bad = [key for key, value in expected.items() if shapes.get(key) != tuple(value.shape)]
    return bad, len(expected)


class SenseVoiceEngine:
    """SenseVoiceSmall loaded from a local folder with ``funasr.AutoModel``."""

    name = "sensevoice"

    def __init__(self, model_dir: Path, *, device: str = "cpu", threads: int | None = None,
                 use_itn: bool = True) -> None:
        folder = Path(model_dir).expanduser()
        check_sensevoice_folder(folder)
        self.folder = folder
        self.model = folder.name
        self.use_itn = use_itn
        self.threads = threads or cpu_threads()
        with _funasr_quiet():
            import torch

            if device.startswith("cuda") and not torch.cuda.is_available():
                raise ModelError("CUDA asked for but not available; drop --device cuda")
            from funasr import AutoModel

            self.device = device
            # dither 0: funasr's default (1.0) adds random noise to the features, so re-decoding
            # the same audio (partial captions) would give different text each time.
            try:
                self._auto = AutoModel(model=str(folder), device=device, ncpu=self.threads,
                                       disable_update=True, disable_pbar=True,
                                       frontend_conf={"dither": 0.0})
            except (RuntimeError, OSError, EOFError, ValueError, KeyError) as error:
                # e.g. a truncated model.pt: "PytorchStreamReader failed reading zip archive"
                reason = " ".join(str(error).split())[:160]
                raise ModelError(f"{folder} cannot be loaded ({type(error).__name__}: {reason}): its files may "
                                 "be damaged; download it again or pass another --model FOLDER") from error
        weights = sensevoice_files(folder)["weights"]
        bad, total = _checkpoint_mismatch(self._auto.model, weights)
        if bad:
            raise ModelError(
                f"{weights} does not fit {folder.name}/config.yaml ({len(bad)} of {total} weights missing "
                f"or of another shape, e.g. {bad[0]}): download the model again or pass another --model FOLDER")
        log.info("SenseVoice loaded from %s on %s with %d threads", folder, device, self.threads)

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> Transcription:
        """Recognize 16 kHz mono float32 ``audio``; text comes without tags, tags as fields."""
        return parse_rich(self.decode_raw(audio, language))

    def decode_raw(self, audio: np.ndarray, language: str = "auto") -> str:
        """The model's own output for ``audio``, rich tags included (for debugging and tests)."""
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono audio (1-D), got shape {samples.shape}")
        if samples.size < MIN_SAMPLES:
            _check_language(language)
            return ""
        return self._generate(samples, language)

    def _generate(self, data: np.ndarray, language: str) -> str:
        _check_language(language)
        results = self._auto.generate(input=data, language=language, use_itn=self.use_itn,
                                      batch_size=1, disable_pbar=True)
        raw = str(results[0].get("text", "")) if results else ""
        log.debug("sensevoice raw: %s", raw)
        return raw


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ConfigError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
