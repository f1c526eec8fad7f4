"""One caption as the user sees it, in the JSON form scripts and the session folder rely on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CaptionKind = Literal["partial", "final"]


@dataclass(frozen=True)
class Caption:
    """One caption as the user sees it.

    Attributes:
        kind: "partial" (a guess for the open segment, replaced by the next) or "final" (saved).
        start: seconds of audio since the stream began where the segment starts.
        end: where it ends (for a partial: how far the decoded audio reaches).
        text: the caption text, without tags.
        language, emotion, events: SenseVoice's rich tags as data (None/empty when unknown).
        emitted: the audio-clock second at which the caption was produced.
        index: the segment number; a final replaces the partials of the same index.
        speech_end: the end of the segment's last voiced frame (``end`` adds the tail the VAD keeps, for
            subtitle timing); ``emitted - speech_end`` is the latency a listener feels.
        corrections: what the course's vocabulary replaced in ``text`` (``Correction.to_json()`` dicts:
            from, to, start_char, ...); in the JSON only when there are some.
        finished: captioned after the session by ``live finish``, from speech it left uncaptioned; in the
            JSON only when true.
    """

    kind: CaptionKind
    start: float
    end: float
    text: str
    language: str | None = None
    emotion: str | None = None
    events: tuple[str, ...] = field(default_factory=tuple)
    emitted: float = 0.0
    index: int = 0
    speech_end: float | None = None
    corrections: tuple[dict, ...] = field(default=(), hash=False)
    finished: bool = False

    @property
    def latency(self) -> float:
        """From the end of speech (the end of the segment when that is unknown) to the caption."""
        return self.emitted - (self.speech_end if self.speech_end is not None else self.end)

    def to_json(self) -> dict:
        """The stable JSON form (headless ``--json`` lines and ``transcript.jsonl``)."""
        return {
            "type": self.kind,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "language": self.language,
            "emotion": self.emotion,
            "events": list(self.events),
            "emitted": round(self.emitted, 3),
            "index": self.index,
            "speech_end": None if self.speech_end is None else round(self.speech_end, 3),
            **({"corrections": [dict(c) for c in self.corrections]} if self.corrections else {}),
            **({"finished": True} if self.finished else {}),
        }

    @classmethod
    def from_json(cls, obj: dict) -> Caption:
        return cls(
            kind=obj["type"], start=float(obj["start"]), end=float(obj["end"]), text=obj.get("text", ""),
            language=obj.get("language"), emotion=obj.get("emotion"), events=tuple(obj.get("events") or ()),
            emitted=float(obj.get("emitted", obj["end"])), index=int(obj.get("index", 0)),
            speech_end=None if obj.get("speech_end") is None else float(obj["speech_end"]),
            corrections=tuple(c for c in obj.get("corrections") or () if isinstance(c, dict)),
            finished=obj.get("finished") is True,
        )
