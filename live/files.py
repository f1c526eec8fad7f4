"""Small file helpers every stage shares: whole-file writes that are never seen half done,
JSON-lines reading that survives a torn last line, and the one reader of a file holding a secret."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from live.errors import ConfigError, LiveError, SessionError

log = logging.getLogger("live.files")


def atomic_write(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over: readers see the old
    file or the new one, never half of one. SessionError (one line) when it cannot be written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SessionError(f"cannot write {path}: {exc.strerror or exc}; check the folder", exc.errno) from None


def read_jsonl(path: Path) -> Iterator[dict]:
    """The objects of a JSON-lines file in order. A line that is not a JSON object (one torn by a
    crash mid-write) is skipped with a warning; a missing file yields nothing."""
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s:%d is not JSON (a line torn by a crash?); skipped", path, number)
                continue
            if isinstance(obj, dict):
                yield obj


def read_key_file(path: Path, label: str, *, error: type[LiveError] = ConfigError, hint: str = "put the key in it",
                  unsafe: type[LiveError] | None = None) -> str:
    """The key in the first line of ``path``, a file its owner alone may read. Every problem is one
    line (``error``; ``unsafe`` for a file others can read) naming ``label``, what the user calls it."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{label} {path} does not exist; create it or unset it") from None
    except OSError as exc:
        raise error(f"cannot read {label} {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise (unsafe or error)(f"key file {path} is readable by other users; run: chmod 600 {path}")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {label} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not value:
        raise error(f"{label} {path} is empty; {hint}")
    return value.splitlines()[0].strip()
