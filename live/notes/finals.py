"""Final captions and bookmarks as the notes see them, and how many of them fit one request.

Only finals ever reach the model, each as one ``[mm:ss] text`` line; the student's bookmarks go
between them at their moment, as ``[mm:ss] ★ BOOKMARK`` lines quoting the student's note, so the
model sees what was being said around each one. A final the speaker labels gave to the audience reads
``[mm:ss] ❓ FROM THE ROOM: text``: the notes list the questions from the room with their answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from live.errors import SessionError
from live.events import Marker, SpeakerLabel
from live.llm import LLMSettings, estimate_tokens
from live.timefmt import mmss
from live.transcript import read_lines


class CaptionLike(Protocol):
    """What is read from a caption (``live.captions.Caption`` fits)."""

    kind: str
    start: float
    end: float
    text: str
    language: str | None


ROOM = "❓ FROM THE ROOM:"  # marks the audience's speech in the transcript the model reads


@dataclass(frozen=True)
class Final:
    """What the notes keep of a final caption: when, what (spaces folded), in which language, its index,
    and who said it ("lecturer", "audience", or None when unlabelled)."""

    start: float
    end: float
    text: str
    language: str | None = None
    index: int | None = field(default=None, compare=False)  # which final (its speaker label names it)
    speaker: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, caption: object) -> Final | None:
        """The notes' view of a final caption (a ``Caption``, or a transcript line read by
        ``live.transcript.read_lines``); None for anything else or a final with no words."""
        if getattr(caption, "kind", None) != "final":
            return None
        c: CaptionLike = caption  # type: ignore[assignment]
        text = " ".join(str(c.text or "").split())
        if not text:
            return None
        index = getattr(caption, "index", None)
        return cls(c.start, max(c.start, c.end), text, c.language if isinstance(c.language, str) else None,
                   index if isinstance(index, int) else None)

    def line(self) -> str:
        return f"[{mmss(self.start)}] {ROOM + ' ' if self.speaker == 'audience' else ''}{self.text}"


def speaker_of(event: object) -> tuple[int, str] | None:
    """(index, speaker) of a speaker label (``live.events.SpeakerLabel``); None for anything else."""
    if not isinstance(event, SpeakerLabel):
        return None
    return event.index, event.speaker


def with_speakers(finals: Sequence[Final], labels: Mapping[int, str]) -> list[Final]:
    """``finals`` with the speakers of ``labels`` (final index -> "lecturer"|"audience") applied."""
    return [replace(f, speaker=labels[f.index]) if f.index in labels else f for f in finals]


@dataclass(frozen=True)
class Mark:
    """A bookmark the student set: its moment, and their own words (empty when they gave none)."""

    at: float
    note: str = ""

    @classmethod
    def of(cls, event: object) -> Mark | None:
        """The notes' view of a bookmark (a ``live.events.Marker``); None for anything else."""
        if not isinstance(event, Marker) or event.kind != "bookmark":
            return None
        return cls(event.at, " ".join(event.note.split()))

    def line(self) -> str:
        said = f'the student\'s note: "{self.note}"' if self.note else "no note"
        return f"[{mmss(self.at)}] ★ BOOKMARK ({said})"


def format_finals(finals: Sequence[Final], marks: Sequence[Mark] = ()) -> str:
    """One ``[mm:ss] text`` line per final: timestamps let the model keep order and cite moments.
    Each bookmark goes after the finals that began before it."""
    lines: list[str] = []
    waiting = list(marks)
    for f in finals:
        while waiting and waiting[0].at < f.start:
            lines.append(waiting.pop(0).line())
        lines.append(f.line())
    lines += [m.line() for m in waiting]
    return "\n".join(lines)


def marks_before(marks: Sequence[Mark], later: Sequence[Final]) -> int:
    """How many of ``marks`` (in order) come before the finals of ``later``: all when none is later."""
    if not later:
        return len(marks)
    return next((i for i, m in enumerate(marks) if m.at >= later[0].start), len(marks))


def span(finals: Sequence[Final], marks: Sequence[Mark] = ()) -> str:
    """The stretch of the lecture the finals (and bookmarks) cover, e.g. ``01:05–03:40``."""
    starts = [f.start for f in finals[:1]] + [m.at for m in marks[:1]]
    ends = [f.end for f in finals[-1:]] + [m.at for m in marks[-1:]]
    return f"{mmss(min(starts))}–{mmss(max(ends))}" if starts else "nothing yet"


def read_lecture(path: Path) -> tuple[list[Final], list[Mark]]:
    """The finals and the bookmarks of a ``transcript.jsonl``, each in order, read in one pass."""
    if not path.is_file():
        raise SessionError(f"{path} does not exist; give the folder of a recorded session")
    finals: list[Final] = []
    marks: list[Mark] = []
    speakers: dict[int, str] = {}
    try:
        for line in read_lines(path):
            if (final := Final.of(line)) is not None:
                finals.append(final)
            elif (mark := Mark.of(line)) is not None:
                marks.append(mark)
            elif (said := speaker_of(line)) is not None:
                speakers[said[0]] = said[1]  # a later label for a final replaces the earlier one
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"cannot read {path}: {exc}") from None
    return with_speakers(finals, speakers), marks


# --- budget --------------------------------------------------------------------------------------


def chunk_finals(finals: Sequence[Final], limit_tokens: int) -> list[list[Final]]:
    """Consecutive groups whose formatted lines fit ``limit_tokens`` each (a lone longer final
    gets a group of its own rather than being cut)."""
    groups: list[list[Final]] = []
    current: list[Final] = []
    used = 0
    for final in finals:
        cost = estimate_tokens(final.line() + "\n")
        if current and used + cost > limit_tokens:
            groups.append(current)
            current, used = [], 0
        current.append(final)
        used += cost
    if current:
        groups.append(current)
    return groups


def transcript_room(settings: LLMSettings, *fixed: str) -> int:
    """Tokens left for transcript text once the fixed parts of a request are counted.

    Never under a quarter of the budget: with huge notes and a tiny budget every request still
    carries some transcript, so the work always moves forward.
    """
    budget = settings.context_budget_tokens
    return max(budget - sum(estimate_tokens(t) for t in fixed), budget // 4)
