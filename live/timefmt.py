"""How times are shown: ``hh:mm:ss`` on caption lines, ``mm:ss`` (``h:mm:ss`` past an hour) in notes
and progress lines."""

from __future__ import annotations


def hms(seconds: float) -> str:
    """``hh:mm:ss``, always with hours (caption lines line up)."""
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def mmss(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` past the first hour."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
