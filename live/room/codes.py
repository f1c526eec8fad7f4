"""Room codes and the limits that keep the viewer page cheap to serve and hard to abuse.

A room code is 13 characters of Crockford's base32 (65 random bits): the URL ``/r/CODE`` is all a viewer
needs, and nobody finds a room by trying codes (each address gets ``misses_per_minute`` wrong codes,
then 429 for a while). A code can be rotated: the old one stops working at once and the viewers who
came with it are disconnected. Codes are looked up by their hash, so the time a lookup takes says
nothing about the code.

Addresses are kept only as a keyed hash (the key is random per process, never written anywhere), and
only while a rate limit needs them: open connections per address, and wrong codes in the last minute.
Plain objects with no clock of their own: the caller passes ``now``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import deque
from dataclasses import dataclass

from live.errors import ConfigError

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32: no i, l, o, u
CODE_CHARS = 13  # 13 × 5 = 65 random bits
_READ_AS = str.maketrans({"i": "1", "l": "1", "o": "0"})


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))


def normalize(text: str) -> str | None:
    """A code as a person may type it (any case, with dashes or spaces, O for 0, I or L for 1), or None
    when it cannot be one."""
    code = text.strip().lower().replace("-", "").replace(" ", "").translate(_READ_AS)
    if len(code) != CODE_CHARS or any(c not in ALPHABET for c in code):
        return None
    return code


def pretty(code: str) -> str:
    """For reading aloud or typing: ``k7f3-m9qp-x2hd-w``."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii", "replace")).hexdigest()


@dataclass
class AccessOptions:
    """Who may connect to a room's page, and how often.

    Attributes:
        per_address: event streams open at once from one address (a phone with a few tabs; a lecture
            hall's NAT may need more).
        misses_per_minute: wrong room codes one address may ask for in a minute before it gets 429.
        max_viewers: event streams open at once in all (each costs a socket and a little memory).
    """

    per_address: int = 16
    misses_per_minute: int = 20
    max_viewers: int = 2000

    def __post_init__(self) -> None:
        if self.per_address < 1 or self.misses_per_minute < 1 or self.max_viewers < 1:
            raise ConfigError("room limits: per_address, misses_per_minute and max_viewers must be at least 1")


class AddressLimits:
    """Connections open per address and wrong codes per address in the last minute.

    ``open`` takes a slot (False: over a limit), ``close`` gives it back; ``miss`` counts a wrong code
    and ``blocked`` says whether the address has had too many. Addresses are held as keyed hashes and
    forgotten as soon as no limit needs them.
    """

    WINDOW_S = 60.0

    def __init__(self, options: AccessOptions | None = None) -> None:
        self.options = options or AccessOptions()
        self._salt = secrets.token_bytes(16)
        self._open: dict[bytes, int] = {}
        self._misses: dict[bytes, deque[float]] = {}
        self.total = 0

    def _key(self, address: str | None) -> bytes:
        return hashlib.blake2b((address or "?").encode(), key=self._salt, digest_size=12).digest()

    def open(self, address: str | None) -> str | None:
        """Take a connection slot; None when granted, else why not (``busy``: the room is full;
        ``too_many``: this address has enough open)."""
        if self.total >= self.options.max_viewers:
            return "busy"
        key = self._key(address)
        if self._open.get(key, 0) >= self.options.per_address:
            return "too_many"
        self._open[key] = self._open.get(key, 0) + 1
        self.total += 1
        return None

    def close(self, address: str | None) -> None:
        key = self._key(address)
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)
        self.total = max(0, self.total - 1)

    def miss(self, address: str | None, now: float) -> None:
        """An address asked for a room that does not exist."""
        key = self._key(address)
        times = self._misses.setdefault(key, deque())
        times.append(now)
        self._expire(key, now)
        if len(self._misses) > 10_000:  # a scan from many addresses: forget the quiet ones
            for other in [k for k, q in self._misses.items() if not q or now - q[-1] > self.WINDOW_S]:
                del self._misses[other]

    def blocked(self, address: str | None, now: float) -> bool:
        key = self._key(address)
        if key not in self._misses:
            return False
        self._expire(key, now)
        return len(self._misses.get(key, ())) >= self.options.misses_per_minute

    def _expire(self, key: bytes, now: float) -> None:
        times = self._misses.get(key)
        while times and now - times[0] > self.WINDOW_S:
            times.popleft()
        if times is not None and not times:
            del self._misses[key]

    def remembered(self) -> int:
        """Addresses held at all (for tests: they are forgotten when no limit needs them)."""
        return len(set(self._open) | set(self._misses))
