"""``live bench``: latency, speed, CPU and memory on a replayed recording (or a microphone, or a server)."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = {"bench": "measure latency, speed, CPU and memory (see live bench --help)"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    from live.bench import __doc__ as doc

    p = sub.add_parser("bench", help=COMMANDS["bench"], description=doc,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", "-i", type=Path, help="recording to replay (default: the 3-min talk in ../shared, "
                   "else the demo clip)")
    p.add_argument("--engine", default="auto", help="engine of the single configuration (default auto)")
    p.add_argument("--backend", default="auto", help="SenseVoice backend of the single configuration")
    p.add_argument("--model", help="model of the single configuration")
    p.add_argument("--language", "-l", default="auto", metavar="auto|zh|en|yue|ja|ko",
                   help="spoken language of every configuration (default auto), as for `live run`")
    p.add_argument("--compare", nargs="+", metavar="ENGINE[:BACKEND][@MODEL]",
                   help="run these configurations one after another, e.g. sensevoice:torch@DIR sensevoice:onnx@DIR whisper")
    p.add_argument("--fast", action="store_true", help="replay as fast as possible instead of in real time")
    slow = p.add_argument_group("a slower machine")
    slow.add_argument("--cores", type=int, metavar="N", help="run on N CPUs only (taskset)")
    slow.add_argument("--load", type=int, default=0, metavar="N",
                      help="with N busy processes on the same CPUs (another program hogging the machine)")
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
    room = p.add_argument_group("room mode (live.bench.room): live --share's viewers")
    room.add_argument("--room", action="store_true", help="viewers of a shared room on loopback: delivery after the "
                      "sharer's screen, the sharer's latency against no sharing, memory per viewer")
    room.add_argument("--viewers", default="50,200,500", help="viewer counts to measure (default 50,200,500)")
    room.add_argument("--rounds", type=int, default=1, help="rounds of every count, alternated (default 1)")
    room.add_argument("--out", type=Path, default=Path("bench-out/room"),
                      help="where the plot, the figures and the page's screenshots go (default bench-out/room)")
    p.set_defaults(func=bench)


def bench(args: argparse.Namespace) -> int:
    from live.bench import bench_main

    return bench_main(args)
