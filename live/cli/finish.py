"""``live finish SESSION_DIR``: caption what a session heard but left uncaptioned (a quit while behind)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from live.cli.options import RECOGNITION_KEYS, add_recognition, picked

COMMANDS = {"finish": "caption the speech a session left uncaptioned (a quit while behind) from its audio"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finish", help=COMMANDS["finish"],
                       description="A session stopped while its captions were behind leaves the rest of the speech "
                       "marked in transcript.jsonl; this decodes it from the session's audio.wav into the same "
                       "transcript and renders the text and subtitle files again. A second run does nothing more.")
    p.add_argument("session", type=Path, metavar="SESSION_DIR")
    add_recognition(p, vocab=False)
    p.set_defaults(func=finish)


def finish(args: argparse.Namespace) -> int:
    from live.asr.loader import load_engine
    from live.config import load_settings
    from live.session.builder import check_model
    from live.session.finishing import finish_session, pending_spans
    from live.timefmt import mmss

    settings = load_settings(picked(args, RECOGNITION_KEYS))
    folder = args.session.expanduser()
    spans = pending_spans(folder)
    if not spans:
        print(f"live: {folder}: nothing left to caption", file=sys.stderr)
        return 0
    check_model(settings)
    engine, reason = load_engine(settings.engine, model=settings.model, device=settings.compute,
                                 threads=settings.threads, backend=settings.backend, language=settings.language,
                                 on_status=lambda text: print(f"live: {text}", file=sys.stderr))[:2]
    print(f"live: using {reason}", file=sys.stderr)
    done = finish_session(folder, engine, language=settings.language, script=settings.script,
                          on_span=lambda i, n: print(f"live: {i}/{n} captioned", file=sys.stderr, flush=True))
    print(f"live: {folder}: {done.captions} captions from {mmss(done.seconds)} of speech left uncaptioned",
          file=sys.stderr)
    print(folder)
    return 0
