"""How many viewers can a room hold, and does it slow the lecturer's own captions?

    python benchmarks/room.py [--viewers 50,200,500] [--input TALK] [--rounds 1] [--out bench-out/room]

Each round replays a real talk in real time through a real session (Whisper tiny.en, partials on, as
the TUI runs it) whose events are teed to a room served by a real uvicorn, as ``live --share`` does;
first with no viewer (the baseline), then with each viewer count. The viewers are real HTTP clients in
a separate process (asyncio, raw sockets) that connect before the talk starts and read the event
stream to its end. Reported per count: delivery delay from the moment the sharer's front end had an
event (its own screen) to the moment a viewer read it, p50/p95/max, for finals and for all captions;
the share of partials each viewer got (slow ones skip partials) and of finals (must be all); the
sharer's own final-caption latency (``emitted - speech_end``) against the baseline of the same round;
the sharer process's memory per viewer. Writes a plot, the figures as JSON, and screenshots of the
page at phone and projector sizes (headless Chromium) for a person to look at.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]


# --- the viewers' process ----------------------------------------------------------------------------


async def _viewer(host: str, port: int, path: str, reads: list, ready: asyncio.Event, counter: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    counter[0] += 1
    if counter[0] == counter[1]:
        ready.set()
    while True:
        data = await reader.read(1 << 16)
        if not data:
            break
        reads.append((time.monotonic(), data))  # parsed afterwards: this loop only reads
        if b'"k":"end"' in data:
            break
    writer.close()


def _parse(reads: list[tuple[float, bytes]]) -> list[tuple[float, str, int, str]]:
    """(time read, kind, index, text) of each caption event a viewer read."""
    out, buffer = [], b""
    for at, data in reads:
        buffer += data
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event.get("k") in ("p", "f"):
                        out.append((at, event["k"], event["i"], event["t"]))
    return out


def client_main(host: str, port: int, path: str, count: int, out: str) -> None:
    """Connect ``count`` viewers, say "ready" on stdout, read to the end, write what each read."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def run() -> list:
        ready = asyncio.Event()
        counter = [0, count]
        reads: list[list] = [[] for _ in range(count)]
        tasks = []
        for i in range(count):
            tasks.append(asyncio.ensure_future(_viewer(host, port, path, reads[i], ready, counter)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # a hall fills over a minute, not in one instant
        await asyncio.wait_for(ready.wait(), 60)
        print("ready", flush=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [repr(r) for r in results if isinstance(r, Exception)]
        return [reads, errors]

    reads, errors = asyncio.run(run())
    cpu = sum(os.times()[:2])
    Path(out).write_text(json.dumps({"viewers": [_parse(r) for r in reads], "errors": errors, "cpu_s": round(cpu, 2)}))


# --- the sharer: a real session, a real room ------------------------------------------------------


def proc_stat(pid: int | str = "self", task: int | None = None) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process, or of one of its threads (``task``: its native id)."""
    base = Path(f"/proc/{pid}") / (f"task/{task}" if task else "")
    try:
        fields = (base / "stat").read_text().rsplit(")", 1)[1].split()
        rss = next(int(line.split()[1]) / 1024 for line in (Path(f"/proc/{pid}") / "status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0.0, 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), rss


class ThreadRoom:
    """The room in a thread of the sharer's process (the design ``SharedRoom`` replaced), for comparison."""

    def __init__(self, share_options) -> None:
        from live.room import Room, RoomOptions
        from live.room.share import ShareServer

        self.room = Room(RoomOptions(title="Benchmark lecture"))
        self.server = ShareServer(self.room, share_options)

    def start(self) -> str:
        return self.server.start()

    def publish(self, event: object) -> None:
        self.room.publish(event)

    def finish(self, timeout: float) -> bool:
        return self.server.close(timeout=timeout)

    @property
    def code(self) -> str:
        return self.room.code

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def usage(self) -> tuple[float, float]:
        """CPU seconds of the web server's thread, and this whole process's RSS."""
        return proc_stat("self", self.server._thread.native_id)[0], proc_stat("self")[1]


class ProcessRoom:
    """``live --share``'s room: in its own process (``live.room.process.SharedRoom``)."""

    def __init__(self, share_options) -> None:
        from live.room import RoomOptions
        from live.room.process import SharedRoom

        self.shared = SharedRoom(share_options, RoomOptions(title="Benchmark lecture"))
        self.publish = self.shared.publish

    def start(self) -> str:
        return self.shared.start()

    def finish(self, timeout: float) -> bool:
        return self.shared.finish(timeout=timeout)

    code = property(lambda self: self.shared.code)
    port = property(lambda self: self.shared.port)
    url = property(lambda self: self.shared.url)

    def usage(self) -> tuple[float, float]:
        """CPU seconds and RSS of the room's process."""
        return proc_stat(self.shared._process.popen.pid)


def run_once(engine, clip: Path, viewers: int, mode: str, work: Path, screenshots: Path | None = None) -> dict:
    from live.captions import Caption
    from live.config import Settings
    from live.events import Finished
    from live.room import AccessOptions
    from live.room.share import ShareOptions
    from live.session import build_session

    options = ShareOptions(port=0, access=AccessOptions(per_address=viewers + 10, max_viewers=viewers + 10))
    room = (ThreadRoom if mode == "thread" else ProcessRoom)(options)
    room.start()
    shown: dict[tuple, float] = {}
    finals: list[Caption] = []
    handing: list[float] = []  # seconds each publish took on the session's thread
    done = threading.Event()

    def sink(event: object) -> None:
        if isinstance(event, Caption) and event.text.strip():
            shown.setdefault((event.kind[0], event.index, event.text.strip()), time.monotonic())
            if event.kind == "final":
                finals.append(event)
        if isinstance(event, Finished):
            done.set()
            return  # the room ends after the screenshots
        t = time.perf_counter()
        room.publish(event)
        handing.append(time.perf_counter() - t)

    out = work / f"viewers-{viewers}.json"
    client = None
    _, rss_before = room.usage()
    if viewers:
        client = subprocess.Popen([sys.executable, __file__, "--client", "127.0.0.1", str(room.port),
                                   f"/r/{room.code}/events", str(viewers), str(out)], stdout=subprocess.PIPE, text=True)
        if client.stdout.readline().strip() != "ready":
            raise SystemExit(f"the viewers did not connect: exit {client.wait()}")
    _, rss_connected = room.usage()
    settings = Settings(input=clip, engine="whisper", session_dir=work / "sessions", headless=True)
    session = build_session(settings, sink, load_engine=lambda _s: (engine, "whisper tiny.en"), notes="off",
                            partials=True)
    cpu0, wall0, web0 = sum(os.times()[:2]), time.monotonic(), room.usage()[0]
    session.run()
    wall = time.monotonic() - wall0
    cpu = (sum(os.times()[:2]) - cpu0) / wall
    web_cpu, rss_end = room.usage()
    session.close()
    done.wait(5)
    if screenshots is not None:
        take_screenshots(room.url, screenshots)
    room.publish(Finished(None))
    delivered = room.finish(timeout=20)
    result = {"viewers": viewers, "mode": mode, "finals": len(finals), "sharer_cpu_pct": round(cpu * 100, 1),
              "web_cpu_pct": round((web_cpu - web0) / wall * 100, 1), "delivered_all": delivered,
              "sharer_latency_s": [round(c.latency, 3) for c in finals],
              "rss_before_mb": rss_before, "rss_connected_mb": rss_connected, "rss_end_mb": rss_end,
              "publish_us_p50": round(float(np.median(handing)) * 1e6, 1) if handing else None,
              "publish_us_max": round(max(handing) * 1e6, 1) if handing else None}
    if client is not None:
        client.wait(60)
        got = json.loads(out.read_text())
        result["viewers_cpu_s"] = got["cpu_s"]
        result.update(delivery(got["viewers"], shown), errors=got["errors"][:5], error_count=len(got["errors"]))
    return result


def delivery(viewers: list[list], shown: dict[tuple, float]) -> dict:
    finals_delay, all_delay, partial_share, final_share = [], [], [], []
    partials_sent = sum(1 for k in shown if k[0] == "p")
    finals_sent = sum(1 for k in shown if k[0] == "f")
    for events in viewers:
        seen_p = seen_f = 0
        had = set()
        for at, kind, index, text in events:
            t0 = shown.get((kind, index, text))
            if t0 is None or (kind, index, text) in had:
                continue
            had.add((kind, index, text))
            all_delay.append(at - t0)
            if kind == "f":
                finals_delay.append(at - t0)
                seen_f += 1
            else:
                seen_p += 1
        partial_share.append(seen_p / max(1, partials_sent))
        final_share.append(seen_f / max(1, finals_sent))

    def pct(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)) * 1000, 1) if values else None

    return {"final_p50_ms": pct(finals_delay, 50), "final_p95_ms": pct(finals_delay, 95),
            "final_max_ms": round(max(finals_delay) * 1000, 1) if finals_delay else None,
            "all_p50_ms": pct(all_delay, 50), "all_p95_ms": pct(all_delay, 95),
            "partials_read": round(float(np.mean(partial_share)), 3), "finals_read_min": round(min(final_share), 3)}


def take_screenshots(url: str, folder: Path) -> None:
    from devtools.browser import PHONE, PROJECTOR, available, chromium, screenshot, set_size

    missing = available()
    if missing:
        print(f"no screenshots: {missing}", file=sys.stderr)
        return
    folder.mkdir(parents=True, exist_ok=True)
    with chromium(PHONE) as browser:
        for name, size, query in (("phone", PHONE, ""), ("projector", PROJECTOR, "?view=projector"),
                                  ("laptop", PROJECTOR, "")):
            set_size(browser, size)
            browser.get(url + query)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not browser.execute_script(
                    "return document.querySelectorAll('#captions > p').length"):
                time.sleep(0.1)
            time.sleep(0.5)
            screenshot(browser, folder / f"{name}.png")
    print(f"screenshots: {folder}/phone.png, projector.png, laptop.png", file=sys.stderr)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted({r["viewers"] for r in rows if r["viewers"]})
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("final_p50_ms", "finals p50"), ("final_p95_ms", "finals p95"), ("all_p95_ms", "all captions p95")):
        ax.plot(counts, [np.median([r[key] for r in rows if r["viewers"] == n]) for n in counts], marker="o", label=label)
    ax.axhline(150, color="grey", linestyle="--", label="goal p95 150 ms")
    ax.set_xlabel("viewers on loopback")
    ax.set_ylabel("delivery after the sharer's screen (ms)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", default="50,200,500")
    parser.add_argument("--input", type=Path, default=REPO.parent / "shared/audio/en/ibm_02_call_center_25sec.flac")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--thread", action="store_true",
                        help="also run the largest count with the room in a thread of the sharer's process")
    parser.add_argument("--out", type=Path, default=Path("bench-out/room"))
    parser.add_argument("--client", nargs=5, metavar=("HOST", "PORT", "PATH", "N", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        host, port, path, count, out = args.client
        client_main(host, int(port), path, int(count), out)
        return
    from live.asr.whisper import WhisperEngine

    counts = [int(n) for n in args.viewers.split(",")]
    configs = [(0, "process")] + [(n, "process") for n in counts] + ([(counts[-1], "thread")] if args.thread else [])
    args.out.mkdir(parents=True, exist_ok=True)
    engine = WhisperEngine()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            baseline = None
            for n, mode in configs:
                last = round_ == args.rounds - 1 and (n, mode) == (counts[-1], "process")
                row = run_once(engine, args.input, n, mode, Path(tmp), args.out if last else None)
                row["round"] = round_
                lat = row["sharer_latency_s"]
                row["sharer_p50_s"] = round(float(np.median(lat)), 3) if lat else None
                if n == 0:
                    baseline = row["sharer_p50_s"]
                row["sharer_change_s"] = None if baseline is None or row["sharer_p50_s"] is None else round(
                    row["sharer_p50_s"] - baseline, 3)
                row["kb_per_viewer"] = round((row["rss_end_mb"] - row["rss_before_mb"]) * 1024 / n, 1) if n else None
                row["kb_per_viewer_connected"] = round((row["rss_connected_mb"] - row["rss_before_mb"]) * 1024 / n,
                                                       1) if n else None
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "sharer_latency_s"}), file=sys.stderr, flush=True)
    (args.out / "room.json").write_text(json.dumps(rows, indent=1))
    print(f"\nroom: {args.input.name} in real time, Whisper tiny.en with partials, {os.cpu_count()} cores, "
          f"{args.rounds} round(s), medians over rounds; delivery after the sharer's screen")
    print(f"{'viewers':>12}  {'final p50':>9}  {'final p95':>9}  {'all p95':>8}  {'partials':>8}  {'finals':>6}  "
          f"{'sharer p50':>10}  {'change':>7}  {'KB/viewer':>9}  {'room CPU':>8}  {'publish max':>11}")
    for n, mode in configs:
        mine = [r for r in rows if (r["viewers"], r["mode"]) == (n, mode)]

        def med(key: str) -> float:
            values = [r[key] for r in mine if r.get(key) is not None]
            return float(np.median(values)) if values else float("nan")

        name = f"{n}{' (thread)' if mode == 'thread' else ''}"
        print(f"{name:>12}  {med('final_p50_ms'):>7.1f}ms  {med('final_p95_ms'):>7.1f}ms  {med('all_p95_ms'):>6.1f}ms  "
              f"{med('partials_read'):>8.0%}  {med('finals_read_min'):>6.0%}  {med('sharer_p50_s'):>9.2f}s  "
              f"{med('sharer_change_s'):>+6.2f}s  {med('kb_per_viewer'):>9.1f}  {med('web_cpu_pct'):>7.1f}%  "
              f"{med('publish_us_max') / 1000:>9.2f}ms")
    if counts:
        plot([r for r in rows if r["mode"] == "process"], args.out / "delivery.png")
        print(f"plot: {args.out / 'delivery.png'}; figures: {args.out / 'room.json'}")


if __name__ == "__main__":
    main()
