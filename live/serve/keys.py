"""API keys for ``live serve``, kept in SQLite and never stored in the clear.

A key reads ``lv_<id>_<secret>``: ``id`` (12 hex digits) finds its row, ``secret`` (43 URL-safe
characters from ``secrets``, 256 bits) is checked against the SHA-256 kept there with
``hmac.compare_digest``. The secret is shown once, when the key is made; the database holds its
hash only, and the file is created readable by its owner only (0600). Scope ``stream`` may stream
and transcribe files; ``admin`` may also manage keys. A key can expire, be revoked (its open
streams are then closed by the server), carry its own limits, and counts its use per day.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import stat
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from live.errors import ConfigError

Scope = Literal["stream", "admin"]
SCOPES: tuple[Scope, ...] = ("stream", "admin")
PREFIX = "lv"
TOKEN = re.compile(r"^lv_([0-9a-f]{12})_([A-Za-z0-9_-]{32,128})$")
log = logging.getLogger("live.serve")
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    revoked REAL,
    last_used REAL,
    max_streams INTEGER,
    minutes_per_day REAL,
    streams INTEGER NOT NULL DEFAULT 0,
    files INTEGER NOT NULL DEFAULT 0,
    audio_s REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT NOT NULL,
    day TEXT NOT NULL,
    audio_s REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);
"""


def default_db(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "live" / "server.db"


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


class KeyRefused(Exception):
    """A key that may not be used; ``reason`` is one of missing, malformed, unknown, revoked, expired."""

    def __init__(self, reason: str) -> None:
        super().__init__({"missing": "no API key given (Authorization: Bearer lv_…)",
                          "malformed": "that is not a live API key (they read lv_<id>_<secret>)",
                          "unknown": "unknown API key",
                          "revoked": "this API key was revoked",
                          "expired": "this API key has expired"}[reason])
        self.reason = reason


@dataclass(frozen=True)
class ApiKey:
    """One key's row, without its secret (there is none to show: only its hash is kept)."""

    id: str
    name: str
    scope: Scope
    created: float
    expires: float | None = None
    revoked: float | None = None
    last_used: float | None = None
    max_streams: int | None = None
    minutes_per_day: float | None = None
    streams: int = 0
    files: int = 0
    audio_s: float = 0.0

    def allows(self, scope: Scope) -> bool:
        return self.scope == "admin" or scope == self.scope

    def state(self, now: float | None = None) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and (now or time.time()) >= self.expires:
            return "expired"
        return "active"

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "scope": self.scope, "created": self.created,
                "expires": self.expires, "revoked": self.revoked, "last_used": self.last_used,
                "max_streams": self.max_streams, "minutes_per_day": self.minutes_per_day,
                "usage": {"streams": self.streams, "files": self.files, "audio_s": round(self.audio_s, 1)},
                "state": self.state()}


_COLUMNS = ("id, name, scope, created, expires, revoked, last_used, max_streams, minutes_per_day, "
            "streams, files, audio_s")


class KeyStore:
    """The key database. Thread-safe; several processes (the server, ``live keys``) may share it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created 0600 before SQLite opens it: no moment when another user could read it.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            if stat.S_IMODE(self.path.stat().st_mode) & 0o077:
                os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the key database {self.path}: {exc}; pass --db PATH "
                              "with a file you can write") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- making, listing, revoking ---------------------------------------------------------------

    def create(self, name: str = "", scope: Scope = "stream", *, expires_days: float | None = None,
               max_streams: int | None = None, minutes_per_day: float | None = None) -> tuple[ApiKey, str]:
        """A new key: its row and the one printed form of it (``lv_<id>_<secret>``), shown once."""
        if scope not in SCOPES:
            raise ConfigError(f"unknown scope {scope!r}; choose stream or admin")
        if expires_days is not None and expires_days <= 0:
            raise ConfigError("--expires must be a number of days above 0")
        now = time.time()
        expires = now + expires_days * 86400 if expires_days is not None else None
        secret = secrets.token_urlsafe(32)
        with self._lock:
            while True:
                key_id = secrets.token_hex(6)
                try:
                    self._db.execute(
                        "INSERT INTO keys (id, name, scope, secret_sha256, created, expires, max_streams, "
                        "minutes_per_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (key_id, name, scope, _hash(secret), now, expires, max_streams, minutes_per_day))
                    break
                except sqlite3.IntegrityError:  # an id taken already (one in 2^48): draw again
                    continue
        return self.get(key_id), f"{PREFIX}_{key_id}_{secret}"  # type: ignore[return-value]

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM keys WHERE id = ?", (key_id,)).fetchone()
        return ApiKey(*row) if row else None

    def list_keys(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM keys ORDER BY created").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such key (revoking twice is fine)."""
        with self._lock:
            cur = self._db.execute("UPDATE keys SET revoked = COALESCE(revoked, ?) WHERE id = ?", (time.time(), key_id))
        return cur.rowcount > 0

    # -- using -------------------------------------------------------------------------------------

    def authenticate(self, token: str | None, *, touch: bool = True) -> ApiKey:
        """The key ``token`` names, if it may be used now; KeyRefused otherwise."""
        if not token:
            raise KeyRefused("missing")
        match = TOKEN.match(token.strip())
        if match is None:
            raise KeyRefused("malformed")
        key_id, secret = match.groups()
        with self._lock:
            row = self._db.execute("SELECT secret_sha256 FROM keys WHERE id = ?", (key_id,)).fetchone()
        # Compared in constant time, and compared even for an unknown id.
        if not hmac.compare_digest(row[0] if row else _DUMMY_HASH, _hash(secret)) or row is None:
            raise KeyRefused("unknown")
        key = self.get(key_id)
        assert key is not None
        state = key.state()
        if state != "active":
            raise KeyRefused(state)
        if touch:
            try:
                with self._lock:
                    self._db.execute("UPDATE keys SET last_used = ? WHERE id = ?", (time.time(), key_id))
            except sqlite3.OperationalError as exc:  # a full disk: the key is good, only its last use goes unsaid
                log.warning("the last use of key %s was not saved: %s", key_id, exc)
        return key

    def still_valid(self, key_id: str) -> str | None:
        """None while the key may go on being used, else why not ("revoked", "expired", "unknown")."""
        key = self.get(key_id)
        if key is None:
            return "unknown"
        state = key.state()
        return None if state == "active" else state

    def record_use(self, key_id: str, *, streams: int = 0, files: int = 0, audio_s: float = 0.0) -> None:
        with self._lock:
            self._db.execute("UPDATE keys SET streams = streams + ?, files = files + ?, audio_s = audio_s + ? "
                             "WHERE id = ?", (streams, files, audio_s, key_id))
            if audio_s:
                self._db.execute("INSERT INTO usage (key_id, day, audio_s) VALUES (?, ?, ?) ON CONFLICT(key_id, day) "
                                 "DO UPDATE SET audio_s = audio_s + excluded.audio_s", (key_id, today(), audio_s))

    def used_today(self, key_id: str) -> float:
        """Seconds of audio this key sent today (UTC)."""
        with self._lock:
            row = self._db.execute("SELECT audio_s FROM usage WHERE key_id = ? AND day = ?", (key_id, today())).fetchone()
        return float(row[0]) if row else 0.0


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


