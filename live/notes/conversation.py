"""Questions about the lecture: a multi-turn ``Conversation`` saved to ``qa.md``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from live.errors import LLMError
from live.files import atomic_write
from live.llm import estimate_tokens
from live.notes.finals import Final, chunk_finals, format_finals, span, transcript_room
from live.notes.keeper import QA, NotesKeeper, OnToken
from live.timefmt import mmss


@dataclass(frozen=True)
class Turn:
    """One question and its answer, with the lecture time it was asked at."""

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
        answer = keeper.ask_model(messages, len(finals) - self._seen, on_token).strip()
        self._messages.extend([{"role": "user", "content": user}, {"role": "assistant", "content": answer}])
        self._seen = len(finals)
        self.turns.append(Turn(question, answer, finals[-1].end if finals else 0.0))
        self._save()
        return answer

    def _context(self, finals: list[Final], system: str) -> str:
        notes = self.keeper.notes.strip() or "(none yet)"
        room = transcript_room(self.keeper.settings, system, notes)
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
