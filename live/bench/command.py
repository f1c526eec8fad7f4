"""``live bench``: the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from live.bench.coldstart import cold_start
from live.bench.longrun import default_clips, long_run
from live.bench.replay import Config, run_config, time_to_ui
from live.bench.report import plot, print_table
from live.errors import ConfigError

# --- the command ----------------------------------------------------------------------------------


def build_parser(sub=None) -> argparse.ArgumentParser:
    from live.bench import __doc__ as doc

    kwargs = dict(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--device", metavar="INDEX|NAME", help="listen to this microphone instead of replaying a file "
                   "(its PortAudio input latency is added to the latencies)")
    p.add_argument("--seconds", type=float, default=60.0, help="with --device: how long to listen (default 60)")
    p.add_argument("--no-ui", action="store_true", help="skip the time-to-UI measurement")
    p.add_argument("--cold-start", action="store_true", help="also time launch → first final with no ONNX build "
                   "yet (SenseVoice configurations with a model folder; the real cache is not touched)")
    p.add_argument("--plot", type=Path, metavar="PNG", help="draw latency over time and decode time against length")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--hours", type=float, help="long-run mode: this many hours of talks and silences, accelerated")
    p.add_argument("--speed", type=float, default=20.0, help="long-run clock acceleration (default ×20)")
    p.add_argument("--tui", action="store_true", help="long-run mode in the TUI (drawn off screen), caption view included")
    srv = p.add_argument_group("server mode (live.bench.server)")
    srv.add_argument("--server", action="store_true", help="concurrent real-time streams through a `live serve`")
    srv.add_argument("--streams", default="1,2,4,8", help="stream counts to measure (default 1,2,4,8)")
    srv.add_argument("--stream-seconds", type=float, default=30.0, help="audio per stream and count (default 30)")
    srv.add_argument("--ray", action="store_true", help="then the same with two Ray Serve replicas")
    return p


def bench_main(args: argparse.Namespace) -> int:
    configs = [Config.parse(c) for c in args.compare] if args.compare else \
        [Config(args.engine, args.backend, args.model)]
    if args.server:
        from live.bench.server import bench_server_main

        return bench_server_main(args, configs[0])
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
    results = []
    for config in configs:
        print(f"bench: {config.label} on {input.name} ({'fast' if args.fast else 'real time'})…", file=sys.stderr,
              flush=True)
        result = run_config(config, input, fast=args.fast)
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
