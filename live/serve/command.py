"""``live serve`` and ``live keys``: the command lines. Heavy imports (FastAPI, uvicorn, Ray) wait
until a command runs, so ``live --help`` stays fast."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time

from live.errors import ConfigError, LiveError
from live.wire.binding import check_binding

DEFAULT_PORT = 14612
ENGINE_KEYS = ("engine", "backend", "model", "language", "compute", "threads")
LIMIT_FLAGS = ("max_streams", "streams_per_key", "minutes_per_day", "upload_mb", "max_frame_s", "idle_timeout_s",
               "max_session_h", "buffer_s", "request_timeout_s")


# --- live serve --------------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pass --port N "
                          "(or --host ADDRESS)") from None


def _logging(level: str) -> None:
    from live.wire.auth import protect_logs

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    protect_logs(handler)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("faster_whisper").setLevel(max(logging.WARNING, root.level))  # a line per decode otherwise


def serve_main(args: argparse.Namespace) -> int:
    from live.config import load_settings
    from live.serve.keys import default_db
    from live.serve.limits import Limits
    from live.serve.state import ServerConfig, default_data_dir

    # Everything the server writes (transcripts, uploads, the key database and its journals) is its
    # user's alone, whatever the umask of the shell that started it.
    os.umask(0o077)
    settings = load_settings({k: getattr(args, k) for k in ENGINE_KEYS})
    limits = Limits(**{name: getattr(args, name) for name in LIMIT_FLAGS})
    check_binding(args.host, args.tls_cert, args.tls_key, args.insecure)
    if args.max_batch < 1 or args.ray_replicas < 1:
        raise ConfigError("--max-batch and --ray-replicas must be at least 1")
    if args.ray:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError("--ray needs Ray Serve: pip install 'live-captions[ray]'")
    config = ServerConfig(settings=settings, db=(args.db or default_db()).expanduser(),
                          data_dir=(args.data_dir or default_data_dir()).expanduser(), limits=limits,
                          origins=tuple(args.allow_origin), max_batch=args.max_batch, ray=args.ray,
                          ray_replicas=args.ray_replicas)
    sock = listen(args.host, args.port)
    _logging(args.log_level)
    import uvicorn

    from live.serve import transport
    from live.serve.app import create_app
    from live.serve.keys import KeyStore
    from live.serve.state import engine_backend
    from live.session import check_model

    KeyStore(config.db).close()  # a database that cannot be opened fails here, in one line
    check_model(settings)
    # The model loads before the port opens: one that cannot be loaded is one line and exit 2, not a
    # server that answers 503 for ever. (Ray, too, wants its driver on the main thread.)
    print(f"live serve: loading the model ({'on Ray: ' + args.ray if args.ray else 'here'})…", file=sys.stderr,
          flush=True)
    backend = engine_backend(config)
    app = create_app(config, load_backend=lambda: backend)
    scheme = "https" if args.tls_cert else "http"
    port = sock.getsockname()[1]
    print(f"live serve: {scheme}://{args.host}:{port} (streams: {'wss' if args.tls_cert else 'ws'}://{args.host}:{port}"
          f"/v1/stream; keys: {config.db}; sessions: {config.data_dir / 'streams'})", file=sys.stderr, flush=True)
    server = uvicorn.Server(transport.config(app, limits, ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
                                             ws_ping_interval=20, ws_ping_timeout=20, timeout_graceful_shutdown=10))
    server.run(sockets=[sock])
    return 0


# --- live keys ---------------------------------------------------------------------------------


def keys_main(args: argparse.Namespace) -> int:
    from live.serve.keys import KeyStore, default_db

    store = KeyStore((args.db or default_db()).expanduser())
    try:
        if args.keys_command == "create":
            key, token = store.create(args.name, args.scope, expires_days=args.expires, max_streams=args.max_streams,
                                      minutes_per_day=args.minutes_per_day)
            until = f", expires {_when(key.expires)}" if key.expires else ""
            print(f"live: created {key.scope} key {key.id}{f' ({key.name})' if key.name else ''}{until}; it is shown "
                  "this once (the server keeps only its hash):", file=sys.stderr)
            print(token, flush=True)
            return 0
        if args.keys_command == "list":
            return _list(store.list_keys(), as_json=args.json)
        if not store.revoke(args.id):
            raise LiveError(f"no key with id {args.id} in {store.path}; see `live keys list`")
        print(f"live: revoked {args.id}; its open streams are closed within seconds", file=sys.stderr)
        return 0
    finally:
        store.close()


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def _list(keys, *, as_json: bool) -> int:
    if as_json:
        for key in keys:
            print(json.dumps(key.to_json()))
        return 0
    if not keys:
        print("live: no keys yet; make one with `live keys create --name NAME`", file=sys.stderr)
        return 0
    rows = [("ID", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "STREAMS", "FILES", "AUDIO MIN", "STATE")]
    for k in keys:
        rows.append((k.id, k.name or "-", k.scope, _when(k.created), _when(k.expires), _when(k.last_used),
                     str(k.streams), str(k.files), f"{k.audio_s / 60:.1f}", k.state()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0
