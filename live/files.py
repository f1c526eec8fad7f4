"""Small file helpers every stage shares: whole-file writes that are never seen half done, and
JSON-lines reading that survives a torn last line."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from live.errors import SessionError

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
        raise SessionError(f"cannot write {path}: {exc.strerror or exc}; check the folder") from None


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
