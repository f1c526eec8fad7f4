"""``live bench``: replay a recording through the whole live pipeline and print what a user feels.

Each configuration runs ``live --headless --json --partials`` in a fresh process (so its load time and
memory are its own) while this process samples its CPU and memory. Reported per configuration:
final-caption latency p50/p95/max (``emitted - end``), delay from a segment's start to its first
partial, ASR real-time factor by segment length, CPU while speaking and while silent, peak memory,
time to the first caption, overflows and backlog; and, from a TUI launched in a pseudo-terminal, the
time until its first frame is on screen. ``--compare`` runs several configurations one after another in the
same run and prints ratios against the first.

``--hours H`` is the long-run mode: real talks and silences looped for H hours of audio, replayed on an
accelerated clock in this process, reporting memory and backlog over time.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from live.audio import SAMPLE_RATE
from live.errors import ConfigError


LENGTH_BINS = ((0, 2), (2, 5), (5, 10), (10, 30))


@dataclass(frozen=True)
class Config:
    """One engine setup: ``engine[:backend][@model]``, e.g. ``sensevoice:onnx@models/sv``."""

    engine: str
    backend: str = "auto"
    model: str | None = None

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
        out = ["--engine", self.engine, "--backend", self.backend]
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
    error: str | None = None

    def latencies(self) -> list[float]:
        return [f["emitted"] - f["end"] for f in self.finals]

    def first_partial_delays(self) -> list[float]:
        first: dict[int, dict] = {}
        for p in self.partials:
            first.setdefault(p["index"], p)
        return [first[f["index"]]["emitted"] - f["start"] for f in self.finals if f["index"] in first]

    def rtf_by_length(self) -> dict[str, float]:
        out = {}
        decodes = [(a, w) for kind, a, w in self.stats.get("decodes", []) if a > 0]
        for lo, hi in LENGTH_BINS:
            inside = [(a, w) for a, w in decodes if lo <= a < hi]
            if inside:
                out[f"{lo}-{hi} s"] = statistics.median(w / a for a, w in inside)
        if decodes:
            out["all"] = sum(w for _, w in decodes) / sum(a for a, _ in decodes)
        return out

    def summary(self) -> dict:
        lat = self.latencies()
        s = self.stats
        pct = lambda xs, q: float(np.percentile(xs, q)) if xs else None  # noqa: E731
        return {
            "config": self.config.label,
            "finals": len(self.finals),
            "latency_p50_s": pct(lat, 50), "latency_p95_s": pct(lat, 95), "latency_max_s": max(lat) if lat else None,
            "first_partial_p50_s": pct(self.first_partial_delays(), 50),
            "rtf": self.rtf_by_length(),
            "cpu_speech_pct": 100 * s["cpu_speech_s"] / s["wall_speech_s"] if s.get("wall_speech_s") else None,
            "cpu_silence_pct": 100 * s["cpu_silence_s"] / s["wall_silence_s"] if s.get("wall_silence_s") else None,
            "peak_rss_mb": self.peak_rss_mb,
            "model_ready_s": s.get("engine_ready_s"),
            "first_caption_s": self.first_caption_s,
            "ui_s": self.ui_s,
            "overflows": s.get("overflows"),
            "max_backlog_s": s.get("max_backlog_s"),
            "error": self.error,
        }


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


def run_config(config: Config, input: Path, *, fast: bool, extra: list[str] | None = None) -> Result:
    """Replay ``input`` through ``live --headless`` with ``config``; sample the process while it runs."""
    result = Result(config)
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp:
        stats_file = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-m", "live", "run", "--headless", "--json", "--partials", "--input", str(input),
               "--session-dir", tmp, "--no-audio", "--stats-file", str(stats_file), *config.flags(), *(extra or [])]
        if fast:
            cmd.append("--fast")
        began = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stop = threading.Event()

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
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if result.first_caption_s is None:
                result.first_caption_s = time.monotonic() - began
            (result.finals if event["type"] == "final" else result.partials).append(event)
        stderr = proc.stderr.read() if proc.stderr else ""
        proc.wait()
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


# --- printing -------------------------------------------------------------------------------------


def _fmt(value, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{unit}"


def print_table(results: list[Result], out=sys.stdout) -> None:
    rows = [
        ("final latency p50", lambda s: _fmt(s["latency_p50_s"], " s")),
        ("final latency p95", lambda s: _fmt(s["latency_p95_s"], " s")),
        ("final latency max", lambda s: _fmt(s["latency_max_s"], " s")),
        ("segment start → 1st partial p50", lambda s: _fmt(s["first_partial_p50_s"], " s")),
        ("ASR RTF (all finals+partials)", lambda s: _fmt(s["rtf"].get("all"), "", 3)),
        *[(f"ASR RTF, {lo}-{hi} s segments", (lambda key: lambda s: _fmt(s["rtf"].get(key), "", 3))(f"{lo}-{hi} s"))
          for lo, hi in LENGTH_BINS],
        ("CPU while speaking (% of a core)", lambda s: _fmt(s["cpu_speech_pct"], " %", 1)),
        ("CPU while silent (% of a core)", lambda s: _fmt(s["cpu_silence_pct"], " %", 1)),
        ("peak memory", lambda s: _fmt(s["peak_rss_mb"], " MB", 0)),
        ("UI on screen after launch", lambda s: _fmt(s["ui_s"], " s")),
        ("model ready after launch", lambda s: _fmt(s["model_ready_s"], " s")),
        ("first caption after launch", lambda s: _fmt(s["first_caption_s"], " s")),
        ("finals", lambda s: str(s["finals"])),
        ("overflows", lambda s: str(s["overflows"])),
        ("max backlog", lambda s: _fmt(s["max_backlog_s"], " s")),
    ]
    summaries = [r.summary() for r in results]
    width = max(len(name) for name, _ in rows) + 2
    col = max(18, *(len(s["config"]) + 2 for s in summaries))
    print("".ljust(width) + "".join(s["config"].rjust(col) for s in summaries), file=out)
    for name, get in rows:
        print(name.ljust(width) + "".join(get(s).rjust(col) for s in summaries), file=out)
    if len(summaries) > 1:
        base = summaries[0]
        print(f"\nratios against {base['config']} (lower is better):", file=out)
        for key, label in (("latency_p95_s", "final latency p95"), ("peak_rss_mb", "peak memory")):
            cells = [(_fmt(s[key] / base[key], "×") if s[key] and base[key] else "–") for s in summaries]
            print(label.ljust(width) + "".join(c.rjust(col) for c in cells), file=out)
        cells = [(_fmt(s["rtf"]["all"] / base["rtf"]["all"], "×") if s["rtf"].get("all") and base["rtf"].get("all")
                  else "–") for s in summaries]
        print("ASR time per audio second".ljust(width) + "".join(c.rjust(col) for c in cells), file=out)
    for s in summaries:
        if s["error"]:
            print(f"\n{s['config']}: failed: {s['error']}", file=out)


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in results:
        ax1.plot([f["end"] for f in r.finals], r.latencies(), marker=".", label=r.config.label)
        decodes = [(a, w) for kind, a, w in r.stats.get("decodes", [])]
        if decodes:
            ax2.scatter([a for a, _ in decodes], [w for _, w in decodes], s=10, label=r.config.label)
    ax1.set(xlabel="audio time (s)", ylabel="final latency: emitted − end (s)", title="Final-caption latency")
    ax2.set(xlabel="segment length (s)", ylabel="decode time (s)", title="Decode time against segment length")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --- long run: hours of audio on an accelerated clock ---------------------------------------------


class LoopSource:
    """Real talks alternated with silence for ``hours`` of audio, released ``speed`` × faster than real time."""

    realtime = True
    overflows = 0

    def __init__(self, clips: list[np.ndarray], hours: float, speed: float, silence_s: float = 60.0) -> None:
        self.clips = clips
        self.total = int(hours * 3600 * SAMPLE_RATE)
        self.speed = speed
        self.silence = np.zeros(int(silence_s * SAMPLE_RATE), np.float32)
        self.handed = 0
        self._t0: float | None = None
        self._cursor = (0, 0)  # (piece number, offset in it)
        self.description = f"loop of {len(clips)} talks, {hours:g} h at ×{speed:g}"

    def start(self) -> None:
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self.total = self.handed

    def stream_time(self) -> float:
        released = (time.monotonic() - (self._t0 or time.monotonic())) * self.speed
        return min(released, self.total / SAMPLE_RATE)

    def _piece(self, n: int) -> np.ndarray:
        return self.clips[(n // 2) % len(self.clips)] if n % 2 == 0 else self.silence

    def read(self, timeout: float) -> np.ndarray | None:
        from live.audio import EndOfStream

        if self.handed >= self.total:
            raise EndOfStream
        available = int(self.stream_time() * SAMPLE_RATE) - self.handed
        if available < 1600:
            time.sleep(min(timeout, 0.1 / self.speed))
            return None
        want = min(available, SAMPLE_RATE, self.total - self.handed)
        out = []
        n, off = self._cursor
        while want > 0:
            piece = self._piece(n)
            take = piece[off:off + want]
            out.append(take)
            want -= len(take)
            off += len(take)
            if off >= len(piece):
                n, off = n + 1, 0
        self._cursor = (n, off)
        block = np.concatenate(out)
        self.handed += len(block)
        return block


def long_run(config: Config, clips: list[Path], hours: float, speed: float, every_min: float = 10.0) -> list[dict]:
    """Run in this process; returns samples of (audio minutes, RSS MB, backlog s, finals)."""
    from live.asr.loader import load_engine
    from live.audio import decode_file
    from live.pipeline import Pipeline, Status

    source = LoopSource([decode_file(p) for p in clips], hours, speed)
    samples: list[dict] = []
    state = {"finals": 0, "next": 0.0}

    def sink(event: object) -> None:
        from live.captions import Caption

        if isinstance(event, Caption) and event.kind == "final" and event.text:
            state["finals"] += 1
        if isinstance(event, Status) and event.clock >= state["next"]:
            state["next"] += every_min * 60
            got = _proc_sample(os.getpid())
            samples.append({"audio_min": event.clock / 60, "rss_mb": got[1] if got else None,
                            "backlog_s": event.backlog_s, "finals": state["finals"]})
            print(f"  {event.clock / 60:6.0f} min  rss {samples[-1]['rss_mb']:7.0f} MB  "
                  f"backlog {event.backlog_s:5.1f} s  finals {state['finals']}", file=sys.stderr, flush=True)

    loader = lambda on_status: load_engine(config.engine, model=config.model, backend=config.backend)  # noqa: E731
    pipeline = Pipeline(lambda: source, loader, sink)
    pipeline.run()
    return samples


def default_clips() -> list[Path]:
    shared = Path(__file__).resolve().parents[2] / "shared" / "audio" / "en"
    talks = [shared / "ibm_08_ibm_watson_ai_3min.flac", shared / "ibm_11_ibm_culture_2min.flac"]
    if all(p.exists() for p in talks):
        return talks
    from live.session import demo_clip

    return [demo_clip()]


# --- the command ----------------------------------------------------------------------------------


def build_parser(sub=None) -> argparse.ArgumentParser:
    kwargs = dict(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p = sub.add_parser("bench", help="measure latency, speed, CPU and memory", **kwargs) if sub else \
        argparse.ArgumentParser(prog="live bench", **kwargs)
    p.add_argument("--input", "-i", type=Path, help="recording to replay (default: the 3-min talk in ../shared, "
                   "else the demo clip)")
    p.add_argument("--engine", default="auto", help="engine of the single configuration (default auto)")
    p.add_argument("--backend", default="auto", help="SenseVoice backend of the single configuration")
    p.add_argument("--model", help="model of the single configuration")
    p.add_argument("--compare", nargs="+", metavar="ENGINE[:BACKEND][@MODEL]",
                   help="run these configurations one after another, e.g. sensevoice:torch@DIR sensevoice:onnx@DIR whisper")
    p.add_argument("--fast", action="store_true", help="replay as fast as possible instead of in real time")
    p.add_argument("--no-ui", action="store_true", help="skip the time-to-UI measurement")
    p.add_argument("--plot", type=Path, metavar="PNG", help="draw latency over time and decode time against length")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--hours", type=float, help="long-run mode: this many hours of talks and silences, accelerated")
    p.add_argument("--speed", type=float, default=20.0, help="long-run clock acceleration (default ×20)")
    return p


def bench_main(args: argparse.Namespace) -> int:
    configs = [Config.parse(c) for c in args.compare] if args.compare else \
        [Config(args.engine, args.backend, args.model)]
    if args.hours:
        clips = [args.input] if args.input else default_clips()
        print(f"long run: {args.hours:g} h of {', '.join(p.name for p in clips)} with 60 s silences, "
              f"×{args.speed:g}, {configs[0].label}", file=sys.stderr)
        samples = long_run(configs[0], clips, args.hours, args.speed, every_min=args.hours * 60 / 24)
        rss = [s["rss_mb"] for s in samples if s["rss_mb"]]
        half = rss[len(rss) // 2:]
        report = {
            "config": configs[0].label, "hours": args.hours, "speed": args.speed, "samples": samples,
            "rss_first_mb": rss[0] if rss else None, "rss_last_mb": rss[-1] if rss else None,
            "rss_max_mb": max(rss) if rss else None,
            "rss_second_half_spread_mb": (max(half) - min(half)) if half else None,
            "max_backlog_s": max(s["backlog_s"] for s in samples) if samples else None,
        }
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"memory: first {report['rss_first_mb']:.0f} MB, last {report['rss_last_mb']:.0f} MB, "
                  f"max {report['rss_max_mb']:.0f} MB, spread over the second half {report['rss_second_half_spread_mb']:.0f} MB;"
                  f" max backlog {report['max_backlog_s']:.1f} s")
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(8, 4))
            ax.plot([s["audio_min"] / 60 for s in samples], [s["rss_mb"] for s in samples], label="RSS (MB)")
            ax2 = ax.twinx()
            ax2.plot([s["audio_min"] / 60 for s in samples], [s["backlog_s"] for s in samples], "r--", label="backlog (s)")
            ax.set(xlabel="audio hours", ylabel="RSS (MB)", title=f"Long run: {configs[0].label}")
            ax2.set_ylabel("backlog (s)")
            fig.tight_layout()
            fig.savefig(args.plot, dpi=110)
        return 0

    input = args.input or default_clips()[0]
    if not input.exists():
        raise ConfigError(f"{input}: no such file")
    results = []
    for config in configs:
        print(f"bench: {config.label} on {input.name} ({'fast' if args.fast else 'real time'})…", file=sys.stderr,
              flush=True)
        result = run_config(config, input, fast=args.fast)
        if not args.no_ui:
            result.ui_s = time_to_ui(config, input)
        results.append(result)
    if args.json:
        print(json.dumps([r.summary() for r in results], indent=2))
    else:
        print_table(results)
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 1 if any(r.error for r in results) else 0
