"""One configuration replayed through ``live --headless --json --partials`` in a fresh process (so its
load time and memory are its own) while this process samples its CPU and memory; and the time until
a TUI launched in a pseudo-terminal has its first frame on screen."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from live.errors import ConfigError
from live.session.stats import LENGTH_BINS

@dataclass(frozen=True)
class Config:
    """One engine setup: ``engine[:backend][@model]``, e.g. ``sensevoice:onnx@models/sv``."""

    engine: str
    backend: str = "auto"
    model: str | None = None
    language: str = "auto"

    @classmethod
    def parse(cls, text: str) -> Config:
        spec, _, model = text.partition("@")
        engine, _, backend = spec.partition(":")
        if engine not in ("auto", "sensevoice", "whisper"):
            raise ConfigError(f"bad configuration '{text}': write engine[:backend][@model], e.g. sensevoice:onnx@DIR")
        return cls(engine, backend or "auto", model or None)

    @property
    def label(self) -> str:
        name = self.engine if self.backend == "auto" else f"{self.engine}:{self.backend}"
        return name + (f"@{Path(self.model).name}" if self.model else "")

    def flags(self) -> list[str]:
        out = ["--engine", self.engine, "--backend", self.backend, "--language", self.language]
        return out + (["--model", self.model] if self.model else [])


@dataclass
class Result:
    config: Config
    finals: list[dict] = field(default_factory=list)
    partials: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    wall_s: float = 0.0
    first_caption_s: float | None = None
    peak_rss_mb: float = 0.0
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)  # (wall s, cpu %)
    ui_s: float | None = None
    cold_start_s: float | None = None
    error: str | None = None

    def latencies(self) -> list[float]:
        """From the end of speech (the last voiced frame) to the final on screen; for a microphone,
        PortAudio's reported input latency is added (the audio is that old when it arrives)."""
        extra = self.stats.get("input_latency_s") or 0.0
        return [f["emitted"] - (f["speech_end"] if f.get("speech_end") is not None else f["end"]) + extra
                for f in self.finals]

    def latencies_from_end(self) -> list[float]:
        """``emitted - end``: from the end of the segment (the VAD's tail included), the older figure."""
        return [f["emitted"] - f["end"] for f in self.finals]

    def first_partial_delays(self) -> list[float]:
        first: dict[int, dict] = {}
        for p in self.partials:
            first.setdefault(p["index"], p)
        return [first[f["index"]]["emitted"] - f["start"] for f in self.finals if f["index"] in first]

    def rtf_by_length(self) -> dict[str, float]:
        """Median real-time factor of the decodes by audio length, and the overall ratio."""
        out = {}
        decodes = [(a, w) for kind, a, w in self.stats.get("recent_decodes", []) if a > 0]
        for lo, hi in LENGTH_BINS:
            inside = [(a, w) for a, w in decodes if lo <= a < hi]
            if inside:
                out[f"{lo}-{hi} s"] = statistics.median(w / a for a, w in inside)
        bins = self.stats.get("decode_bins", {}).values()
        audio = sum(row[1] for row in bins)
        if audio:
            out["all"] = sum(row[2] for row in bins) / audio
        return out

    def summary(self) -> dict:
        lat = self.latencies()
        s = self.stats
        pct = lambda xs, q: float(np.percentile(xs, q)) if xs else None  # noqa: E731
        return {
            "config": self.config.label,
            "finals": len(self.finals),
            "latency_p50_s": pct(lat, 50), "latency_p95_s": pct(lat, 95), "latency_max_s": max(lat) if lat else None,
            "latency_end_p50_s": pct(self.latencies_from_end(), 50),
            "latency_end_p95_s": pct(self.latencies_from_end(), 95),
            "input_latency_s": s.get("input_latency_s"),
            "first_partial_p50_s": pct(self.first_partial_delays(), 50),
            "rtf": self.rtf_by_length(),
            "cpu_speech_pct": 100 * s["cpu_speech_s"] / s["wall_speech_s"] if s.get("wall_speech_s") else None,
            "cpu_silence_pct": 100 * s["cpu_silence_s"] / s["wall_silence_s"] if s.get("wall_silence_s") else None,
            "peak_rss_mb": self.peak_rss_mb,
            "model_ready_s": s.get("engine_ready_s"),
            "first_caption_s": self.first_caption_s,
            "ui_s": self.ui_s,
            "cold_start_s": self.cold_start_s,
            "overflows": s.get("overflows"),
            "max_backlog_s": s.get("max_backlog_s"),
            "max_lag_s": s.get("max_lag_s"),
            "governor_steps": s.get("governor_steps"),
            "deepest_shed": s.get("deepest_shed"),
            "error": self.error,
        }


# --- a slower machine ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """The machine a configuration runs on: ``cores`` CPUs only (``taskset``), shared with ``load`` busy
    processes pinned to the same CPUs (another program hogging the laptop). None/0: as it is."""

    cores: int | None = None
    load: int = 0

    @property
    def label(self) -> str:
        cores = f"{self.cores} core{'s' if self.cores != 1 else ''}" if self.cores else f"{os.cpu_count()} cores"
        return cores + (f" + {self.load} busy" if self.load else "")

    def cpus(self) -> str | None:
        if not self.cores:
            return None
        if self.cores > (os.cpu_count() or 1):
            raise ConfigError(f"--cores {self.cores}: this machine has {os.cpu_count()}")
        return ",".join(str(i) for i in range(self.cores))

    @contextlib.contextmanager
    def running(self):
        """The command prefix that confines a process to these CPUs, with the busy processes started."""
        cpus = self.cpus()
        prefix = ["taskset", "-c", cpus] if cpus else []
        busy = [subprocess.Popen([*prefix, sys.executable, "-c", "while True: pass"]) for _ in range(self.load)]
        try:
            yield prefix
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()


# --- measuring one configuration ------------------------------------------------------------------


def _proc_sample(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, RSS MB) of a process from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return cpu, rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_config(config: Config, input: Path | None, *, fast: bool, extra: list[str] | None = None,
               device: str | None = None, seconds: float | None = None, machine: Machine | None = None) -> Result:
    """Replay ``input`` (or listen to ``device`` for ``seconds``) through ``live --headless`` with
    ``config``; sample the process while it runs. ``machine``: a slower machine to run it on."""
    result = Result(config)
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp, (machine or Machine()).running() as prefix:
        stats_file = Path(tmp) / "stats.json"
        source = ["--device", device] if device is not None else ["--input", str(input)]
        cmd = [sys.executable, "-m", "live", "run", "--headless", "--json", "--partials", *source,
               "--session-dir", tmp, "--no-audio", "--stats-file", str(stats_file), *config.flags(), *(extra or [])]
        if fast and device is None:
            cmd.append("--fast")
        cmd = [*prefix, *cmd]
        began = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stop = threading.Event()
        if seconds is not None:  # a microphone never ends: stop it as Ctrl-C would, cleanly
            threading.Timer(seconds, lambda: proc.poll() is None and proc.send_signal(signal.SIGINT)).start()

        def sample() -> None:
            last = None
            while not stop.is_set():
                got = _proc_sample(proc.pid)
                if got is None:
                    break
                cpu, rss = got
                result.peak_rss_mb = max(result.peak_rss_mb, rss)
                now = time.monotonic() - began
                if last is not None and now > last[0]:
                    result.cpu_samples.append((now, 100 * (cpu - last[1]) / (now - last[0])))
                last = (now, cpu)
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # stderr is drained on its own thread: a child that writes much to it must never block on a
        # full pipe while this one waits for its stdout.
        errors: list[str] = []
        drain = threading.Thread(target=lambda: errors.extend(proc.stderr or ()), daemon=True)
        drain.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if result.first_caption_s is None:
                result.first_caption_s = time.monotonic() - began
            if event.get("type") in ("final", "partial"):
                (result.finals if event["type"] == "final" else result.partials).append(event)
        proc.wait()
        drain.join()
        stderr = "".join(errors)
        stop.set()
        sampler.join()
        result.wall_s = time.monotonic() - began
        if proc.returncode != 0:
            result.error = (stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        if stats_file.exists():
            result.stats = json.loads(stats_file.read_text())
    return result


def time_to_ui(config: Config, input: Path, timeout: float = 30.0) -> float | None:
    """Seconds from launching the TUI in a pseudo-terminal until its first frame is drawn."""
    import pty

    with tempfile.TemporaryDirectory(prefix="live-bench-ui-") as tmp:
        began = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:  # the child: the TUI, as a user would start it
            os.environ.update({"COLUMNS": "100", "LINES": "30", "TERM": "xterm-256color"})
            os.execv(sys.executable, [sys.executable, "-m", "live", "--input", str(input), "--session-dir", tmp,
                                      "--no-audio", *config.flags()])
        seen = b""
        found: float | None = None
        try:
            while time.monotonic() - began < timeout:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                if b"quit" in seen:  # the footer: the first frame is on screen
                    found = time.monotonic() - began
                    break
        finally:
            for key in (b"q", b"q"):
                try:
                    os.write(fd, key)
                except OSError:
                    pass
                time.sleep(0.5)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            os.close(fd)
        return found


