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
from live.timefmt import hms
from live.transcript import Uncaptioned

if TYPE_CHECKING:
    from live.transcript import SessionWriter
    from live.vad import Segment

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

    def uncaptioned(self, segments: list[Segment]) -> None:
        """Speech heard but not captioned (a quit under backlog, recognition down): a line each in the
        transcript, so ``live finish`` captions it from the session's audio later, and a notice."""
        if not segments:
            return
        for seg in segments:
            entry = Uncaptioned(seg.start, seg.end, seg.index).to_json()
            self(lambda w, entry=entry: w.add_entry(entry))
        seconds = sum(seg.duration for seg in segments)
        later = f"`live finish {self.writer.folder}` captions it from the session's audio" \
            if self.writer is not None and self.writer.records_audio else "it was not recorded, so it cannot be"
        self._emit(Notice("warning", f"{seconds:.0f} s of speech from {hms(segments[0].start)} not captioned yet: "
                                     f"{later}"))
