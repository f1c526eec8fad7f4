"""What every session worker, local or remote, shares: the commands a front end sends (stop, pause,
bookmark, retry) and the run that always ends well.

Every command goes through one queue that the worker empties in order between its steps, so a
bookmark lands in the transcript where it was pressed and only the worker writes the session folder.
``run`` turns anything that escapes a step into ``Finished.error``: no failure freezes a front end.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from live.errors import LiveError
from live.events import Bookmark, Command, Finished, Pause, Retry
from live.session.loading import describe

if TYPE_CHECKING:
    from live.audio import AudioSource
    from live.captions import DecodeJob
    from live.transcript import SessionWriter

log = logging.getLogger("live.session")


class Commands:
    """The thread-safe command side of a worker (``Worker``, and ``live.session.remote.RemoteWorker``) and
    the body of its thread: ``_begin`` once, ``_step`` until it says the input ended, ``_finish``."""

    writer: SessionWriter | None
    source: AudioSource | None
    _emit_to: Callable[[object], None]

    def __init__(self) -> None:
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._hurry = threading.Event()  # a second stop: finish now, what is left stays for `live finish`
        self._paused = False  # as asked; the worker applies it in order with the other commands

    def clock(self) -> float:
        raise NotImplementedError

    def stop(self) -> None:
        """End the session: what is waiting is captioned within a few seconds; a second stop ends at once."""
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pause(self, paused: bool) -> None:
        self._paused = paused
        self._commands.put(Pause(paused))

    @property
    def paused(self) -> bool:
        return self._paused

    def bookmark(self, note: str = "", at: float | None = None) -> float:
        """Mark ``at`` (default: now) with the student's ``note``; returns the moment marked."""
        self._commands.put(command := Bookmark(self.clock() if at is None else at, note))
        return command.at

    def retry(self) -> None:
        self._commands.put(Retry())

    @property
    def decoding(self) -> DecodeJob | None:
        """The decode running on this process's engine now, if any (a remote worker's run elsewhere)."""
        return None

    def _next_command(self) -> Command | None:
        try:
            return self._commands.get_nowait()
        except queue.Empty:
            return None

    # -- the worker's thread ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run the session until the input ends, ``stop`` is called, or something stops it."""
        error: str | None = None
        try:
            self._begin()
            while not self._stop.is_set():
                if self._step():
                    break
        except LiveError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("the session stopped")
            error = f"the session stopped: {describe(exc)}"
        error = self._finish(error)
        self._emit(Finished(str(self.writer.folder) if self.writer else None, error))

    def _emit(self, event: object) -> None:
        try:
            self._emit_to(event)
        except Exception:  # a front end's bug must not stop the captions; the log keeps it
            log.exception("a front end failed on %s", type(event).__name__)

    def _begin(self) -> None:
        raise NotImplementedError

    def _step(self) -> bool:
        """One round of reading, deciding and telling; True at the end of the input."""
        raise NotImplementedError

    def _finish(self, error: str | None) -> str | None:
        raise NotImplementedError

    def _release(self, error: str | None) -> str | None:
        """Stop the audio source and close the session folder, whatever went before; the first error."""
        if self.source is not None:
            self.source.stop()
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as exc:
                log.exception("closing the session folder failed")
                error = error or f"saving stopped: {describe(exc)}"
        return error
