"""``live summarize SESSION_DIR``: the notes of a saved session, rebuilt from its transcript.

A transcript over the context budget is cut into parts, each summarized on its own (map), and the
partial notes merged (reduce), so no transcript is ever too long to summarize. The student's
bookmarks go with the part they fall in, among the captions around them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from live.errors import LiveError, SessionError
from live.llm import (
    LLMClient,
    LLMSettings,
    NoAPIKey,
    estimate_tokens,
    key_hint,
    resolve_api_key,
)
from live.notes.finals import (
    chunk_finals,
    format_finals,
    marks_before,
    read_lecture,
    span,
    transcript_room,
)
from live.notes.keeper import write_notes
from live.notes.prompts import Prompts, clean_answer, notes_system
from live.transcript import TRANSCRIPT


def summarize_session(session_dir: Path, client: LLMClient, settings: LLMSettings, *,
                      on_progress: Callable[[str], None] | None = None, context: str | None = None) -> Path:
    """Rebuild ``summary.md`` of a saved session from its ``transcript.jsonl`` in one pass.

    A transcript over ``context_budget_tokens`` is cut into parts, each summarized on its own
    (map), and the partial notes merged (reduce; in rounds when even they do not fit).
    ``context`` (e.g. ``live.slides.slides_prompt_block``) is appended to the system prompt of
    every request: it stays in the stable prefix that the provider's cache matches.
    """
    session_dir = Path(session_dir)
    finals, marks = read_lecture(session_dir / TRANSCRIPT)
    if not finals:
        raise SessionError(f"{session_dir / TRANSCRIPT} holds no final captions; nothing to summarize")
    prompts = Prompts(settings.prompts_dir)
    system = notes_system(prompts, settings, finals)
    if context and context.strip():
        system = f"{system}\n\n{context.strip()}"
    say = on_progress or (lambda _msg: None)

    def ask(user: str) -> str:
        return clean_answer(client.complete([{"role": "system", "content": system},
                                             {"role": "user", "content": user}]))

    room = transcript_room(settings, system, prompts.text("map"))
    parts = chunk_finals(finals, room)
    if len(parts) == 1:
        say(f"summarizing {len(finals)} captions ({span(finals)}) in one request")
        notes = ask(prompts.render("summarize", span=span(finals, marks), transcript=format_finals(finals, marks)))
    else:
        partials: list[str] = []
        for i, part in enumerate(parts, 1):
            say(f"part {i} of {len(parts)} ({span(part)})")
            mine = marks[:marks_before(marks, parts[i] if i < len(parts) else [])]
            marks = marks[len(mine):]
            partials.append(ask(prompts.render("map", part=i, parts=len(parts), span=span(part, mine),
                                               transcript=format_finals(part, mine))))
        notes = _reduce(partials, ask, prompts, settings, system, say)
    return write_notes(session_dir, notes)


def _reduce(partials: list[str], ask: Callable[[str], str], prompts: Prompts, settings: LLMSettings,
            system: str, say: Callable[[str], None]) -> str:
    """Merge partial notes; groups that fit the budget are merged first, round after round."""
    while True:
        room = transcript_room(settings, system, prompts.text("reduce"))
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


def summarize_main(session_dir: Path, settings: LLMSettings, env: Mapping[str, str] = os.environ, *,
                   context: str | None = None) -> int:
    """``live summarize SESSION_DIR``: one-line errors on stderr, the written path on stdout.
    ``context`` (the slides' block) goes into every request's system prompt."""
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
            path = summarize_session(session_dir, client, settings, context=context,
                                     on_progress=lambda msg: print(f"live: {msg}", file=sys.stderr))
        finally:
            client.close()
    except LiveError as exc:
        print(f"live: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(path)
    return 0
