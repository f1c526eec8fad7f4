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
    """Finals and bookmarks from a session's JSONL, skipping a torn last line."""
    finals: list[Caption] = []
    marks: list[dict] = []
    for obj in read_jsonl(folder / TRANSCRIPT):
        if obj.get("type") == "final":
            finals.append(Caption.from_json(obj))
        elif obj.get("type") == "bookmark" or (obj.get("type") == "marker" and obj.get("kind") == "gap"):
            marks.append(obj)
    return finals, marks
