"""``live search WORDS...`` and ``live sessions``: the library on the command line.

One result a line, so the output can be piped to grep, head or a script: ``FOLDER  hh:mm:ss  caption``
for a search (best first), ``date time  length  notes  first words`` for the sessions (newest first).
The matched words are shown in reverse video only when stdout is a terminal (and ``NO_COLOR`` is not set),
never in a pipe. No hits: a line on stderr and exit status 1, as grep does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

from live.library import SessionInfo, list_sessions, search
from live.library.folders import FOLDER_STAMP
from live.library.index import Hit, SearchError, SessionIndex
from live.library.text import Query, clean_line, cut, quoted
from live.timefmt import hms, mmss

MARK_ON, MARK_OFF = "\x1b[7m", "\x1b[27m"
COLUMNS = 100


def library_main(args: argparse.Namespace) -> int:
    from live.config import load_settings

    root = load_settings({"session_dir": args.session_dir}).session_dir
    try:
        if args.command == "search":
            return search_main(root, args.words, args.limit)
        return sessions_main(root)
    except BrokenPipeError:
        # `live search x | head -1`: the reader has what it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def search_main(root: Path, words: list[str], limit: int = 50, stream: TextIO | None = None) -> int:
    if limit < 1:
        raise SearchError("--limit must be at least 1")
    query = Query.from_args(words)
    hits = search(root, query, limit)
    if not hits:
        with SessionIndex(root) as index:
            count = len(index.sessions())
        print(f"no captions match {quoted(query.text)} in the {count} session(s) under {root}", file=sys.stderr)
        return 1
    print_hits(hits, query, stream or sys.stdout)
    return 0


def sessions_main(root: Path, stream: TextIO | None = None) -> int:
    infos = list_sessions(root)
    if not infos:
        print(f"no sessions under {root} yet; `live` saves one each time it runs", file=sys.stderr)
        return 1
    stream = stream or sys.stdout
    print_sessions(infos, stream, columns=min(COLUMNS, shutil.get_terminal_size((COLUMNS, 24)).columns)
                   if is_terminal(stream) else COLUMNS)
    return 0


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def print_hits(hits: list[Hit], query: Query, stream: TextIO) -> None:
    """One hit a line; the query's words marked when ``stream`` is a terminal."""
    mark = is_terminal(stream)
    for hit in hits:
        text = clean_line(hit.text)
        if mark:
            text = highlight(text, query.spans(text))
        print(f"{hit.folder}  {hms(hit.start)}  {text}", file=stream)


def highlight(text: str, spans: list[tuple[int, int]]) -> str:
    out, at = [], 0
    for start, end in spans:
        out += [text[at:start], MARK_ON, text[start:end], MARK_OFF]
        at = end
    out.append(text[at:])
    return "".join(out)


def print_sessions(infos: list[SessionInfo], stream: TextIO, columns: int = COLUMNS) -> None:
    """One session a line: when it started, how long it ran, whether it has notes, its first words."""
    for info in infos:
        when = info.started.strftime("%Y-%m-%d %H:%M") if info.started else info.folder.name[:16]
        head = f"{when:<16}  {mmss(info.length_s):>7}  {'notes' if info.has_notes else '-    '}  "
        words = clean_line(info.first_words) or "(no captions)"
        if not _is_stamp(info.folder.name):
            words = f"[{info.folder.name}] {words}"  # a folder not named by its date: say which it is
        print(head + cut(words, max(10, columns - len(head))), file=stream)


def _is_stamp(name: str) -> bool:
    try:
        datetime.strptime(name[:19], FOLDER_STAMP)
        return True
    except ValueError:
        return False
