"""Lecture notes from an LLM: rolling refinement, "explain that", questions, and offline summaries.

Only final captions ever reach the model. Rolling updates *refine*: the previous notes plus the
finals since the last update go out, the revised notes come back, so the cost of an update stays
flat however long the lecture runs. Everything here is UI-agnostic; the TUI drives it through
``NotesService`` (one worker thread, events through a callback) and shows ``NotesEvent``s.

Session files: ``summary.md`` is always the latest notes (written atomically); each version it
replaces is kept as ``notes/summary-HHMMSS.md`` (the time it was written); ``qa.md`` holds the
questions and answers.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

from live.errors import ConfigError, LiveError, LLMError, SessionError
from live.files import atomic_write, read_jsonl
from live.timefmt import mmss
from live.llm import (
    Cancelled,
    LLMClient,
    LLMSettings,
    NoAPIKey,
    Usage,
    estimate_tokens,
    key_hint,
    resolve_api_key,
)

log = logging.getLogger("live.notes")

SUMMARY = "summary.md"
HISTORY_DIR = "notes"
QA = "qa.md"
TRANSCRIPT = "transcript.jsonl"

RETRY_AFTER_FAILURE_S = 60.0  # a failed rolling update is tried again after this, not at every tick


class NothingYet(LLMError):
    """Nothing has been said yet that the model could work on."""


# --- finals -------------------------------------------------------------------------------------


class CaptionLike(Protocol):
    """What is read from a caption (``live.captions.Caption`` fits)."""

    start: float
    end: float
    text: str
    language: str | None


@dataclass(frozen=True)
class Final:
    """A final caption as the notes need it: when, what, in which language."""

    start: float
    end: float
    text: str
    language: str | None = None

    @classmethod
    def of(cls, caption: CaptionLike | Mapping[str, Any]) -> Final | None:
        """A Final from a Caption-like object or a ``transcript.jsonl`` dict; None unless it is a final."""
        if isinstance(caption, Mapping):
            if caption.get("type") != "final":
                return None
            get = caption.get
        else:
            if getattr(caption, "kind", "final") != "final":
                return None

            def get(name: str, default: Any = None) -> Any:
                return getattr(caption, name, default)

        text = " ".join(str(get("text", "") or "").split())
        if not text:
            return None
        try:
            start, end = float(get("start", 0.0)), float(get("end", 0.0))
        except (TypeError, ValueError):
            return None
        language = get("language", None)
        return cls(start, max(start, end), text, language if isinstance(language, str) else None)


def format_finals(finals: Sequence[Final]) -> str:
    """One ``[mm:ss] text`` line per final: timestamps let the model keep order and cite moments."""
    return "\n".join(f"[{mmss(f.start)}] {f.text}" for f in finals)


def span(finals: Sequence[Final]) -> str:
    return f"{mmss(finals[0].start)}–{mmss(finals[-1].end)}" if finals else "nothing yet"


def read_transcript(path: Path) -> list[Final]:
    """The finals of a ``transcript.jsonl``; a torn last line (a crash mid-write) is skipped."""
    if not path.is_file():
        raise SessionError(f"{path} does not exist; give the folder of a recorded session")
    try:
        return [final for obj in read_jsonl(path) if (final := Final.of(obj)) is not None]
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"cannot read {path}: {exc}") from None


LANGUAGE_NAMES = {
    "zh": "Chinese", "en": "English", "yue": "Cantonese", "ja": "Japanese", "ko": "Korean",
    "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ru": "Russian",
}


def language_rule(settings: LLMSettings, finals: Sequence[Final]) -> str:
    """The sentence telling the model which language to write in."""
    if settings.notes_language:
        return f"Write in {settings.notes_language}."
    counts = Counter(f.language for f in finals if f.language and f.language not in ("auto", "nospeech"))
    if counts:
        code = counts.most_common(1)[0][0]
        return f"Write in {LANGUAGE_NAMES.get(code, code)}, the language of the lecture."
    return "Write in the language the lecture is given in."


# --- prompts ------------------------------------------------------------------------------------

# Placeholders a prompt must keep, or the model would never see that part of the request.
REQUIRED = {
    "refine": ("notes", "transcript"),
    "summarize": ("transcript",),
    "map": ("transcript",),
    "reduce": ("partial_notes",),
}
PROMPT_NAMES = ("notes_system", "refine", "summarize", "map", "reduce", "explain", "qa_system")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class Prompts:
    """The built-in prompts (``live/prompts/*.md``), each replaceable by a file of the same name in
    ``prompts_dir``. ``{{name}}`` placeholders are filled in one pass, so text that happens to
    contain ``{{...}}`` (or LaTeX braces) is never re-expanded."""

    def __init__(self, prompts_dir: Path | None = None) -> None:
        self.prompts_dir = prompts_dir
        self._cache: dict[str, str] = {}

    def text(self, name: str) -> str:
        if name not in self._cache:
            override = self.prompts_dir / f"{name}.md" if self.prompts_dir is not None else None
            if override is not None and override.is_file():
                try:
                    text = override.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise ConfigError(f"cannot read prompt {override}: {exc}") from None
                missing = [p for p in REQUIRED.get(name, ()) if "{{" + p + "}}" not in text]
                if missing:
                    raise ConfigError(f"prompt {override} lacks {', '.join('{{' + p + '}}' for p in missing)}; "
                                      "add it or delete the file to use the built-in prompt")
            else:
                text = (resources.files("live") / "prompts" / f"{name}.md").read_text(encoding="utf-8")
            self._cache[name] = text.strip()
        return self._cache[name]

    def render(self, name: str, **values: object) -> str:
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), self.text(name))


def clean_answer(text: str) -> str:
    """The notes without a code fence the model may have wrapped around the whole answer."""
    text = text.strip()
    fenced = re.fullmatch(r"```(?:markdown|md)?\s*\n(.*?)\n?```", text, flags=re.DOTALL)
    return (fenced.group(1) if fenced else text).strip() + "\n"


# --- session files ------------------------------------------------------------------------------


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


# --- chunking -----------------------------------------------------------------------------------


def chunk_finals(finals: Sequence[Final], limit_tokens: int) -> list[list[Final]]:
    """Consecutive groups whose formatted lines fit ``limit_tokens`` each (a lone longer final
    gets a group of its own rather than being cut)."""
    groups: list[list[Final]] = []
    current: list[Final] = []
    used = 0
    for final in finals:
        cost = estimate_tokens(f"[{mmss(final.start)}] {final.text}\n")
        if current and used + cost > limit_tokens:
            groups.append(current)
            current, used = [], 0
        current.append(final)
        used += cost
    if current:
        groups.append(current)
    return groups


def _room(settings: LLMSettings, *fixed: str) -> int:
    """Tokens left for transcript text once the fixed parts of a request are counted.

    Never under a quarter of the budget: with huge notes and a tiny budget every request still
    carries some transcript, so the work always moves forward.
    """
    budget = settings.context_budget_tokens
    return max(budget - sum(estimate_tokens(t) for t in fixed), budget // 4)


# --- the keeper ---------------------------------------------------------------------------------


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


class NotesKeeper:
    """Keeps the session's notes up to date from its final captions.

    Args:
        client: an LLMClient, or a factory called on first use (it may raise NoAPIKey).
        session_dir: where ``summary.md`` and ``notes/`` are written; an existing ``summary.md``
            is taken as the notes so far (a resumed session).
        settings: budget, interval, language, prompts.
        clock: seconds, monotonic; injected so tests drive the schedule without sleeping.
    """

    def __init__(self, client: ClientSource, session_dir: Path, settings: LLMSettings, *,
                 clock: Callable[[], float] = time.monotonic, context: str | None = None) -> None:
        self.context = context.strip() if context and context.strip() else None  # e.g. the slides
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
    def notes(self) -> str:
        return self._notes

    @property
    def finals(self) -> list[Final]:
        with self._lock:
            return list(self._finals)

    @property
    def pending(self) -> int:
        """Finals not yet in the notes."""
        with self._lock:
            return len(self._finals) - self._done

    def add_final(self, caption: CaptionLike | Mapping[str, Any]) -> bool:
        """Take a caption; anything but a non-empty final (a partial, a bookmark) is ignored."""
        final = Final.of(caption)
        if final is None:
            return False
        with self._lock:
            self._finals.append(final)
        return True

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
        system = self.prompts.render("notes_system", language_rule=language_rule(self.settings, finals or self.finals))
        # The slides are fixed for the session: appended to the system prompt they stay in the cached prefix.
        return f"{system}\n\n{self.context}" if self.context else system

    def update(self, on_token: OnToken | None = None) -> str:
        """Fold every final received so far into the notes and save them; return the new notes.

        Finals beyond the context budget go in several requests, each saved when it succeeds;
        only the last one streams to ``on_token``. On failure the notes saved last stay as they
        are, the finals not yet folded in wait for the next update, and the error propagates.
        """
        with self._lock:
            target = len(self._finals)
            start = self._done
            new = self._finals[start:target]
        if not new:
            if self._notes.strip():
                return self._notes
            raise NothingYet("no captions yet: the notes start once something has been said")
        try:
            system = self.system_prompt()
            while new:
                room = _room(self.settings, system, self.prompts.text("refine"), self._notes)
                group = chunk_finals(new, room)[0]
                new = new[len(group):]
                user = self.prompts.render(
                    "refine", notes=self._notes.strip() or "(none yet: this is the start of the lecture)",
                    span=span(group), transcript=format_finals(group),
                )
                answer = self._ask([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                   len(group), on_token if not new else None)
                notes = clean_answer(answer)
                write_notes(self.session_dir, notes)
                with self._lock:
                    self._notes = notes
                    self._done += len(group)
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
        system = self.prompts.render("explain", language_rule=language_rule(self.settings, finals))
        # Notes first and the excerpt last, so the stable part of the request comes first.
        user = (f"# Notes so far\n\n{self._notes.strip() or '(none yet)'}\n\n"
                f"# The last {seconds:g} seconds ({span(recent)})\n\n{format_finals(recent)}")
        return self._ask([{"role": "system", "content": system}, {"role": "user", "content": user}],
                         len(recent), on_token).strip()

    def _ask(self, messages: list[dict[str, str]], n_finals: int, on_token: OnToken | None) -> str:
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


# --- questions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    at: float  # caption time of the latest final when asked


class Conversation:
    """A multi-turn conversation about the lecture, saved to ``qa.md`` after each complete answer.

    The first request carries the transcript and notes so far; each later question carries only
    the transcript since the previous one. Nothing earlier changes, so the provider's prefix cache
    keeps matching as the conversation grows.
    """

    def __init__(self, keeper: NotesKeeper) -> None:
        self.keeper = keeper
        self.turns: list[Turn] = []
        self._messages: list[dict[str, str]] = []  # everything after the system prompt
        self._seen = 0  # finals already given to the model

    @property
    def path(self) -> Path:
        return self.keeper.session_dir / QA

    def ask(self, question: str, on_token: OnToken | None = None) -> str:
        question = question.strip()
        if not question:
            raise LLMError("the question is empty; type a question first")
        keeper = self.keeper
        finals = keeper.finals
        system = keeper.prompts.text("qa_system")
        if not self._messages:
            context = self._context(finals, system)
            user = f"{context}\n\n# Question\n\n{question}"
        else:
            since = finals[self._seen:]
            user = (f"# Transcript since the previous question ({span(since)})\n\n{format_finals(since)}\n\n"
                    f"# Question\n\n{question}" if since else f"# Question\n\n{question}")
        history = self._fit(system, user)
        messages = [{"role": "system", "content": system}, *history, {"role": "user", "content": user}]
        answer = keeper._ask(messages, len(finals) - self._seen, on_token).strip()
        self._messages.extend([{"role": "user", "content": user}, {"role": "assistant", "content": answer}])
        self._seen = len(finals)
        self.turns.append(Turn(question, answer, finals[-1].end if finals else 0.0))
        self._save()
        return answer

    def _context(self, finals: list[Final], system: str) -> str:
        notes = self.keeper.notes.strip() or "(none yet)"
        room = _room(self.keeper.settings, system, notes)
        shown = finals
        if estimate_tokens(format_finals(finals)) > room:
            # The notes cover the start; keep the most recent transcript that fits.
            shown = chunk_finals(list(reversed(finals)), room)[0][::-1]
        cut = "" if len(shown) == len(finals) else " (the latest part; the notes cover the rest)"
        return (f"# Lecture transcript so far{cut} ({span(shown)})\n\n{format_finals(shown) or '(nothing yet)'}\n\n"
                f"# Notes so far\n\n{notes}")

    def _fit(self, system: str, user: str) -> list[dict[str, str]]:
        """The history that fits the budget: the opening context stays, the oldest turns go first."""
        history = list(self._messages)
        budget = self.keeper.settings.context_budget_tokens
        while len(history) > 2 and sum(estimate_tokens(m["content"]) for m in [
                {"content": system}, *history, {"content": user}]) > budget:
            del history[2:4]
        return history

    def _save(self) -> None:
        lines = ["# Questions about the lecture", ""]
        for turn in self.turns:
            lines += [f"## [{mmss(turn.at)}] {turn.question}", "", turn.answer, ""]
        atomic_write(self.path, "\n".join(lines))


# --- the background service ---------------------------------------------------------------------

RequestKind = Literal["update", "explain", "ask"]
EventKind = Literal["started", "token", "done", "error"]


@dataclass(frozen=True)
class NotesEvent:
    """What the worker reports. ``text``: the question (started/ask), a token, the whole answer
    (done) or a one-line message (error); ``error`` names the error class (e.g. "NoAPIKey")."""

    kind: EventKind
    request: RequestKind
    text: str = ""
    error: str | None = None


class NotesService:
    """Runs notes requests on ONE worker thread so a slow model never blocks captions or the UI.

    ``request()`` returns at once. A second update (or explain) asked for while one is waiting is
    coalesced into it; one asked for while one runs waits as the single "run again after". Events
    go to ``on_event`` from the worker thread (the TUI turns them into messages).
    ``tick_every_s`` lets the worker check ``keeper.due()`` on its own; None leaves that to
    ``tick()``.
    """

    def __init__(self, keeper: NotesKeeper, on_event: Callable[[NotesEvent], None], *,
                 conversation: Conversation | None = None, tick_every_s: float | None = 5.0) -> None:
        self.keeper = keeper
        self.conversation = conversation or Conversation(keeper)
        self._on_event = on_event
        self._tick_every_s = tick_every_s
        self._cond = threading.Condition()
        self._queue: deque[tuple[RequestKind, dict[str, Any]]] = deque()
        self._current: RequestKind | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="live-notes", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._current is not None or bool(self._queue)

    def request(self, kind: RequestKind = "update", *, question: str | None = None,
                seconds: float = 60.0) -> bool:
        """Queue a request; False when it was coalesced into a waiting one (or the service is closed)."""
        if kind not in ("update", "explain", "ask"):
            raise ValueError(f"unknown request kind {kind!r}")
        with self._cond:
            if self._closed:
                return False
            if kind != "ask" and any(k == kind for k, _ in self._queue):
                return False
            self._queue.append((kind, {"question": question or "", "seconds": seconds}))
            self._cond.notify_all()
        return True

    def tick(self, now: float | None = None) -> bool:
        """Request a rolling update if one is due; True when one was queued."""
        return self.keeper.due(now) and self.request("update")

    def cancel(self) -> None:
        """Drop waiting requests and cancel the one in flight (it ends with an error event)."""
        with self._cond:
            self._queue.clear()
        self.keeper.abort()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._current is not None or self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def flush(self, timeout: float = 20.0) -> bool:
        """Bring the notes up to date before quitting: drop waiting questions, run one update,
        wait up to ``timeout``; cancel if that runs out. True when the notes cover every final."""
        with self._cond:
            self._queue = deque(item for item in self._queue if item[0] == "update")
        if self.keeper.pending:
            self.request("update")
        if not self.wait_idle(timeout):
            self.cancel()
            self.wait_idle(2.0)
        return self.keeper.pending == 0

    def close(self, timeout: float = 2.0) -> bool:
        """Cancel everything and stop the worker; True when it has ended within ``timeout``."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        # Abort again while waiting: a request that started just after the first abort is caught too.
        while self._thread.is_alive() and time.monotonic() < deadline:
            self.keeper.abort()
            self._thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
        return not self._thread.is_alive()

    # -- worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(self._tick_every_s)
                    if self._tick_every_s is not None and not self._queue and not self._closed \
                            and self.keeper.due():
                        self._queue.append(("update", {}))
                if self._closed:
                    self._current = None
                    self._cond.notify_all()
                    return
                kind, args = self._queue.popleft()
                self._current = kind
            try:
                self._serve(kind, args)
            finally:
                with self._cond:
                    self._current = None
                    self._cond.notify_all()

    def _serve(self, kind: RequestKind, args: dict[str, Any]) -> None:
        self._emit(NotesEvent("started", kind, args.get("question", "") if kind == "ask" else ""))

        def on_token(token: str) -> None:
            self._emit(NotesEvent("token", kind, token))

        try:
            if kind == "update":
                text = self.keeper.update(on_token)
            elif kind == "explain":
                text = self.keeper.explain_recent(args.get("seconds", 60.0), on_token)
            else:
                text = self.conversation.ask(args.get("question", ""), on_token)
        except LiveError as exc:
            if not isinstance(exc, Cancelled):
                log.warning("notes %s failed: %s", kind, exc)
            self._emit(NotesEvent("error", kind, str(exc), type(exc).__name__))
        except Exception as exc:  # a bug: keep the worker alive, say so, keep the traceback in the log
            log.exception("notes %s failed unexpectedly", kind)
            self._emit(NotesEvent("error", kind, f"internal error: {type(exc).__name__}; see the log", "Bug"))
        else:
            self._emit(NotesEvent("done", kind, text))

    def _emit(self, event: NotesEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # the receiver's bug must not kill the worker; it is logged, not hidden
            log.exception("notes event handler failed on %s", event.kind)


# --- summarizing a saved session ----------------------------------------------------------------


def summarize_session(session_dir: Path, client: LLMClient, settings: LLMSettings, *,
                      on_progress: Callable[[str], None] | None = None, context: str | None = None) -> Path:
    """Rebuild ``summary.md`` of a saved session from its ``transcript.jsonl`` in one pass.

    A transcript over ``context_budget_tokens`` is cut into parts, each summarized on its own
    (map), and the partial notes merged (reduce; in rounds when even they do not fit).
    ``context`` (e.g. ``live.slides.slides_prompt_block``) is appended to the system prompt of
    every request: it stays in the stable prefix that the provider's cache matches.
    """
    session_dir = Path(session_dir)
    finals = read_transcript(session_dir / TRANSCRIPT)
    if not finals:
        raise SessionError(f"{session_dir / TRANSCRIPT} holds no final captions; nothing to summarize")
    prompts = Prompts(settings.prompts_dir)
    system = prompts.render("notes_system", language_rule=language_rule(settings, finals))
    if context and context.strip():
        system = f"{system}\n\n{context.strip()}"
    say = on_progress or (lambda _msg: None)

    def ask(user: str) -> str:
        return clean_answer(client.complete([{"role": "system", "content": system},
                                             {"role": "user", "content": user}]))

    room = _room(settings, system, prompts.text("map"))
    parts = chunk_finals(finals, room)
    if len(parts) == 1:
        say(f"summarizing {len(finals)} captions ({span(finals)}) in one request")
        notes = ask(prompts.render("summarize", span=span(finals), transcript=format_finals(finals)))
    else:
        partials: list[str] = []
        for i, part in enumerate(parts, 1):
            say(f"part {i} of {len(parts)} ({span(part)})")
            partials.append(ask(prompts.render("map", part=i, parts=len(parts), span=span(part),
                                               transcript=format_finals(part))))
        notes = _reduce(partials, ask, prompts, settings, system, say)
    return write_notes(session_dir, notes)


def _reduce(partials: list[str], ask: Callable[[str], str], prompts: Prompts, settings: LLMSettings,
            system: str, say: Callable[[str], None]) -> str:
    """Merge partial notes; groups that fit the budget are merged first, round after round."""
    while True:
        room = _room(settings, system, prompts.text("reduce"))
        groups: list[list[str]] = [[]]
        used = 0
        for text in partials:
            cost = estimate_tokens(text)
            if groups[-1] and used + cost > room:
                groups.append([])
                used = 0
            groups[-1].append(text)
            used += cost
        if len(groups) == 1 or all(len(g) == 1 for g in groups):
            # One merge is left, or nothing can be merged further within the budget: merge it all.
            say(f"merging {len(partials)} partial notes")
            return ask(prompts.render("reduce", partial_notes=_join_partials(partials)))
        say(f"merging {len(partials)} partial notes in {len(groups)} groups")
        partials = [ask(prompts.render("reduce", partial_notes=_join_partials(g))) if len(g) > 1 else g[0]
                    for g in groups]


def _join_partials(partials: Iterable[str]) -> str:
    return "\n\n".join(f"--- Part {i} ---\n\n{text.strip()}" for i, text in enumerate(partials, 1))


def summarize_main(session_dir: Path, settings: LLMSettings, env: Mapping[str, str] = os.environ) -> int:
    """``live summarize SESSION_DIR``: one-line errors on stderr, the written path on stdout."""
    session_dir = Path(session_dir)
    try:
        if not session_dir.is_dir():
            raise SessionError(f"{session_dir} is not a folder; give the folder of a recorded session")
        if not (session_dir / TRANSCRIPT).is_file():
            raise SessionError(f"{session_dir} has no {TRANSCRIPT}; give the folder of a recorded session")
        key = resolve_api_key(settings, env)
        if key is None:
            raise NoAPIKey(key_hint(settings))
        client = LLMClient(settings, key)
        try:
            path = summarize_session(session_dir, client, settings,
                                     on_progress=lambda msg: print(f"live: {msg}", file=sys.stderr))
        finally:
            client.close()
    except LiveError as exc:
        print(f"live: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(path)
    return 0
