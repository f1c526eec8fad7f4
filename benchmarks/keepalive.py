"""Does a request on a kept-alive connection cost what one on a new connection does?

    python benchmarks/keepalive.py [--rounds 3] [--requests 20]

Starts `live serve` twice per round — on a plain install's uvicorn stack (h11 and asyncio: httptools
and uvloop hidden, as `pip install -e .` has it) and on the full one (httptools, uvloop) — and times
GET /healthz and GET /v1/models with httpx, on one kept-alive connection and on a new connection each.
Prints the medians (ms) and kept/new ratios. Nagle's algorithm left on shows as ~40 ms (the client's
delayed ACK) on every kept-alive request.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from serve_helpers import ServeProcess  # noqa: E402  (the tests' `live serve` child)


def timed(call, n: int) -> float:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e3


def measure(stack: str, requests: int) -> dict[str, tuple[float, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="keepalive-"))
    env = {}
    if stack == "plain":
        (tmp / "plain").mkdir()
        (tmp / "plain" / "sitecustomize.py").write_text(
            'import sys\nsys.modules["httptools"] = None\nsys.modules["uvloop"] = None\n')
        env = {"PYTHONPATH": f"{tmp / 'plain'}:{REPO}"}
    server = ServeProcess(tmp, None, env=env).start()
    out = {}
    try:
        url = f"http://127.0.0.1:{server.port}"
        auth = {"Authorization": f"Bearer {server.key()}"}
        for path in ("/healthz", "/v1/models"):
            with httpx.Client(base_url=url, headers=auth) as client:
                client.get(path)
                kept = timed(lambda: client.get(path), requests)

            def fresh():
                with httpx.Client(base_url=url, headers=auth) as client:
                    client.get(path)

            out[path] = (kept, timed(fresh, requests))
    finally:
        server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    rows: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for stack in ("plain", "full"):  # alternated: the machine's load falls on both alike
            for path, figures in measure(stack, args.requests).items():
                rows.setdefault((stack, path), []).append(figures)
    print(f"{'stack':6} {'request':12} {'kept-alive ms':>14} {'new conn ms':>12} {'kept/new':>9}")
    for (stack, path), figures in rows.items():
        kept = statistics.median(f[0] for f in figures)
        new = statistics.median(f[1] for f in figures)
        print(f"{stack:6} {path:12} {kept:14.1f} {new:12.1f} {kept / new:9.2f}")


if __name__ == "__main__":
    main()
