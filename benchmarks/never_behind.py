"""Never behind: final-caption latency from the end of speech on every engine, on 2 cores, 1 core, and 1
core shared with a busy program — the table of issue 17's closing note.

    python benchmarks/never_behind.py [--sensevoice DIR] [--machines 2,1,1+1] [--only default-en,...]

Each row replays a clip in real time through ``live --headless --json --partials`` (as ``live bench``
does: live.bench.replay) and prints p50/p95/max of ``emitted - speech_end`` over its finals (p95
nearest-rank: on a 30 s clip that is its slowest final), the session's largest lag (how long the oldest
uncaptioned speech waited) and the governor's steps. The default rows run what ``live`` picks with no
flags on this machine (``--language auto``; without SenseVoice weights, Whisper). Rows run one after
another, never two at once: the cores are what is measured.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from live.bench.replay import Config, Machine, run_config  # noqa: E402

SHARED = REPO.parent / "shared" / "audio"
DEMO = REPO / "live" / "data"


def rows(sensevoice: str | None) -> dict[str, tuple[Config, Path]]:
    """name -> (configuration, clip)."""
    out = {
        "default-en": (Config("auto"), DEMO / "demo.flac"),
        "default-zh": (Config("auto"), DEMO / "demo-zh.flac"),
        "default-talk": (Config("auto"), SHARED / "en" / "ibm_11_ibm_culture_2min.flac"),
        "tiny.en-talk": (Config("whisper", language="en"), SHARED / "en" / "ibm_11_ibm_culture_2min.flac"),
    }
    if sensevoice:
        out["sensevoice-int8-talk"] = (Config("sensevoice", "onnx", sensevoice, language="en"),
                                       SHARED / "en" / "ibm_11_ibm_culture_2min.flac")
    return out


def machine(text: str) -> Machine:
    cores, _, load = text.partition("+")
    return Machine(int(cores), int(load or 0))


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensevoice", help="a SenseVoice folder with its ONNX int8 export (devtools/sensevoice_model.py "
                        "full, then live models prepare --model DIR): speed only, its weights are random")
    parser.add_argument("--machines", default="2,1,1+1", help="cores[+busy programs], comma-separated")
    parser.add_argument("--only", help="row names, comma-separated (default: all)")
    args = parser.parse_args(argv)
    table = rows(args.sensevoice)
    names = args.only.split(",") if args.only else list(table)
    print(f"{'row':<22} {'machine':<16} {'finals':>6} {'p50':>6} {'p95':>6} {'max':>6} {'lag max':>8}  governor")
    failed = 0
    for name in names:
        config, clip = table[name]
        for spec in args.machines.split(","):
            where = machine(spec)
            result = run_config(config, clip, fast=False, machine=where)
            lat = result.latencies()
            if result.error or not lat:
                failed += 1
                print(f"{name:<22} {where.label:<16} failed: {result.error or 'no finals'}", flush=True)
                continue
            s = result.stats
            steps = f"{s.get('governor_steps') or 0} steps, deepest: {s.get('deepest_shed') or 'none'}"
            print(f"{name:<22} {where.label:<16} {len(lat):>6} {nearest_rank(lat, 50):>5.2f}s {nearest_rank(lat, 95):>5.2f}s "
                  f"{max(lat):>5.2f}s {s.get('max_lag_s') or 0:>7.2f}s  {steps}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
