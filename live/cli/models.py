"""``live models prepare``: download the model and build its ONNX export ahead of time, so the first
class after install has fast captions from the start.

Progress goes to stderr with an ETA (a redrawn line on a terminal, a line every few seconds otherwise);
the last line on stdout says where the model is and how big it is. Offline, the download fails in
one line that says what to do, as ``live`` itself does.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from live.timefmt import mmss

SECONDS_PER_MB = 0.1  # export + int8 quantization of SenseVoice on 2 cores (57 s + 31 s for 936 MB)


class Ticker:
    """Elapsed time and an ETA for the step under way; ``say`` prints a line without tearing it."""

    def __init__(self, stream: TextIO, every_s: float | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = every_s if every_s is not None else (1.0 if self.tty else 10.0)
        self._step: tuple[str, float, float | None] | None = None  # (label, started, estimate s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._download_began: float | None = None
        self._last_line = 0.0

    def say(self, text: str) -> None:
        with self._lock:
            if self.tty:
                self.stream.write("\r\x1b[K")
            self.stream.write(f"live: {text}\n")
            self.stream.flush()

    def download(self, done: int, total: int | None) -> None:
        """Download progress (bytes), as ``live.models`` reports it."""
        now = time.monotonic()
        self._download_began = self._download_began or now
        elapsed = now - self._download_began
        if total and done and elapsed > 0:
            rate = done / elapsed
            eta = (total - done) / rate if rate else 0.0
            self._line(f"downloading {done / 2**20:.0f} of {total / 2**20:.0f} MB ({100 * done / total:.0f} %), "
                       f"{rate / 2**20:.1f} MB/s, about {mmss(eta)} left")

    def start(self, label: str, estimate_s: float | None) -> None:
        self._step = (label, time.monotonic(), estimate_s)
        self._stop.clear()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.every_s):
            label, started, estimate = self._step or ("", time.monotonic(), None)
            elapsed = time.monotonic() - started
            left = f", about {mmss(max(0.0, estimate - elapsed))} left (estimated)" if estimate else ""
            self._line(f"{label}: {mmss(elapsed)} elapsed{left}")

    def _line(self, text: str) -> None:
        with self._lock:
            if self.tty:
                self.stream.write("\r\x1b[K" + text[: shutil.get_terminal_size((100, 24)).columns - 1])
            elif time.monotonic() - self._last_line >= self.every_s:
                self.stream.write(f"live: {text}\n")
                self._last_line = time.monotonic()
            self.stream.flush()


def _size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def prepare(engine: str, model: str | None, backend: str, *, out: TextIO, err: TextIO) -> int:
    from live.asr.loader import onnx_installed
    from live.models.resolve import resolve_sensevoice

    ticker = Ticker(err)
    if engine == "whisper":
        ticker.say("Whisper comes with its package (the whisper extra): nothing to download or build")
        return 0
    folder = resolve_sensevoice(model, progress=ticker.download)
    ticker.say(f"SenseVoice is in {folder} ({_size_mb(list(folder.iterdir())):.0f} MB)")
    if backend == "torch" or not onnx_installed():
        note = "" if backend == "torch" else " (install the onnx extra for the faster ONNX engine)"
        print(f"ready: {folder}{note}", file=out)
        return 0
    from live.models.onnx_cache import cached_onnx, ensure_onnx

    found = cached_onnx(folder)
    if found is None:
        weights = folder / "model.pt"
        ticker.start("ONNX build", SECONDS_PER_MB * _size_mb([weights]) if weights.exists() else None)
        try:
            found = ensure_onnx(folder, on_status=ticker.say)
        finally:
            ticker.stop()
    built = [p for p in found.parent.iterdir() if p.name.startswith(found.name)]  # the graph and its data
    print(f"ready: {found} ({_size_mb(built):.0f} MB); `live` now starts with fast captions", file=out)
    return 0


COMMANDS = {"models": "download and build the speech models ahead of time (live models prepare)"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help=COMMANDS["models"],
                       description="live models prepare: download SenseVoice (unless --model names a folder) and "
                       "build its ONNX export once, with progress and an ETA, so the first lecture has fast "
                       "captions from the start.")
    steps = p.add_subparsers(dest="models_command", metavar="prepare", required=True)
    prep = steps.add_parser("prepare", help="download and build now")
    prep.add_argument("--engine", metavar="auto|sensevoice|whisper", help="default auto (SenseVoice)")
    prep.add_argument("--model", "-m", metavar="FOLDER|HUB_ID", help="a local model folder or a hub id")
    prep.add_argument("--backend", metavar="auto|onnx|torch", help="SenseVoice runtime (default auto: onnx)")
    prep.add_argument("--speakers", metavar="on|off", help="the speaker labels' voice encoder too (default on)")
    p.set_defaults(func=models_main)


def models_main(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from live.config import load_settings

    settings = load_settings({"engine": args.engine, "model": args.model, "backend": args.backend,
                              "speakers": args.speakers})
    out, err = out or sys.stdout, err or sys.stderr
    speakers = prepare_speakers(out, err) if settings.speakers else 0
    return prepare(settings.engine, settings.model, settings.backend, out=out, err=err) or speakers


def prepare_speakers(out: TextIO, err: TextIO) -> int:
    """The speaker labels' voice encoder (17 MB, fetched once with pip); a failure is one line, and the
    speech model is prepared all the same."""
    from live.errors import LiveError
    from live.speakers.weights import encoder_file

    try:
        path = encoder_file(on_status=lambda text: print(f"live: {text}", file=err, flush=True))
    except LiveError as error:
        print(f"live: error: {error}", file=err, flush=True)
        return 1
    print(f"ready: the speaker model, {path}", file=out, flush=True)
    return 0
