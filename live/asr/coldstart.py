"""The first class after install: captions from the start while SenseVoice's ONNX build runs.

The ONNX export is made once per model (about a minute and ~1.7 GB of memory for the full model).
A student who starts ``live`` in the lecture hall before it exists should not wait for it: the build
starts in a process of its own — detached, so it goes on to the end after the session ends and the
next start is fast — while a quick engine captions (Whisper, ~1 s to load; torch SenseVoice when
Whisper is not installed). When the build is done, the session switches to the fast engine between
two decodes: nothing lost or repeated. ``live models prepare`` does the same build ahead of time.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from live.asr.base import Engine
from live.errors import ModelError
from live.events import StatusCallback
from live.models import cpu_threads
from live.models.onnx_cache import cached_onnx, child_command, choose_out_dir

log = logging.getLogger("live.asr.coldstart")

BUILD_LOG = "build.log"
# The build gets one core, at a lower priority, and the quick engine the others: on two cores an
# export sharing both with Whisper made its first decode 13x slower (OpenMP threads wait for each
# other when one is descheduled), and the first caption of a talk came after ~28 s instead of ~15 s.
BUILD_NICE = 10
BUILD_CORES = 1


@dataclass
class BackgroundBuild:
    """An ``ensure`` build step running detached; ``wait`` returns once it is done or says why not."""

    model_dir: Path
    process: subprocess.Popen
    log_path: Path
    started: float

    @classmethod
    def start(cls, model_dir: Path) -> BackgroundBuild:
        out_dir = choose_out_dir(model_dir, None)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            log_file = open(out_dir / BUILD_LOG, "a", encoding="utf-8")  # noqa: SIM115 - the child keeps it
        except OSError as err:
            raise ModelError(f"cannot create the ONNX cache folder {out_dir} ({err.strerror}): make it "
                             "writable or free some space") from err
        command, env = child_command(["ensure", str(model_dir), "--nice", str(BUILD_NICE),
                                      "--cores", str(BUILD_CORES)])
        with log_file:
            # A session of its own: quitting the app (or closing its terminal) does not stop the build.
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                       env=env, start_new_session=True)
        log.info("started the ONNX build of %s in the background (pid %d, log %s)", model_dir, process.pid,
                 out_dir / BUILD_LOG)
        return cls(model_dir, process, out_dir / BUILD_LOG, time.monotonic())

    def wait(self) -> None:
        code = self.process.wait()
        if code != 0:
            lines = [line for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
                     if line.strip()]
            raise ModelError(f"the ONNX build stopped ({lines[-1] if lines else f'exit status {code}'}); "
                             f"log: {self.log_path}")


def _interim_engine(device: str, threads: int | None, folder: Path, on_status: StatusCallback,
                    load_whisper: Callable[[int | None], Engine]) -> tuple[Engine, str]:
    if importlib.util.find_spec("faster_whisper") is not None:
        engine = load_whisper(threads)
        return engine, f"whisper {engine.model}"
    from live.asr.sensevoice import SenseVoiceEngine

    on_status(f"loading SenseVoice (torch) from {folder} while its ONNX build runs…")
    return SenseVoiceEngine(folder, device=device, threads=threads), "sensevoice (torch)"


def start_while_building(folder: Path, *, device: str, threads: int | None, on_status: StatusCallback,
                         load_whisper: Callable[[int | None], Engine], fast_reason: str,
                         ) -> tuple[Engine, str, Callable[[StatusCallback], tuple[Engine, str]]] | None:
    """None when SenseVoice's ONNX build is already there. Otherwise start the build in the
    background and return a quick engine, its reason, and the loader of the fast engine (which
    waits for the build): the session captions with the first and switches to the second."""
    if cached_onnx(folder) is not None:
        return None
    build = BackgroundBuild.start(folder)
    quick_threads = threads or max(1, cpu_threads() - BUILD_CORES)  # the cores the build leaves
    interim, name = _interim_engine(device, quick_threads, folder, on_status, load_whisper)

    def fast(status: StatusCallback) -> tuple[Engine, str]:
        from live.asr.onnx_engine import OnnxSenseVoiceEngine

        build.wait()
        status("SenseVoice's ONNX build is ready; loading it…")
        return OnnxSenseVoiceEngine(folder, threads=threads), fast_reason

    reason = (f"{name} while SenseVoice's ONNX build runs (once, about a minute); captions switch to it "
              "when it is ready")
    return interim, reason, fast
