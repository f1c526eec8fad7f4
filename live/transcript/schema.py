"""What ``transcript.jsonl`` holds, line by line, and the one reader of it.

Each line is a JSON object whose ``type`` says which of four things it is, each a frozen dataclass
with ``to_json`` (how the writer saves it) and ``from_json`` (how it is read back):

- ``final`` — ``live.captions.Caption`` (kind "final"): ``start``, ``end``, ``text``, ``language``,
  ``index``, ... as ``Caption.to_json`` writes them;
- ``bookmark`` (``at``, ``note``) and ``marker`` (``kind``: pause | resume | gap, ``at``, ``note``?) —
  ``live.events.Marker``;
- ``translation`` (``index`` of its final, ``lang``, ``text``), after its final — ``live.events.Translation``;
- ``speaker`` (``index`` of its final, ``speaker``: lecturer | audience, ``voice``), after its final; a
  later one for the same index replaces it — ``live.events.SpeakerLabel``;
- ``uncaptioned`` (``index``?, ``start``, ``end``) — speech the session heard but did not caption (a quit
  while behind, recognition down): ``live finish`` captions it from audio.wav later, appending a final
  with ``"finished": true`` (``Caption.finished``) — ``Uncaptioned``.

The marker, translation and speaker lines are also events a session posts, so they are defined once,
in ``live.events``; ``Uncaptioned`` is the transcript's own. ``read_lines`` yields them in file order: a line torn by a crash, one that is not of
this schema, or one of a type a later version added, is skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from live.captions import Caption
from live.events import Marker, SpeakerLabel, Translation
from live.files import read_jsonl

log = logging.getLogger("live.transcript")

TRANSCRIPT = "transcript.jsonl"
AUDIO = "audio.wav"



@dataclass(frozen=True)
class Uncaptioned:
    """Speech from ``start`` to ``end`` the session heard but did not caption; ``index`` is its segment's
    (-1 when a remote session could not say)."""

    start: float
    end: float
    index: int = -1

    def to_json(self) -> dict:
        where = {"start": round(self.start, 3), "end": round(self.end, 3)}
        return {"type": "uncaptioned", **({"index": self.index} if self.index >= 0 else {}), **where}

    @classmethod
    def from_json(cls, obj: dict) -> Uncaptioned:
        return cls(float(obj["start"]), float(obj["end"]), int(obj.get("index", -1)))


Line = Caption | Marker | Translation | SpeakerLabel | Uncaptioned

_READERS = {"final": Caption.from_json, "bookmark": Marker.from_json, "marker": Marker.from_json,
            "translation": Translation.from_json, "speaker": SpeakerLabel.from_json,
            "uncaptioned": Uncaptioned.from_json}


def parse_line(obj: dict) -> Line | None:
    """The typed line of one ``transcript.jsonl`` object; None for one not of the schema (logged)."""
    reader = _READERS.get(obj.get("type"))  # type: ignore[arg-type]
    if reader is None:
        return None  # a partial, or a line a later version writes: not ours to read
    try:
        line = reader(obj)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("a %s line is not of the transcript's schema (%s); skipped", obj.get("type"), exc)
        return None
    if isinstance(line, Caption) and not (math.isfinite(line.start) and math.isfinite(line.end)
                                          and isinstance(line.text, str)):
        log.warning("a final at %s–%s has no time or no text; skipped", line.start, line.end)
        return None
    return line


def parse_lines(objs: Iterable[dict]) -> Iterator[Line]:
    return (line for obj in objs if (line := parse_line(obj)) is not None)


def read_lines(path: Path) -> Iterator[Line]:
    """The lines of a ``transcript.jsonl`` in order (a missing file has none)."""
    return parse_lines(read_jsonl(path))


def read_transcript(folder: Path) -> Iterator[Line]:
    """The lines of the session in ``folder``, in order."""
    return read_lines(Path(folder) / TRANSCRIPT)


def read_entries(folder: Path) -> tuple[list[Caption], list[Marker]]:
    """A session's finals (in time order: ``live finish`` appends the speech a quit left uncaptioned) and
    its markers (bookmarks, pause, resume, gap)."""
    finals: list[Caption] = []
    marks: list[Marker] = []
    for line in read_transcript(folder):
        if isinstance(line, Caption):
            finals.append(line)
        elif isinstance(line, Marker):
            marks.append(line)
    finals.sort(key=lambda c: (c.start, c.index))
    return finals, marks


def uncaptioned(folder: Path) -> list[Uncaptioned]:
    """The speech a session heard but did not caption, less what ``live finish`` has captioned since."""
    spans: list[Uncaptioned] = []
    done: list[tuple[float, float]] = []
    for line in read_transcript(folder):
        if isinstance(line, Uncaptioned):
            spans.append(line)
        elif isinstance(line, Caption) and line.finished:
            done.append((line.start, line.end))
    return [s for s in spans if not any(a <= s.start + 1e-3 and s.end <= b + 1e-3 for a, b in done)]


Speakers = dict[int, tuple[str, int | None]]  # final index -> (speaker, audience voice number)


def speaker_labels(lines: Iterable[Line]) -> Speakers:
    """Who said each final, from the speaker lines (the last for an index wins); {} when there are none."""
    return {line.index: (line.speaker, line.voice) for line in lines if isinstance(line, SpeakerLabel)}


def read_speakers(folder: Path) -> Speakers:
    return speaker_labels(read_transcript(folder))
