"""``live --headless``: captions on stdout for scripts and benchmarks, messages on stderr.

Text mode prints each final as ``[hh:mm:ss] text``. ``--json`` prints one JSON object a line, in the
stable format of ``Caption.to_json`` (``type``, ``start``, ``end``, ``text``, ``language``, ``emotion``,
``events``, ``emitted``, ``index``, ``speech_end``, and ``corrections`` where the vocabulary replaced a
word); ``--partials`` adds the partials. With ``--translate`` each translation follows as
``{"type": "translation", "index": N, "lang": ..., "text": ...}`` (text mode: an indented line). Who
spoke each final follows it (unless --speakers off) as ``{"type": "speaker", "index": N, "speaker":
"lecturer"|"audience", "voice": N|null}``; a later one for the same index replaces it. Text mode says only
the audience: ``Question: <the final's text>`` indented under it (and ``Not a question:`` when a
label is taken back). What stopped a session is said once, in one line, by the caller from
``Finished.error``; tracebacks go to the session's live.log.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from live.captions import Caption
from live.notes import NotesEvent
from live.events import EngineState, Finished, Notice, Translation
from live.speakers import AUDIENCE, SpeakerLabel
from live.timefmt import hms

RECENT = 500  # finals whose text is kept for their speaker lines

if TYPE_CHECKING:
    from live.config import Settings


class HeadlessPrinter:
    """The front end of a headless session: it renders events, nothing else."""

    def __init__(self, *, as_json: bool, partials: bool, out: TextIO | None = None, err: TextIO | None = None,
                 summary_path: str | None = None):
        self.as_json = as_json
        self.partials = partials and as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.summary_path = summary_path
        self.finished: Finished | None = None
        self._recent: dict[int, Caption] = {}  # text mode: finals by index, for their speaker lines
        self._asked: set[int] = set()  # text mode: finals said to be questions

    def __call__(self, event: object) -> None:
        if isinstance(event, Caption):
            self._caption(event)
        elif isinstance(event, Translation):
            self._line(json.dumps(event.to_json(), ensure_ascii=False) if self.as_json
                       else f"{' ' * len(hms(event.at))}  {event.lang}: {event.text}")
        elif isinstance(event, SpeakerLabel):
            self._speaker(event)
        elif isinstance(event, EngineState):
            # A failure is said once, by Finished; loading says only what takes long (a download).
            if event.state == "ready" or (event.state == "loading" and event.message.startswith("download")):
                self._say(event.message)
        elif isinstance(event, Notice):
            self._say(event.message)
        elif isinstance(event, NotesEvent):
            if event.kind == "error":
                self._say(f"notes: {event.text}")
            elif event.kind == "done" and event.request == "update":
                self._say(f"notes updated ({self.summary_path})" if self.summary_path else "notes updated")
        elif isinstance(event, Finished):
            self.finished = event

    def _say(self, text: str) -> None:
        print(f"live: {text}", file=self.err, flush=True)

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _caption(self, caption: Caption) -> None:
        if caption.kind == "partial" and not self.partials:
            return
        if not caption.text:
            return
        if self.as_json:
            self._line(json.dumps(caption.to_json(), ensure_ascii=False))
        else:
            self._line(f"[{hms(caption.start)}] {caption.text}")
            if caption.kind == "final":
                self._recent[caption.index] = caption
                while len(self._recent) > RECENT:
                    self._recent.pop(next(iter(self._recent)))

    def _speaker(self, label: SpeakerLabel) -> None:
        if self.as_json:
            self._line(json.dumps(label.to_json(), ensure_ascii=False))
            return
        final = self._recent.get(label.index)
        if final is None:
            return
        indent = " " * len(hms(final.start))
        if label.speaker == AUDIENCE and label.index not in self._asked:
            self._asked.add(label.index)
            self._line(f"{indent}  Question: {final.text}")
        elif label.speaker != AUDIENCE and label.index in self._asked:
            self._asked.discard(label.index)
            self._line(f"{indent}  Not a question (the lecturer): {final.text}")


def run_headless(settings: Settings, stats_file: Path | None = None) -> int:
    """Run a session with captions on stdout until its input ends or a signal ends it; the exit status."""
    from live.session import SessionOptions, build_session

    printer = HeadlessPrinter(as_json=settings.json, partials=settings.partials)
    room = None
    if settings.share:  # the room is open before the session starts: a bad port is one line, no folder
        from live.room.setup import announce, room_for

        room = room_for(settings, notify=printer)
        room.start()
        for line in announce(room, qr=printer.err.isatty()):
            print(line, file=printer.err, flush=True)

    def sink(event: object) -> None:
        printer(event)  # the sharer's own screen first
        if room is not None:
            room.publish(event)

    try:
        session = build_session(settings, sink, SessionOptions(notes="when-key"))
    except BaseException:
        if room is not None:
            room.finish("the session could not start", timeout=1.0)
        raise
    if session.folder is not None:
        printer.summary_path = str(session.folder / "summary.md")

    # The first Ctrl-C (or SIGTERM) ends the session within seconds: what is waiting is decoded for up to
    # Worker.finish_s and everything written. A second one ends it at once; either way what was not
    # captioned is marked for `live finish`. Installed here, not inherited: `live … &` from a script
    # starts with SIGINT ignored, and must still stop on it.
    def stop(signum, frame):
        if session.stopping:
            print("live: stopping now; what is left is marked for `live finish`", file=sys.stderr, flush=True)
        else:
            print("live: finishing (Ctrl-C again to stop at once)…", file=sys.stderr, flush=True)
        session.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    error = None
    try:
        session.run()
        error = printer.finished.error if printer.finished else None
        if not error:
            session.finish_notes(timeout=60)  # the notes take in the last finals
    finally:
        session.close()
        if room is not None:
            room.finish(error)  # every final reaches the viewers before the room's server stops
    if stats_file is not None:
        stats_file.write_text(json.dumps(session.stats.to_json()), encoding="utf-8")
    if error:
        print(f"live: error: {error}", file=sys.stderr)
    folder = printer.finished.folder if printer.finished else session.folder
    if folder is not None:  # none: a run that never started (a server never reached) keeps no folder
        print(f"live: session saved in {folder}", file=sys.stderr)
    return 1 if error else 0


