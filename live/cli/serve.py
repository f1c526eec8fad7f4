"""``live serve`` (the classroom recognition server) and ``live keys`` (its API keys)."""

from __future__ import annotations

import argparse
from pathlib import Path

from live.cli.options import add_recognition, add_tls

COMMANDS = {"serve": "the classroom recognition server (WebSocket streams, OpenAI-shaped file API)",
            "keys": "make, list and revoke API keys for `live serve`"}
DB_HELP = "key database (default $XDG_DATA_HOME/live/server.db)"
LIMIT_HELP = {
    "max_streams": "streams and uploads at once, in all",
    "streams_per_key": "of those, per key",
    "minutes_per_day": "audio minutes per key per day, 0: no limit",
    "upload_mb": "largest file upload in MB",
    "max_frame_s": "longest audio in one WebSocket frame, seconds",
    "idle_timeout_s": "close a stream silent this long, seconds",
    "max_session_h": "longest stream, hours",
    "buffer_s": "audio held per connection before the server stops reading it, seconds",
    "request_timeout_s": "longest wait for a request's headers, or in the middle of its body, seconds",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    from live.serve.command import DEFAULT_PORT, LIMIT_FLAGS
    from live.serve.limits import Limits

    p = sub.add_parser(
        "serve", help=COMMANDS["serve"],
        description="One machine holds the model; `live run --server ws://HOST:PORT` streams to it. Streams: "
        "WebSocket /v1/stream; files: POST /v1/audio/transcriptions (OpenAI's shape); probes: /healthz, "
        "/readyz, /metrics. Every stream and file needs a key: `live keys create`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    add_tls(net, "serve streams and files")
    net.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                     help="a browser origin allowed to open streams, e.g. https://lecture.example.edu (repeat; * any)")
    store = p.add_argument_group("storage")
    store.add_argument("--db", type=Path, metavar="PATH", help=DB_HELP)
    store.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="each stream's session folder goes under DIR/streams (default $XDG_DATA_HOME/live/server)")
    asr = add_recognition(p, title="recognition (as for `live run`)", script=False, vocab=False, speakers=False,
                          language_help="default for streams that say auto",
                          threads_help="recognition threads (per replica with --ray)")
    asr.add_argument("--max-batch", type=int, default=8, metavar="N",
                     help="most streams' requests in one model call (engines with a batch axis; default 8)")
    asr.add_argument("--ray", metavar="ADDRESS",
                     help="decode on Ray Serve replicas: a cluster address (ray://host:10001, auto) or local")
    asr.add_argument("--ray-replicas", type=int, default=2, metavar="N", help="Ray Serve replicas (default 2)")
    lim = p.add_argument_group("limits")
    defaults = Limits()
    for name in LIMIT_FLAGS:
        flag = "--" + name.replace("_", "-")
        kind = int if isinstance(getattr(defaults, name), int) else float
        lim.add_argument(flag, type=kind, default=getattr(defaults, name), metavar="N",
                         help=f"{LIMIT_HELP[name]} (default {getattr(defaults, name):g})")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=serve)

    k = sub.add_parser("keys", help=COMMANDS["keys"],
                       description="Keys are stored hashed in SQLite; a new key is printed once, alone on the last "
                       "line of stdout.")
    actions = k.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key and print it (once)")
    create.add_argument("--name", default="", help="who or what it is for")
    create.add_argument("--scope", choices=("stream", "admin"), default="stream",
                        help="stream (default): stream and transcribe; admin: also manage keys")
    create.add_argument("--expires", type=float, metavar="DAYS", help="expire after DAYS days (default never)")
    create.add_argument("--max-streams", type=int, metavar="N", help="this key's concurrent streams (default: the server's)")
    create.add_argument("--minutes-per-day", type=float, metavar="M", help="this key's audio minutes a day")
    listing = actions.add_parser("list", help="the keys, their use and state (never a secret)")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    revoke = actions.add_parser("revoke", help="revoke a key (its open streams are closed)")
    revoke.add_argument("id", help="the key's id (the part after lv_)")
    for action in (create, listing, revoke):
        action.add_argument("--db", type=Path, metavar="PATH", help=DB_HELP)
    k.set_defaults(func=keys)


def serve(args: argparse.Namespace) -> int:
    from live.serve import serve_main

    return serve_main(args)


def keys(args: argparse.Namespace) -> int:
    from live.serve import keys_main

    return keys_main(args)
