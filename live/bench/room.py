"""``live bench --room --viewers 50,200,500``: how many viewers a shared room holds, and whether they
slow the lecturer's own captions.

Each count runs ``live --headless --json --partials --share`` in a fresh process replaying a recording in
real time (the sharer); N viewers connect from a separate process (asyncio, raw sockets) as soon as
it prints its ``share:`` line and read the event stream to its end. Delivery is measured from the
moment a caption's JSON line reached this process from the sharer's stdout (its own screen) to the
moment a viewer read it (CLOCK_MONOTONIC is shared by the processes), for events shown after that
viewer connected. The baseline is the same run without ``--share``; the sharer's final-caption
latency (``emitted - speech_end``) of each count is compared with the baseline of its round. Memory
per viewer is the room process's RSS growth divided by N. The last round's largest count also saves
screenshots of its page at phone, projector and laptop sizes (headless Chromium, if installed).
"""

from __future__ import annotations

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

from live.bench.replay import Config

GOAL_P95_MS = 150.0


# --- the viewers: ``python -m live.bench.room --client HOST PORT PATH N OUT`` -----------------------------


async def _viewer(host: str, port: int, path: str, reads: list, connected: list, ready: asyncio.Event,
                  count: list, number: int) -> None:
    # Each viewer from its own loopback address (127.0.0.2 on), as each phone in a hall has its own:
    # the room's per-address limit holds as it would there.
    source = (f"127.0.{1 + number // 250}.{2 + number % 250}", 0) if host.startswith("127.") else None
    reader, writer = await asyncio.open_connection(host, port, local_addr=source)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    connected.append(time.monotonic())
    count[0] += 1
    if count[0] == count[1]:
        ready.set()
    while data := await reader.read(1 << 16):
        reads.append((time.monotonic(), data))  # parsed afterwards: this loop only reads
        if b'"k":"end"' in data:
            break
    writer.close()


def _parse(reads: list[tuple[float, bytes]]) -> list[tuple[float, str, int, str]]:
    """(time read, kind, index, text) of each caption a viewer read."""
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

    async def run() -> tuple[list, list, list]:
        ready, counter = asyncio.Event(), [0, count]
        reads: list[list] = [[] for _ in range(count)]
        connected: list[list] = [[] for _ in range(count)]
        tasks = []
        for i in range(count):
            tasks.append(asyncio.ensure_future(_viewer(host, port, path, reads[i], connected[i], ready, counter, i)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # a hall fills over a minute, not in one instant
        await asyncio.wait_for(ready.wait(), 60)
        print("ready", flush=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return reads, connected, [repr(r) for r in results if isinstance(r, Exception)]

    reads, connected, errors = asyncio.run(run())
    Path(out).write_text(json.dumps({"viewers": [_parse(r) for r in reads], "connected": [c[0] if c else None
                                     for c in connected], "errors": errors, "cpu_s": round(sum(os.times()[:2]), 2)}))


# --- the sharer -----------------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process; zeros once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = next(int(line.split()[1]) / 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0.0, 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), rss


def room_process(pid: int) -> int | None:
    """The sharer's room process (``python -m live.room.child``), by its command line."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            if b"live.room.child" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
        except OSError:
            continue
    return None


def start_sharer(config: Config, clip: Path, work: Path, share: bool) -> tuple[subprocess.Popen, list[str]]:
    """``live --headless --json --partials`` replaying ``clip``; with ``share``, its URL once printed."""
    cmd = [sys.executable, "-m", "live", "run", "--headless", "--json", "--partials", "--input", str(clip),
           "--session-dir", str(work), "--no-audio", *config.flags()]
    if share:
        cmd += ["--share", "--share-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url: list[str] = []
    have_url = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            if line.startswith("share: ") and not url:
                url.append(line.split(" ", 1)[1].strip())
                have_url.set()
        have_url.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    if share:
        have_url.wait(120)
        if not url:
            raise SystemExit(f"the sharer printed no share: line (exit {proc.wait()})")
    return proc, url


def run_sharer(config: Config, clip: Path, viewers: int, work: Path) -> dict:
    """One real-time replay, shared with ``viewers`` viewers (0: not shared at all, the baseline)."""
    proc, url = start_sharer(config, clip, work, share=bool(viewers))
    shown: dict[tuple, float] = {}
    finals: list[dict] = []
    client = room = None
    out = work / f"viewers-{viewers}.json"
    usage: list[tuple[float, float]] = []  # the room process's (CPU s, RSS MB), sampled
    stop = threading.Event()
    if viewers:
        base, code = url[0].split("/r/")
        host, port = base.split("//", 1)[1].rsplit(":", 1)
        room = room_process(proc.pid)
        usage.append(proc_stat(room) if room else (0.0, 0.0))
        client = subprocess.Popen([sys.executable, "-m", "live.bench.room", "--client", host, port,
                                   f"/r/{code}/events", str(viewers), str(out)], stdout=subprocess.PIPE, text=True)
        if client.stdout.readline().strip() != "ready":
            raise SystemExit(f"the viewers did not connect: exit {client.wait()}")

        def sample() -> None:
            while room and not stop.wait(0.5):
                got = proc_stat(room)
                if got[1]:
                    usage.append(got)

        threading.Thread(target=sample, daemon=True).start()
    for line in proc.stdout:  # the sharer's own screen
        now = time.monotonic()
        caption = json.loads(line)
        if caption.get("text", "").strip():
            shown.setdefault((caption["type"][0], caption["index"], caption["text"].strip()), now)
            if caption["type"] == "final":
                finals.append(caption)
    stop.set()
    proc.wait()
    latencies = [f["emitted"] - f["speech_end"] for f in finals if f.get("speech_end") is not None]
    row = {"viewers": viewers, "finals": len(finals), "sharer_p50_s": _pct(latencies, 50, 1),
           "sharer_p95_s": _pct(latencies, 95, 1), "exit": proc.returncode}
    if client is not None:
        client.wait(60)
        got = json.loads(out.read_text())
        rss = [u[1] for u in usage]
        row.update(delivery(got["viewers"], got["connected"], shown), viewers_cpu_s=got["cpu_s"],
                   errors=len(got["errors"]), room_cpu_s=round(max(u[0] for u in usage), 2),
                   kb_per_viewer=round((max(rss) - rss[0]) * 1024 / viewers, 1) if len(rss) > 1 else None)
    return row


def screenshot_run(config: Config, clip: Path, work: Path, folder: Path, finals: int = 6) -> None:
    """A shared replay (not measured) until ``finals`` finals are out or 70 % of the clip is said,
    then the page's screenshots."""
    import signal

    import soundfile

    enough_s = 0.7 * soundfile.info(str(clip)).duration
    proc, url = start_sharer(config, clip, work, share=True)
    seen = 0
    for line in proc.stdout:
        caption = json.loads(line)
        seen += caption.get("type") == "final" and bool(caption.get("text"))
        if seen >= finals or (seen and caption.get("end", 0) >= enough_s):
            take_screenshots(url[0], folder)
            break
    proc.send_signal(signal.SIGINT)  # ends cleanly, as Ctrl-C would
    proc.communicate(timeout=60)


def _pct(values: list[float], q: float, scale: float) -> float | None:
    return round(float(np.percentile(values, q)) * scale, 3) if values else None


def delivery(viewers: list[list], connected: list, shown: dict[tuple, float]) -> dict:
    """Delivery after the sharer's screen, for what each viewer was connected for."""
    finals, everything, partial_share, final_share = [], [], [], []
    for events, since in zip(viewers, connected):
        since = since or 0.0
        due = {k for k, t in shown.items() if t >= since}
        had: set[tuple] = set()
        for at, kind, index, text in events:
            key = (kind, index, text)
            if key in had or key not in due:
                continue
            had.add(key)
            delay = (at - shown[key]) * 1000
            everything.append(delay)
            if kind == "f":
                finals.append(delay)
        if any(k[0] == "p" for k in due):  # a decoder that is behind makes no partials at all
            partial_share.append(sum(k[0] == "p" for k in had) / sum(k[0] == "p" for k in due))
        final_share.append(sum(k[0] == "f" for k in had) / max(1, sum(k[0] == "f" for k in due)))
    return {"final_p50_ms": _pct(finals, 50, 1), "final_p95_ms": _pct(finals, 95, 1),
            "all_p50_ms": _pct(everything, 50, 1), "all_p95_ms": _pct(everything, 95, 1),
            "max_ms": round(max(everything), 1) if everything else None,
            "partials_read": round(float(np.mean(partial_share)), 3) if partial_share else None,
            "finals_read_min": round(min(final_share), 3) if final_share else None}


def take_screenshots(url: str, folder: Path) -> None:
    """The page as a phone, the projector view and a laptop show it, for a person to look at."""
    from live.bench.browser import LAPTOP, PHONE, PROJECTOR, available, chromium, screenshot, set_size

    missing = available()
    if missing:
        print(f"bench: no screenshots: {missing}", file=sys.stderr)
        return
    folder.mkdir(parents=True, exist_ok=True)
    with chromium(PHONE) as browser:
        for name, size, query in (("phone", PHONE, ""), ("projector", PROJECTOR, "?view=projector"),
                                  ("laptop", LAPTOP, "")):
            set_size(browser, size)
            browser.get(url + query)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not browser.execute_script(
                    "return document.querySelectorAll('#captions > p').length"):
                time.sleep(0.1)
            screenshot(browser, folder / f"room-{name}.png")
    print(f"bench: screenshots in {folder}: room-phone.png, room-projector.png, room-laptop.png", file=sys.stderr)


# --- the command ------------------------------------------------------------------------------------------


def bench_room_main(args, config: Config) -> int:
    from live.bench.longrun import default_clips

    counts = [int(n) for n in str(args.viewers).split(",") if n.strip()]
    clip = args.input or default_clips()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for round_ in range(args.rounds):
        baseline = None
        for n in [0, *counts]:
            with tempfile.TemporaryDirectory(prefix="live-bench-room-") as tmp:
                print(f"bench: room, {n or 'no'} viewers, round {round_ + 1}…", file=sys.stderr, flush=True)
                row = run_sharer(config, clip, n, Path(tmp))
            row["round"] = round_
            if n == 0:
                baseline = row["sharer_p50_s"]
            elif baseline is not None and row["sharer_p50_s"] is not None:
                row["sharer_change_s"] = round(row["sharer_p50_s"] - baseline, 3)
            rows.append(row)
    with tempfile.TemporaryDirectory(prefix="live-bench-room-") as tmp:
        screenshot_run(config, clip, Path(tmp), out)
    (out / "room.json").write_text(json.dumps(rows, indent=1))
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print_room_table(rows, counts, clip, config, args.rounds)
    if counts:
        plot_room(rows, counts, out / "room-delivery.png")
        print(f"plot: {out / 'room-delivery.png'}; figures: {out / 'room.json'}",
              file=sys.stderr if args.json else sys.stdout)
    return 0


def _median(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.median(values)) if values else float("nan")


def print_room_table(rows: list[dict], counts: list[int], clip: Path, config: Config, rounds: int) -> None:
    print(f"room: {clip.name} in real time, {config.label} with partials, {os.cpu_count()} cores, {rounds} round(s); "
          f"medians over rounds; delivery after the sharer's own screen (goal p95 ≤ {GOAL_P95_MS:g} ms)")
    print(f"{'viewers':>7}  {'final p50':>9}  {'final p95':>9}  {'all p95':>8}  {'max':>7}  {'partials':>8}  "
          f"{'finals':>6}  {'sharer p50':>10}  {'change':>7}  {'KB/viewer':>9}  {'room CPU':>8}")
    for n in [0, *counts]:
        mine = [r for r in rows if r["viewers"] == n]
        if not n:  # the baseline: no room, so only the sharer's own latency
            print(f"{'none':>7}  {'—':>9}  {'—':>9}  {'—':>8}  {'—':>7}  {'—':>8}  {'—':>6}  "
                  f"{_median(mine, 'sharer_p50_s'):>9.2f}s  {'—':>7}  {'—':>9}  {'—':>8}")
            continue
        print(f"{n:>7}  {_median(mine, 'final_p50_ms'):>7.1f}ms  {_median(mine, 'final_p95_ms'):>7.1f}ms"
              f"  {_median(mine, 'all_p95_ms'):>6.1f}ms  {_median(mine, 'max_ms'):>5.0f}ms  "
              f"{_median(mine, 'partials_read'):>8.0%}  {_median(mine, 'finals_read_min'):>6.0%}  "
              f"{_median(mine, 'sharer_p50_s'):>9.2f}s  {_median(mine, 'sharer_change_s'):>+6.2f}s  "
              f"{_median(mine, 'kb_per_viewer'):>9.1f}  {_median(mine, 'room_cpu_s'):>7.1f}s")


def plot_room(rows: list[dict], counts: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("final_p50_ms", "finals p50"), ("final_p95_ms", "finals p95"), ("all_p95_ms", "all p95")):
        ax.plot(counts, [_median([r for r in rows if r["viewers"] == n], key) for n in counts], marker="o", label=label)
    ax.axhline(GOAL_P95_MS, color="grey", linestyle="--", label=f"goal p95 {GOAL_P95_MS:g} ms")
    ax.set(xlabel="viewers (loopback)", ylabel="delivery after the sharer's screen (ms)", title="live --share")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        host, port, path, count, out = sys.argv[2:7]
        client_main(host, int(port), path, int(count), out)
