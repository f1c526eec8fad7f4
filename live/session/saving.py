"""Writes through the session writer, and what the user is told when the folder stops or starts working.

A full disk is an OSError the writer keeps to itself (``SessionWriter.error``) and retries: the user is
told when that starts and when it is over. Anything else a write raises ends the session: what was saved
before stays in the folder, and nothing more is captioned (``unsaved``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from live.errors import LiveError
from live.events import Notice
from live.session.loading import describe

if TYPE_CHECKING:
    from live.transcript import SessionWriter

log = logging.getLogger("live.session")


class Saver:
    """``saver(lambda w: w.add_final(caption))``: one write, from the worker's thread only."""

    def __init__(self, writer: SessionWriter | None, emit: Callable[[object], None]) -> None:
        self.writer = writer
        self.unsaved = False  # a write failed for good: nothing more is captioned, it could not be kept
        self._emit = emit

    def __call__(self, write: Callable[[SessionWriter], None]) -> None:
        if self.writer is None:
            return
        before = self.writer.error
        try:
            write(self.writer)  # a full disk is an OSError the writer keeps to itself and retries
        except Exception as exc:
            self.unsaved = True
            log.exception("writing the session failed")
            raise LiveError(f"saving stopped: {describe(exc)}; what was saved before is in "
                            f"{self.writer.folder}") from exc
        after = self.writer.error
        if after and after != before:
            self._emit(Notice("error", after))
        elif before and not after:
            self._emit(Notice("information", f"{self.writer.folder} can be written again; nothing was lost"))
