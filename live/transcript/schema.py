"""What ``transcript.jsonl`` holds, line by line, and how it is read back.

Lines: ``{"type": "final", ...}`` (``live.captions.Caption.to_json``), ``{"type": "bookmark", "at",
"note"}``, ``{"type": "marker", "kind": "pause"|"resume"|"gap", "at", "note"?}`` and ``{"type":
"translation", "index", "lang", "text"}`` after its final.
"""

from __future__ import annotations

from pathlib import Path

from live.captions import Caption
from live.files import read_jsonl

TRANSCRIPT = "transcript.jsonl"
AUDIO = "audio.wav"


def read_entries(folder: Path) -> tuple[list[Caption], list[dict]]:
    """Finals (in time order: ``live finish`` appends the speech a quit left uncaptioned) and markers
    (bookmarks, pause, resume, gap) from a session's JSONL, skipping a torn last line."""
    finals: list[Caption] = []
    marks: list[dict] = []
    for obj in read_jsonl(folder / TRANSCRIPT):
        if obj.get("type") == "final":
            finals.append(Caption.from_json(obj))
        elif obj.get("type") in ("bookmark", "marker") and "at" in obj:
            marks.append(obj)
    finals.sort(key=lambda c: (c.start, c.index))
    return finals, marks


def uncaptioned(folder: Path) -> list[dict]:
    """The speech a session heard but did not caption (``{"type": "uncaptioned", "start", "end"}`` lines a
    quit under backlog leaves), less what ``live finish`` has captioned since."""
    spans: list[dict] = []
    done: list[tuple[float, float]] = []
    for obj in read_jsonl(folder / TRANSCRIPT):
        if obj.get("type") == "uncaptioned":
            spans.append(obj)
        elif obj.get("type") == "final" and obj.get("finished"):
            done.append((float(obj["start"]), float(obj["end"])))
    return [s for s in spans if not any(a <= float(s["start"]) + 1e-3 and float(s["end"]) <= b + 1e-3
                                        for a, b in done)]
