"""Why ``live --share`` serves its room from a process of its own: the same real-time lecture, with the
room as a thread of the sharer's process (the first design) and as a child process (``live.room.process``).

    python benchmarks/room.py [--viewers 500] [--input TALK] [--rounds 3]

Per round: no viewers, then N viewers with the room in a thread, then N with the room in its own
process, alternated. Reported: what one ``publish`` costs the session's thread (median and worst: the
GIL is what a thread-hosted room's fan-out takes from the sharer), the sharer's final-caption latency
against the round's baseline, the room's CPU, delivery. ``live bench --room`` is the product's bench
(a real ``live --share`` process); this one runs the session in this process to time ``publish``.
"""

from __future__ import annotations

import argparse
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

from live.bench.room import delivery  # noqa: E402


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


def run_once(engine, clip: Path, viewers: int, mode: str, work: Path) -> dict:
    from live.captions import Caption
    from live.config import Settings
    from live.events import Finished
    from live.room import AccessOptions
    from live.room.share import ShareOptions
    from live.session import SessionOptions, build_session

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
            return  # the room ends below, once the session is closed
        t = time.perf_counter()
        room.publish(event)
        handing.append(time.perf_counter() - t)

    out = work / f"viewers-{viewers}.json"
    client = None
    _, rss_before = room.usage()
    if viewers:
        client = subprocess.Popen([sys.executable, "-m", "live.bench.room", "--client", "127.0.0.1", str(room.port),
                                   f"/r/{room.code}/events", str(viewers), str(out)], stdout=subprocess.PIPE, text=True)
        if client.stdout.readline().strip() != "ready":
            raise SystemExit(f"the viewers did not connect: exit {client.wait()}")
    _, rss_connected = room.usage()
    settings = Settings(input=clip, engine="whisper", session_dir=work / "sessions", headless=True)
    session = build_session(settings, sink, SessionOptions(notes="off", partials=True),
                            load_engine=lambda _s: (engine, "whisper tiny.en"))
    cpu0, wall0, web0 = sum(os.times()[:2]), time.monotonic(), room.usage()[0]
    session.run()
    wall = time.monotonic() - wall0
    cpu = (sum(os.times()[:2]) - cpu0) / wall
    web_cpu, rss_end = room.usage()
    session.close()
    done.wait(5)
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
        result.update(delivery(got["viewers"], got["connected"], shown), errors=got["errors"][:5],
                      error_count=len(got["errors"]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", default="500")
    parser.add_argument("--input", type=Path, default=REPO.parent / "shared/audio/en/ibm_02_call_center_25sec.flac")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-out/room-design"))
    args = parser.parse_args()
    from live.asr.whisper import WhisperEngine

    counts = [int(n) for n in args.viewers.split(",")]
    configs = [(0, "process")] + [(n, mode) for n in counts for mode in ("thread", "process")]
    args.out.mkdir(parents=True, exist_ok=True)
    engine = WhisperEngine()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            baseline = None
            for n, mode in configs:
                row = run_once(engine, args.input, n, mode, Path(tmp))
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
    print(f"figures: {args.out / 'room.json'}")


if __name__ == "__main__":
    main()
