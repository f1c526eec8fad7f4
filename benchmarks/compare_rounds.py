"""``live bench --compare`` three times, configurations in a rotated order each time, medians printed.

    python benchmarks/compare_rounds.py --rounds 3 -- --input TALK --cold-start \\
        sensevoice:torch@models/sv-full sensevoice:onnx@models/sv-full whisper

Arguments after ``--`` go to ``live bench``; the ones that name configurations (``ENGINE[:BACKEND][@MODEL]``)
are rotated between rounds, so the one that runs first (a cooler machine, an empty page cache) is a
different one each time. Each round's JSON is kept in ``--out``; the table is the median per row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROWS = [
    ("latency p50 from end of speech (s)", "latency_p50_s"),
    ("latency p95 from end of speech (s)", "latency_p95_s"),
    ("latency max (s)", "latency_max_s"),
    ("emitted - end p95 (s)", "latency_end_p95_s"),
    ("segment start -> 1st partial p50 (s)", "first_partial_p50_s"),
    ("ASR RTF, all decodes", ("rtf", "all")),
    ("ASR RTF, 5-10 s segments", ("rtf", "5-10 s")),
    ("CPU while speaking (% core)", "cpu_speech_pct"),
    ("CPU while silent (% core)", "cpu_silence_pct"),
    ("peak memory (MB)", "peak_rss_mb"),
    ("UI on screen (s)", "ui_s"),
    ("first caption after launch (s)", "first_caption_s"),
    ("cold start: first final (s)", "cold_start_s"),
    ("finals", "finals"),
]


def value(summary: dict, key):
    if isinstance(key, tuple):
        return summary.get(key[0], {}).get(key[1])
    return summary.get(key)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ours, bench = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-out/compare"))
    args = parser.parse_args(ours)
    configs = [a for a in bench if not a.startswith("-") and (":" in a or "@" in a or a in ("whisper", "sensevoice"))]
    others = [a for a in bench if a not in configs]
    args.out.mkdir(parents=True, exist_ok=True)
    by_config: dict[str, list[dict]] = {}
    for round_ in range(args.rounds):
        order = configs[round_ % len(configs):] + configs[: round_ % len(configs)]
        print(f"round {round_ + 1}: {' '.join(order)}", flush=True)
        done = subprocess.run([sys.executable, "-m", "live", "bench", *others, "--json", "--compare", *order],
                              capture_output=True, text=True)
        if not done.stdout.strip().startswith("["):
            raise SystemExit(f"live bench failed:\n{done.stderr[-2000:]}")
        (args.out / f"round{round_ + 1}.json").write_text(done.stdout)
        for summary, spec in zip(json.loads(done.stdout), order):
            by_config.setdefault(spec, []).append(summary)
            print(f"  {spec}: p50 {summary.get('latency_p50_s')} p95 {summary.get('latency_p95_s')} "
                  f"rtf {summary.get('rtf', {}).get('all')} error {summary.get('error')}", flush=True)
    width = max(len(name) for name, _ in ROWS) + 2
    col = max(20, *(len(c) + 2 for c in configs))
    print(f"\nmedians of {args.rounds} rotated runs\n" + "".ljust(width) + "".join(c.rjust(col) for c in configs))
    for name, key in ROWS:
        cells = []
        for spec in configs:
            values = [v for s in by_config.get(spec, []) if (v := value(s, key)) is not None]
            cells.append(f"{statistics.median(values):.3g}" if values else "–")
        print(name.ljust(width) + "".join(c.rjust(col) for c in cells))


if __name__ == "__main__":
    main()
