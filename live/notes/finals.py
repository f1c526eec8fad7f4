"""Final captions as the notes see them, and how many of them fit one request.

Only finals ever reach the model; each goes out as one ``[mm:ss] text`` line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from live.errors import SessionError
from live.files import read_jsonl
from live.llm import LLMSettings, estimate_tokens
from live.timefmt import mmss


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
    """The stretch of the lecture the finals cover, e.g. ``01:05–03:40``."""
    return f"{mmss(finals[0].start)}–{mmss(finals[-1].end)}" if finals else "nothing yet"


def read_transcript(path: Path) -> list[Final]:
    """The finals of a ``transcript.jsonl``; a torn last line (a crash mid-write) is skipped."""
    if not path.is_file():
        raise SessionError(f"{path} does not exist; give the folder of a recorded session")
    try:
        return [final for obj in read_jsonl(path) if (final := Final.of(obj)) is not None]
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"cannot read {path}: {exc}") from None


# --- budget --------------------------------------------------------------------------------------


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


def transcript_room(settings: LLMSettings, *fixed: str) -> int:
    """Tokens left for transcript text once the fixed parts of a request are counted.

    Never under a quarter of the budget: with huge notes and a tiny budget every request still
    carries some transcript, so the work always moves forward.
    """
    budget = settings.context_budget_tokens
    return max(budget - sum(estimate_tokens(t) for t in fixed), budget // 4)
