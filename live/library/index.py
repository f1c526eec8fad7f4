"""The search index: every saved final caption in SQLite FTS5, kept in ``<root>/.index.sqlite3``.

Policy:

- The index is brought up to date before each search or listing, incrementally: the root is scanned
  (one ``stat`` per session), and only sessions added, removed, or whose transcript.jsonl changed
  size or mtime (or whose session.json changed) since they were indexed are read again. A missing index
  is built from scratch; so is one that is corrupt, not a database, or of an older layout. Nothing here
  is ever a reason to fail a search except a root that is not there.
- A live session may be appending while we read: what is on disk then is indexed, and its stamp is taken
  before the read, so the lines that come later are picked up by the next search.
- Two searches at once are fine: each update runs in one ``BEGIN IMMEDIATE`` transaction, the second
  waits for the first and then finds nothing left to do.
- A root that cannot be written (a read-only share) still searches: the index is then built in memory.
- Ranking: FTS5's bm25, best first; on a tie the newer session first, then the earlier caption.

How words and Chinese are tokenized is in ``live.library.text``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from live.errors import LiveError
from live.library import folders
from live.library.text import TOKENIZER, Query, index_text

log = logging.getLogger("live.library")
T = TypeVar("T")

INDEX_NAME = ".index.sqlite3"
SCHEMA_VERSION = 1
SCHEMA = f"""
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, meta_mtime_ns INTEGER NOT NULL,
    started TEXT, sort_key TEXT NOT NULL, finals INTEGER NOT NULL, last_end REAL NOT NULL,
    first_words TEXT NOT NULL
);
CREATE TABLE finals (
    id INTEGER PRIMARY KEY, session INTEGER NOT NULL, start REAL NOT NULL, idx INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX finals_by_session ON finals (session);
CREATE VIRTUAL TABLE finals_fts USING fts5 (body, tokenize = '{TOKENIZER}');
PRAGMA user_version = {SCHEMA_VERSION};
"""
SEARCH = """
SELECT s.name, f.start, f.text, f.idx, bm25(finals_fts) AS rank
FROM finals_fts JOIN finals f ON f.id = finals_fts.rowid JOIN sessions s ON s.id = f.session
WHERE finals_fts MATCH ?
ORDER BY rank, s.sort_key DESC, f.start
LIMIT ?
"""
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_CANNOT_WRITE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_FULL")


class SearchError(LiveError):
    """The sessions folder is missing, or a query has nothing to search for."""


@dataclass(frozen=True)
class Hit:
    """One final caption that matches a query.

    Attributes:
        folder: the session folder (the root as given, joined with the session's name).
        start: seconds into the session where the caption begins.
        text: the caption.
        index: its segment number in the session's transcript.
        score: bm25 relevance, higher is better (only comparable within one query).
    """

    folder: Path
    start: float
    text: str
    index: int
    score: float


@dataclass(frozen=True)
class IndexedSession:
    """What the index keeps about one session, for listings.

    Attributes:
        name: the folder's name under the root.
        started: when it began, None when neither session.json nor the folder name says.
        finals: how many final captions it has.
        last_end: where its last final ends, in seconds (0 with no finals).
        first_words: the start of its transcript (a couple of hundred characters at most).
    """

    name: str
    started: datetime | None
    finals: int
    last_end: float
    first_words: str


@dataclass(frozen=True)
class Refresh:
    """What one update of the index did.

    Attributes:
        added: sessions indexed for the first time.
        updated: sessions indexed again because their files changed.
        removed: sessions whose folder is gone.
    """

    added: int = 0
    updated: int = 0
    removed: int = 0


def check_root(root: Path) -> None:
    if not root.exists():
        raise SearchError(f"no sessions folder at {root}; record one with `live` first, or pass --session-dir DIR")
    if not root.is_dir():
        raise SearchError(f"{root} is not a folder; pass --session-dir DIR with the folder that holds the sessions")


class SessionIndex:
    """The index of one session root. ``search`` and ``sessions`` bring it up to date, then read it."""

    def __init__(self, root: Path, *, path: Path | None = None, busy_timeout_s: float = 10.0) -> None:
        check_root(root)
        self.root = root
        self.path = path or root / INDEX_NAME
        self.busy_timeout_s = busy_timeout_s
        self.in_memory = False
        self._db = self._open()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SessionIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening, and starting again when the file is unusable --------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect(str(self.path))
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _BUSY:
                raise self._busy() from None
            if _code(exc) in _CANNOT_WRITE:
                return self._in_memory(exc)
            log.warning("search index %s is unusable (%s); building it again", self.path, exc)
            return self._rebuild()

    def _rebuild(self) -> sqlite3.Connection:
        try:
            for stale in (self.path, self.path.with_name(self.path.name + "-journal")):
                stale.unlink(missing_ok=True)
            return self._connect(str(self.path))
        except OSError as exc:
            return self._in_memory(exc)
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _BUSY:
                raise self._busy() from None
            return self._in_memory(exc)

    def _in_memory(self, why: object) -> sqlite3.Connection:
        log.warning("cannot keep the search index in %s (%s); indexing in memory for this search", self.path, why)
        self.in_memory = True
        return self._connect(":memory:")

    def _connect(self, where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            if not _current(db):
                db.execute("BEGIN IMMEDIATE")
                try:
                    if not _current(db):  # another search may have made it while we waited
                        _create(db)
                    db.execute("COMMIT")
                except BaseException:
                    db.rollback()
                    raise
        except BaseException:
            db.close()
            raise
        return db

    def _busy(self) -> SearchError:
        return SearchError(f"the search index {self.path} is busy (another `live search`?); try again")

    # -- keeping it up to date ---------------------------------------------------------------------

    def refresh(self) -> Refresh:
        """Index what changed on disk since the last refresh; returns what was done."""
        return self._guarded(self._refresh)

    def _guarded(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _BUSY:
                raise self._busy() from None
            # Corruption found past the header, or a disk that filled up: start again, once.
            log.warning("search index %s failed (%s); building it again", self.path, exc)
            self._db.close()
            self._db = self._in_memory(exc) if self.in_memory or _code(exc) in _CANNOT_WRITE else self._rebuild()
            return work()

    def _refresh(self) -> Refresh:
        try:
            on_disk = folders.scan(self.root)
        except OSError as exc:
            raise SearchError(f"cannot read the sessions folder {self.root}: {exc.strerror or exc}") from None
        known = {name: (sid, folders.Stamp(size, mtime, meta)) for sid, name, size, mtime, meta in
                 self._db.execute("SELECT id, name, size, mtime_ns, meta_mtime_ns FROM sessions")}
        changed = [n for n, stamp in on_disk.items() if n not in known or known[n][1] != stamp]
        gone = [n for n in known if n not in on_disk]
        if not changed and not gone:
            return Refresh()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the lock: another search may have done part of this meanwhile.
            known = {name: (sid, folders.Stamp(size, mtime, meta)) for sid, name, size, mtime, meta in
                     db.execute("SELECT id, name, size, mtime_ns, meta_mtime_ns FROM sessions")}
            added = updated = removed = 0
            for name in gone:
                if name in known:
                    self._forget(known[name][0])
                    removed += 1
            for name in changed:
                if name in known and known[name][1] == on_disk[name]:
                    continue
                if name in known:
                    self._forget(known[name][0])
                    updated += 1
                else:
                    added += 1
                self._add(name, on_disk[name])
            db.execute("COMMIT")
        except BaseException:
            db.rollback()
            raise
        done = Refresh(added, updated, removed)
        log.info("search index %s: %s", self.path, done)
        return done

    def _forget(self, session_id: int) -> None:
        self._db.execute("DELETE FROM finals_fts WHERE rowid IN (SELECT id FROM finals WHERE session = ?)",
                         (session_id,))
        self._db.execute("DELETE FROM finals WHERE session = ?", (session_id,))
        self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def _add(self, name: str, stamp: folders.Stamp) -> None:
        read = folders.read_session(self.root / name)
        started = read.started.isoformat(timespec="seconds") if read.started else None
        # Sessions with no known start sort by their transcript's age.
        sort_key = started or datetime.fromtimestamp(stamp.mtime_ns / 1e9).isoformat(timespec="seconds")
        session_id = self._db.execute(
            "INSERT INTO sessions (name, size, mtime_ns, meta_mtime_ns, started, sort_key, finals, last_end,"
            " first_words) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, stamp.size, stamp.mtime_ns, stamp.meta_mtime_ns, started, sort_key, len(read.finals),
             read.last_end, read.first_words),
        ).lastrowid
        for final in read.finals:
            rowid = self._db.execute("INSERT INTO finals (session, start, idx, text) VALUES (?, ?, ?, ?)",
                                     (session_id, final.start, final.index, final.text)).lastrowid
            self._db.execute("INSERT INTO finals_fts (rowid, body) VALUES (?, ?)", (rowid, index_text(final.text)))

    # -- reading it --------------------------------------------------------------------------------

    def search(self, query: Query, limit: int = 50) -> list[Hit]:
        """The finals that contain every term of ``query``, best first (at most ``limit``), after a refresh."""
        if not query.terms:
            return []

        def work() -> list[Hit]:
            self._refresh()
            rows = self._db.execute(SEARCH, (query.expression(), limit)).fetchall()
            return [Hit(self.root / name, start, text, idx, -rank) for name, start, text, idx, rank in rows]

        return self._guarded(work)

    def sessions(self) -> list[IndexedSession]:
        """Every session, newest first, after a refresh."""

        def work() -> list[IndexedSession]:
            self._refresh()
            rows = self._db.execute("SELECT name, started, finals, last_end, first_words FROM sessions"
                                    " ORDER BY sort_key DESC, name DESC").fetchall()
            return [IndexedSession(name, datetime.fromisoformat(started) if started else None, n, end, words)
                    for name, started, n, end, words in rows]

        return self._guarded(work)


def _current(db: sqlite3.Connection) -> bool:
    """True when ``db`` holds this layout; False when it is empty; DatabaseError for anything else."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == SCHEMA_VERSION and {"sessions", "finals", "finals_fts"} <= tables:
        return True
    if tables or version:
        raise sqlite3.DatabaseError(f"layout {version} where {SCHEMA_VERSION} is expected")
    return False


def _create(db: sqlite3.Connection) -> None:
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc):
            raise SearchError("this Python's SQLite has no FTS5, which `live search` needs; use a Python "
                              "built with a full SQLite (python.org, Debian/Ubuntu and conda builds have it)") from None
        raise


def _code(exc: sqlite3.Error) -> str:
    """The SQLite error name (``SQLITE_BUSY``...); from the message where Python < 3.11 lacks it."""
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        return name
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "SQLITE_BUSY"
    if "readonly" in text or "unable to open" in text:
        return "SQLITE_READONLY"
    return "SQLITE_ERROR"
