"""The ``live`` command: one module per subcommand, each adding its parser and the function that runs it
(``set_defaults(func=...)``); the option groups they share are in ``options``.

    live [run] [options]         caption the microphone (or --input FILE, --demo) in the TUI
    live devices                 list microphones and system audio
    live transcribe FILE...      recordings and videos to transcripts, subtitles and notes
    live summarize SESSION_DIR   rebuild a saved session's notes in one pass
    live finish SESSION_DIR      caption the speech a session left uncaptioned (a quit while behind)
    live search WORDS...         search the captions of every saved session
    live sessions                list saved sessions, newest first
    live serve                   the classroom recognition server (`live run --server URL` streams to it)
    live keys create|list|revoke API keys for live serve
    live models prepare          download and build the speech model ahead of time
    live bench [--compare ...]   measure latency, speed, CPU and memory on a replayed recording

Errors a user can fix print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys

from live import __version__
from live.cli import bench, devices, finish, models, run, search, serve, summarize, transcribe
from live.errors import LiveError

# In the order `live --help` lists them; `live` alone is `live run`.
SUBCOMMANDS = (run, devices, transcribe, summarize, finish, search, serve, models, bench)
COMMANDS = tuple(name for module in SUBCOMMANDS for name in module.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="live",
        description="Real-time lecture captions in the terminal, with rolling notes from an LLM.",
        epilog="`live` alone is `live run`; `live run --help` lists its options.\n\n" + run.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"live {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    listed = {name: text for module in SUBCOMMANDS for name, text in module.COMMANDS.items()}
    # `live --help` is `live run --help` (the options a newcomer needs): it names every command too.
    sub.choices["run"].description = run.DESCRIPTION + "\n\ncommands:\n" + "\n".join(
        f"  live {name:<12} {listed[name]}" for name in COMMANDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] != "--version"):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    try:
        return _leave(args.func(args))
    except LiveError as exc:
        print(f"live: error: {exc}", file=sys.stderr)
        return _leave(exc.exit_code)
    except KeyboardInterrupt:
        return _leave(130)
    except BrokenPipeError:
        # `live … | head`: the reader has what it wanted; say nothing more on a closed pipe.
        _quiet_stdout()
        return 0


# Threads that may still be in native code when a command returns: a decode a quick quit did not wait for,
# a microphone whose PortAudio abort hangs (a sound server gone), a model still loading.
NATIVE_THREADS = ("live-decode", "live-mic-close", "live-model-load")


def _leave(code: int) -> int:
    """Everything is saved by now. With a native thread still at work, the interpreter's teardown (the
    libraries' exit handlers freeing what that thread uses) can crash — SIGSEGV or abort, after "session
    saved" — so the process leaves without it; otherwise it returns as usual."""
    import logging
    import os
    import threading

    if any(t.is_alive() and t.name in NATIVE_THREADS for t in threading.enumerate()):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _quiet_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
