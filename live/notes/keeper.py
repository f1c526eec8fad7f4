"""The rolling notes of one session: ``NotesKeeper`` folds new finals into them and saves them.

Updates *refine*: the previous notes plus the finals since the last update go out, the revised
notes come back, so the cost of an update stays flat however long the lecture runs. The student's
bookmarks go out with the finals around them, each quoting the student's note.

Session files: ``summary.md`` is always the latest notes (written atomically); each version it
replaces is kept as ``notes/summary-HHMMSS.md`` (the time it was written); ``qa.md`` holds the
questions and answers (``live.notes.conversation``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from live.errors import LiveError, LLMError, SessionError
from live.files import atomic_write
from live.llm import LLMClient, LLMSettings, Usage, estimate_tokens
from live.notes.finals import (
    Final,
    Mark,
    chunk_finals,
    format_finals,
    marks_before,
    span,
    speaker_of,
    transcript_room,
    with_speakers,
)
from live.notes.prompts import Prompts, clean_answer, language_rule, notes_system

SUMMARY = "summary.md"
HISTORY_DIR = "notes"
QA = "qa.md"

RETRY_AFTER_FAILURE_S = 60.0  # a failed rolling update is tried again after this, not at every tick


class NothingYet(LLMError):
    """Nothing has been said yet that the model could work on."""


def write_notes(session_dir: Path, text: str) -> Path:
    """Make ``text`` the session's ``summary.md``; keep the version it replaces in ``notes/``."""
    path = session_dir / SUMMARY
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
        if path.exists():
            old = path.read_text(encoding="utf-8")
            if old.strip() and old != text:
                history = session_dir / HISTORY_DIR
                history.mkdir(exist_ok=True)
                when = datetime.fromtimestamp(path.stat().st_mtime).strftime("%H%M%S")
                target = history / f"summary-{when}.md"
                n = 1
                while target.exists() and target.read_text(encoding="utf-8") != old:
                    n += 1
                    target = history / f"summary-{when}-{n}.md"
                if not target.exists():
                    atomic_write(target, old)
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"cannot keep the earlier notes in {session_dir}: {exc}") from None
    atomic_write(path, text)
    return path


@dataclass(frozen=True)
class UpdateStats:
    """One request of a notes update, for figures: what was sent and what the server counted."""

    finals: int
    prompt_chars: int
    prompt_tokens_est: int
    usage: Usage | None
    seconds: float


OnToken = Callable[[str], None]
ClientSource = LLMClient | Callable[[], LLMClient]
ContextSource = Callable[[], str | None]


class NotesKeeper:
    """Keeps the session's notes up to date from its final captions.

    Args:
        client: an LLMClient, or a factory called on first use (it may raise NoAPIKey).
        session_dir: where ``summary.md`` and ``notes/`` are written; an existing ``summary.md``
            is taken as the notes so far (a resumed session).
        settings: budget, interval, language, prompts.
        clock: seconds, monotonic; injected so tests drive the schedule without sleeping.
        context: a block for the system prompt (e.g. the slides), or a callable returning it. The
            callable is called when the system prompt is first needed, on the notes worker, so a
            slow deck never holds up the caller; its answer is kept. A LiveError it raises fails
            that request, and the next request calls it again.
    """

    def __init__(self, client: ClientSource, session_dir: Path, settings: LLMSettings, *,
                 clock: Callable[[], float] = time.monotonic, context: str | ContextSource | None = None) -> None:
        self._context_source: ContextSource | None = context if callable(context) else None
        self._context = None if callable(context) else _stripped(context)
        # Not self._lock: the callable may parse a deck for seconds, and add_final must not wait on it.
        self._context_lock = threading.Lock()
        if hasattr(client, "stream"):
            self._client: LLMClient | None = client  # type: ignore[assignment]
            self._factory: Callable[[], LLMClient] | None = None
        else:
            self._client, self._factory = None, client  # type: ignore[assignment]
        self.session_dir = Path(session_dir)
        self.settings = settings
        self.prompts = Prompts(settings.prompts_dir)
        self._clock = clock
        self._lock = threading.Lock()
        self._finals: list[Final] = []
        self._done = 0  # finals already folded into the notes
        self._marks: list[Mark] = []
        self._marks_done = 0  # bookmarks already folded into the notes
        self._notes = ""
        summary = self.session_dir / SUMMARY
        if summary.is_file():
            self._notes = summary.read_text(encoding="utf-8")
        self._last_success = clock()
        self._last_failure: float | None = None
        self.stats: list[UpdateStats] = []

    @property
    def client(self) -> LLMClient:
        if self._client is None:
            assert self._factory is not None
            self._client = self._factory()
        return self._client

    @property
    def context(self) -> str | None:
        """The block appended to the system prompt; a callable ``context`` is resolved here, once."""
        with self._context_lock:
            if self._context_source is not None:
                self._context = _stripped(self._context_source())  # a LiveError leaves it to retry
                self._context_source = None
            return self._context

    @property
    def notes(self) -> str:
        return self._notes

    @property
    def finals(self) -> list[Final]:
        with self._lock:
            return list(self._finals)

    @property
    def marks(self) -> list[Mark]:
        with self._lock:
            return list(self._marks)

    @property
    def pending(self) -> int:
        """Finals and bookmarks not yet in the notes."""
        with self._lock:
            return len(self._finals) - self._done + len(self._marks) - self._marks_done

    def add_final(self, caption: object) -> bool:
        """Take a caption; anything but a non-empty final (a partial, a bookmark) is ignored."""
        final = Final.of(caption)
        if final is None:
            return False
        with self._lock:
            self._finals.append(final)
        return True

    def add_speaker(self, label: object) -> bool:
        """Take who said a final (a ``live.events.SpeakerLabel``, live or read back from the transcript):
        the final of that index, taken earlier, is marked; a later label replaces an earlier one."""
        said = speaker_of(label)
        if said is None:
            return False
        with self._lock:
            for i in range(len(self._finals) - 1, -1, -1):
                if self._finals[i].index == said[0]:
                    self._finals[i] = replace(self._finals[i], speaker=said[1])
                    return True
        return False

    def add_bookmark(self, marker: object) -> bool:
        """Take a bookmark (a ``live.events.Marker``); anything else is ignored."""
        mark = Mark.of(marker)
        if mark is None:
            return False
        with self._lock:
            self._marks.append(mark)
        return True

    def continue_from(self, earlier: Iterable[object]) -> None:
        """A resumed session: take its earlier finals and bookmarks (the lines of its transcript,
        ``live.transcript.read_transcript``) first. With saved notes (summary.md) they count as folded
        in; without, the next update covers them too."""
        earlier = list(earlier)
        said = dict(s for s in map(speaker_of, earlier) if s is not None)
        finals = with_speakers([f for f in map(Final.of, earlier) if f is not None], said)
        marks = [m for m in map(Mark.of, earlier) if m is not None]
        with self._lock:
            self._finals[:0] = finals
            self._marks[:0] = marks
            if self._notes.strip():
                self._done += len(finals)
                self._marks_done += len(marks)

    def due(self, now: float | None = None) -> bool:
        """Whether a rolling update should run: the interval has passed since the last successful
        update, there are new finals, and the last failure (if any) is not too recent."""
        interval = self.settings.interval_minutes * 60.0
        if interval <= 0 or self.pending == 0:
            return False
        now = self._clock() if now is None else now
        if now - self._last_success < interval:
            return False
        retry_gap = min(RETRY_AFTER_FAILURE_S, interval)
        return self._last_failure is None or now - self._last_failure >= retry_gap

    def abort(self) -> None:
        """Cancel the request in flight, if any (from any thread)."""
        if self._client is not None:
            self._client.abort()

    def system_prompt(self, finals: Sequence[Final] | None = None) -> str:
        system = notes_system(self.prompts, self.settings, finals or self.finals)
        # The slides are fixed for the session: appended to the system prompt they stay in the cached prefix.
        context = self.context
        return f"{system}\n\n{context}" if context else system

    def update(self, on_token: OnToken | None = None) -> str:
        """Fold every final received so far into the notes and save them; return the new notes.

        Finals beyond the context budget go in several requests, each saved when it succeeds;
        only the last one streams to ``on_token``. On failure the notes saved last stay as they
        are, the finals not yet folded in wait for the next update, and the error propagates.
        """
        with self._lock:
            new = self._finals[self._done:]
            marks = self._marks[self._marks_done:]
        if not new and not (marks and (self._finals or self._notes.strip())):  # a bookmark alone is news
            if self._notes.strip():
                return self._notes
            raise NothingYet("no captions yet: the notes start once something has been said")
        try:
            system = self.system_prompt()
            while new or marks:
                room = transcript_room(self.settings, system, self.prompts.text("refine"), self._notes)
                group = chunk_finals(new, room)[0] if new else []
                new = new[len(group):]
                with_group = marks[:marks_before(marks, new)]  # the bookmarks among (or after) these finals
                marks = marks[len(with_group):]
                user = self.prompts.render(
                    "refine", notes=self._notes.strip() or "(none yet: this is the start of the lecture)",
                    span=span(group, with_group), transcript=format_finals(group, with_group),
                )
                answer = self.ask_model([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                        len(group), on_token if not (new or marks) else None)
                notes = clean_answer(answer)
                write_notes(self.session_dir, notes)
                with self._lock:
                    self._notes = notes
                    self._done += len(group)
                    self._marks_done += len(with_group)
        except LiveError:
            self._last_failure = self._clock()
            raise
        self._last_success = self._clock()
        self._last_failure = None
        return self._notes

    def explain_recent(self, seconds: float = 60.0, on_token: OnToken | None = None) -> str:
        """Explain the last ``seconds`` of the lecture (by caption time) in plain words."""
        finals = self.finals
        if not finals:
            raise NothingYet("nothing has been said yet to explain")
        cutoff = finals[-1].end - seconds
        recent = [f for f in finals if f.end > cutoff]
        marks = [m for m in self.marks if m.at >= recent[0].start]
        system = self.prompts.render("explain", language_rule=language_rule(self.settings, finals))
        # Notes first and the excerpt last, so the stable part of the request comes first.
        user = (f"# Notes so far\n\n{self._notes.strip() or '(none yet)'}\n\n"
                f"# The last {seconds:g} seconds ({span(recent)})\n\n{format_finals(recent, marks)}")
        return self.ask_model([{"role": "system", "content": system}, {"role": "user", "content": user}],
                              len(recent), on_token).strip()

    def ask_model(self, messages: list[dict[str, str]], n_finals: int, on_token: OnToken | None) -> str:
        """Stream one request's answer to ``on_token`` and keep its figures in ``stats``."""
        client = self.client
        chars = sum(len(m["content"]) for m in messages)
        began = time.monotonic()
        parts: list[str] = []
        for token in client.stream(messages):
            parts.append(token)
            if on_token is not None:
                on_token(token)
        self.stats.append(UpdateStats(
            finals=n_finals, prompt_chars=chars,
            prompt_tokens_est=sum(estimate_tokens(m["content"]) for m in messages),
            usage=client.last_usage, seconds=time.monotonic() - began,
        ))
        return "".join(parts)


def _stripped(text: str | None) -> str | None:
    return text.strip() or None if text else None
