"""``live bench --server --streams 1,2,4,8``: how many real-time streams one ``live serve`` holds.

A ``live serve`` starts as a child process (so its CPU is its own, Ray's processes included: they are
its children), then N clients in this process stream different real speech to it at once, paced
like microphones, for ``--stream-seconds`` each. Latency is what a student sees: the wall-clock moment a
final arrives, less the moment its last word ended (``speech_end``, sent at that moment); the same
from the caption's ``end`` (which adds the VAD's tail) is reported beside it. Reported per stream count:
final-latency p50/p95/max, the server's CPU (% of one core, all its processes), and how busy the
whole machine was (other work on shared cores disturbs the figures). ``--ray`` runs the same again
with decoding on two Ray Serve replicas of one thread each.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from live.audio import SAMPLE_RATE, decode_file
from live.bench.longrun import default_clips
from live.bench.replay import Config
from live.captions import Caption
from live.errors import ConfigError
from live.wire.protocol import ErrorMessage, Start, Stop, decode_server, encode, encode_pcm

FRAME_S = 0.1
TARGET_P95_S = 1.5


@dataclass
class Row:
    mode: str
    streams: int
    finals: int = 0
    latencies: list[float] = field(default_factory=list)  # from the end of the speech
    latencies_end: list[float] = field(default_factory=list)  # from the caption's end (speech + tail)
    server_cpu_pct: float = 0.0
    machine_busy_pct: float = 0.0
    errors: list[str] = field(default_factory=list)

    def p(self, q: float) -> float | None:
        if not self.latencies:
            return None
        return float(np.percentile(self.latencies, q))

    def summary(self) -> dict:
        out = asdict(self)
        del out["latencies"], out["latencies_end"]
        out.update(p50_s=self.p(50), p95_s=self.p(95), max_s=max(self.latencies) if self.latencies else None,
                   p95_from_end_s=float(np.percentile(self.latencies_end, 95)) if self.latencies_end else None)
        return out


# --- CPU of a process tree, and of the machine -----------------------------------------------------------


def _tree_cpu_s(root: int) -> float:
    """utime + stime of ``root`` and every process below it, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def _machine_busy() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


# --- the streams -----------------------------------------------------------------------------------------


def speech_for(streams: int, seconds: float, clips: list[Path]) -> list[np.ndarray]:
    """A different stretch of real speech for each stream (talks at different offsets)."""
    audio = [decode_file(p) for p in clips]
    out = []
    for i in range(streams):
        talk = audio[i % len(audio)]
        need = int(seconds * SAMPLE_RATE)
        start = (i // len(audio)) * int(23 * SAMPLE_RATE) % max(1, len(talk) - need)
        piece = talk[start:start + need]
        while len(piece) < need:  # a short clip is looped
            piece = np.concatenate([piece, talk[: need - len(piece)]])
        out.append(piece)
    return out


async def _one(url: str, token: str, audio: np.ndarray, row: Row) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=1 << 22) as ws:
        await ws.send(encode(Start(SAMPLE_RATE, "auto", partials=True)))
        began = time.monotonic()

        async def receive() -> None:
            async for raw in ws:
                message = decode_server(raw)
                if isinstance(message, Caption) and message.kind == "final":
                    now = time.monotonic()
                    row.finals += 1
                    row.latencies.append(now - (began + (message.speech_end or message.end)))
                    row.latencies_end.append(now - (began + message.end))
                elif isinstance(message, ErrorMessage):
                    row.errors.append(message.code)

        receiver = asyncio.create_task(receive())
        step = int(FRAME_S * SAMPLE_RATE)
        for i in range(0, len(audio), step):
            block = audio[i:i + step]
            await asyncio.sleep(max(0.0, began + (i + len(block)) / SAMPLE_RATE - time.monotonic()))
            await ws.send(encode_pcm(block))
        await ws.send(encode(Stop()))
        await asyncio.wait_for(receiver, timeout=120)


async def run_streams(url: str, token: str, audios: list[np.ndarray], row: Row) -> None:
    results = await asyncio.gather(*(_one(url, token, a, row) for a in audios), return_exceptions=True)
    row.errors += [repr(r) for r in results if isinstance(r, BaseException)]


# --- a server to measure ---------------------------------------------------------------------------------


class BenchServer:
    """``live serve`` on a free loopback port with a throwaway key database."""

    def __init__(self, config: Config, ray: bool) -> None:
        self.config, self.ray = config, ray
        self.tmp = Path(tempfile.mkdtemp(prefix="live-bench-serve-"))

    def __enter__(self) -> BenchServer:
        import socket

        from live.serve.keys import KeyStore

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        store = KeyStore(self.tmp / "server.db")
        self.token = store.create("bench", max_streams=64)[1]
        store.close()
        extra = ["--ray", "local", "--ray-replicas", "2", "--threads", "1"] if self.ray else []
        cmd = [sys.executable, "-m", "live", "serve", "--port", str(self.port), "--db", str(self.tmp / "server.db"),
               "--data-dir", str(self.tmp / "data"), *self.config.flags(), *extra, "--log-level", "warning"]
        self.log = open(self.tmp / "serve.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"live serve exited: {(self.tmp / 'serve.log').read_text()[-500:]}")
            if _ready(self.port):
                return self
            time.sleep(0.3)
        raise ConfigError("live serve did not get ready in 5 minutes")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def measure(server: BenchServer, mode: str, streams: int, seconds: float, clips: list[Path]) -> Row:
    row = Row(mode, streams)
    audios = speech_for(streams, seconds, clips)
    cpu0, (busy0, total0), t0 = _tree_cpu_s(server.proc.pid), _machine_busy(), time.monotonic()
    asyncio.run(run_streams(server.url, server.token, audios, row))
    cpu1, (busy1, total1), t1 = _tree_cpu_s(server.proc.pid), _machine_busy(), time.monotonic()
    row.server_cpu_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
    row.machine_busy_pct = 100 * (busy1 - busy0) / max(1.0, total1 - total0) * (os.cpu_count() or 1)
    return row


def server_bench(config: Config, counts: list[int], seconds: float, ray: bool, clips: list[Path] | None = None,
                 log=print) -> list[Row]:
    clips = clips or default_clips()
    rows = []
    for mode in ["local"] + (["ray (2 replicas × 1 thread)"] if ray else []):
        log(f"bench: live serve ({mode}, {config.label}) starting…")
        with BenchServer(config, ray=mode != "local") as server:
            measure(server, mode, 1, 5.0, clips)  # warm-up: first decodes, first connections
            for n in counts:
                log(f"bench: {n} real-time stream(s) of {seconds:g} s…")
                rows.append(measure(server, mode, n, seconds, clips))
    return rows


def print_rows(rows: list[Row], out=sys.stdout) -> None:
    def fmt(v, unit=" s"):
        return "–" if v is None else f"{v:.2f}{unit}"

    print(f"{'mode':32} {'streams':>7} {'finals':>6} {'p50':>8} {'p95':>8} {'max':>8} {'p95 end':>8} "
          f"{'server CPU':>11} {'machine busy':>13}  p95 ≤ {TARGET_P95_S:g} s", file=out)
    for r in rows:
        ok = "yes" if r.p(95) is not None and r.p(95) <= TARGET_P95_S and not r.errors else "no"
        print(f"{r.mode:32} {r.streams:>7} {r.finals:>6} {fmt(r.p(50)):>8} {fmt(r.p(95)):>8} "
              f"{fmt(max(r.latencies) if r.latencies else None):>8} {fmt(r.summary()['p95_from_end_s']):>8} "
              f"{r.server_cpu_pct:>9.0f} % "
              f"{r.machine_busy_pct:>11.0f} %  {ok}{'  errors: ' + ','.join(r.errors[:3]) if r.errors else ''}",
              file=out)
    print("(latency: a final's arrival after the end of its speech; 'p95 end': after its end, VAD tail included)",
          file=out)
    print(f"(CPU in % of one core; this machine has {os.cpu_count() or 1}. On shared cores other work running "
          "at the same time shows in 'machine busy' and disturbs the latencies.)", file=out)


def plot_rows(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode in dict.fromkeys(r.mode for r in rows):
        mine = [r for r in rows if r.mode == mode]
        ax1.plot([r.streams for r in mine], [r.p(95) for r in mine], marker="o", label=mode)
        ax2.plot([r.streams for r in mine], [r.server_cpu_pct for r in mine], marker="o", label=mode)
    ax1.axhline(TARGET_P95_S, color="grey", linestyle="--", label=f"target {TARGET_P95_S:g} s")
    ax1.set(xlabel="concurrent real-time streams", ylabel="final latency p95 (s)", title="Final-caption latency")
    ax2.set(xlabel="concurrent real-time streams", ylabel="server CPU (% of one core)", title="Server CPU")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_xticks(sorted({r.streams for r in rows}))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse_counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise ConfigError(f"--streams {text!r}: write counts such as 1,2,4,8")
    return counts


def bench_server_main(args, config: Config) -> int:
    rows = server_bench(config, parse_counts(args.streams), args.stream_seconds, args.ray,
                        clips=[args.input] if args.input else None,
                        log=lambda text: print(text, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps([r.summary() for r in rows], indent=2))
    else:
        print_rows(rows)
    if args.plot:
        plot_rows(rows, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 1 if any(r.errors for r in rows) else 0


def _ready(port: int) -> bool:
    """``/readyz`` answers 200. The standard library's client: the README's install has no httpx (the
    openai SDK brings its own), and `live bench --server` ended in ModuleNotFoundError."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):  # 503 while loading is an HTTPError, a URLError
        return False
