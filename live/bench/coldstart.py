"""The cold start: a SenseVoice model with no ONNX build yet, launched on a recording as a newcomer
would — how long until the first final caption is on screen (from the quick engine while the build
runs). The model's files are hard-linked into a fresh folder, so the real cache is never touched, and
the background build the session starts is stopped afterwards so it does not disturb what follows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from live.bench.replay import Config


def _fresh_copy(model: Path, into: Path) -> Path:
    folder = into / model.name
    folder.mkdir()
    for path in model.iterdir():
        if path.is_file():
            try:
                os.link(path, folder / path.name)
            except OSError:
                shutil.copy2(path, folder / path.name)
    return folder


def _stop_builds(folder: Path) -> None:
    """Kill the detached build processes working on ``folder`` (found by their command line)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "live.models.onnx_build" in cmdline and str(folder) in cmdline:
            try:
                os.killpg(int(proc.name), signal.SIGKILL)
            except OSError:
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass


def cold_start(config: Config, input: Path, timeout: float = 120.0) -> float | None:
    """Seconds from launch to the first final with no ONNX build yet; None when it is not a
    SenseVoice configuration with a model folder, or no final came."""
    if config.engine != "sensevoice" or config.model is None or config.backend == "torch":
        return None
    with tempfile.TemporaryDirectory(prefix="live-bench-cold-") as tmp:
        model = _fresh_copy(Path(config.model), Path(tmp))
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "live", "--headless", "--json", "--input", str(input),
                                 "--engine", "sensevoice", "--model", str(model), "--session-dir", tmp, "--no-audio"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        found = None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if json.loads(line).get("type") == "final":
                    found = time.monotonic() - began
                    break
                if time.monotonic() - began > timeout:
                    break
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            _stop_builds(model)
        return found
