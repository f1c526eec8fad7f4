"""``live bench``: runs the measurements its options ask for (the options: ``live.cli.bench``)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from live.bench.coldstart import cold_start
from live.bench.longrun import default_clips, long_run
from live.bench.replay import Config, Machine, run_config, time_to_ui
from live.bench.report import plot, print_table
from live.errors import ConfigError

def bench_main(args: argparse.Namespace) -> int:
    configs = [Config.parse(c) for c in args.compare] if args.compare else \
        [Config(args.engine, args.backend, args.model)]
    configs = [replace(c, language=args.language) for c in configs]
    if args.server:
        from live.bench.server import bench_server_main

        return bench_server_main(args, configs[0])
    if args.room:
        from live.bench.room import bench_room_main

        return bench_room_main(args, configs[0])
    if args.hours:
        clips = [args.input] if args.input else default_clips()
        print(f"long run: {args.hours:g} h of {', '.join(p.name for p in clips)} with 60 s silences, "
              f"×{args.speed:g}, {configs[0].label}", file=sys.stderr)
        samples = long_run(configs[0], clips, args.hours, args.speed, every_min=args.hours * 60 / 24, tui=args.tui)
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

    if args.device is not None:
        results = [run_config(c, None, fast=False, device=args.device, seconds=args.seconds) for c in configs]
        print_table(results)
        return 1 if any(r.error for r in results) else 0
    input = args.input or default_clips()[0]
    if not input.exists():
        raise ConfigError(f"{input}: no such file")
    machine = Machine(args.cores, args.load)
    results = []
    for config in configs:
        print(f"bench: {config.label} on {input.name} ({'fast' if args.fast else 'real time'}, {machine.label})…",
              file=sys.stderr, flush=True)
        result = run_config(config, input, fast=args.fast, machine=machine)
        if not args.no_ui:
            result.ui_s = time_to_ui(config, input)
        if args.cold_start:
            result.cold_start_s = cold_start(config, input)
        results.append(result)
    if args.json:
        print(json.dumps([r.summary() for r in results], indent=2))
    else:
        print_table(results)
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 1 if any(r.error for r in results) else 0
