"""``live search WORDS...`` and ``live sessions``: every saved lecture on the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = {"search": "search the captions of every saved session", "sessions": "list saved sessions, newest first"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "search", help=COMMANDS["search"],
        description="Search the final captions of every session under the sessions folder, best hits first.\n\n"
        "  live search entropy            captions with the word (any case)\n"
        "  live search heat engine        captions with both words\n"
        '  live search "heat engine"      the phrase (quoted in the shell: one argument)\n'
        "  live search 'entrop*'          words that start with it\n"
        "  live search 工厂               Chinese: any run of characters, one or more",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("words", nargs="+", metavar="WORDS")
    s.add_argument("--limit", "-n", type=int, default=50, metavar="N", help="at most N hits (default 50)")
    _session_dir(s)
    _session_dir(sub.add_parser("sessions", help=COMMANDS["sessions"]))
    s.set_defaults(func=library)
    sub.choices["sessions"].set_defaults(func=library)


def _session_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session-dir", type=Path, metavar="DIR",
                        help="the folder that holds the session folders (default: the one `live` saves to)")


def library(args: argparse.Namespace) -> int:
    from live.library.commands import library_main

    return library_main(args)
