"""Every saved lecture, searchable: full-text search over all final captions under a session root, and
a listing of the sessions.

    hits = search(root, "entropy")            # best first; each Hit has folder, start, text, index, score
    for info in list_sessions(root): ...       # newest first

The index (SQLite FTS5, ``<root>/.index.sqlite3``) is brought up to date incrementally before each call;
see ``live.library.index`` for that policy and ``live.library.text`` for how English and Chinese are
matched. ``live search`` and ``live sessions`` are in ``live.library.commands``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from live.library import folders
from live.library.index import INDEX_NAME, Hit, Refresh, SearchError, SessionIndex, check_root
from live.library.text import Query, quoted

__all__ = ["INDEX_NAME", "Hit", "Query", "Refresh", "SearchError", "SessionIndex", "SessionInfo", "check_root",
           "list_sessions", "search"]


@dataclass(frozen=True)
class SessionInfo:
    """One saved session, for a listing.

    Attributes:
        folder: the session folder.
        started: when it began (session.json, else the folder's name); None when unknown.
        length_s: how long it ran: the longer of the last final's end and audio.wav's length.
        first_words: the start of its transcript ("" with no finals yet).
        has_notes: it has a non-empty summary.md.
        finals: how many final captions it has.
    """

    folder: Path
    started: datetime | None
    length_s: float
    first_words: str
    has_notes: bool
    finals: int


def search(root: Path, query: str | Query, limit: int = 50) -> list[Hit]:
    """The final captions under ``root`` that contain every term of ``query``, best first.

    SearchError when ``root`` is not a folder or the query has no words in it.
    """
    parsed = query if isinstance(query, Query) else Query.parse(query)
    if not parsed.terms:
        raise SearchError(f"nothing to search for in {quoted(parsed.text)}; give words, e.g. live search entropy")
    if limit < 1:
        raise SearchError("the limit must be at least 1")
    with SessionIndex(root) as index:
        return index.search(parsed, limit)


def list_sessions(root: Path) -> list[SessionInfo]:
    """The sessions under ``root``, newest first. SearchError when ``root`` is not a folder."""
    with SessionIndex(root) as index:
        indexed = index.sessions()
    out = []
    for s in indexed:
        folder = root / s.name
        audio = folders.audio_seconds(folder)
        length = max(s.last_end, audio or 0.0)
        out.append(SessionInfo(folder, s.started, length, s.first_words, folders.has_notes(folder), s.finals))
    return out

