"""What the TUI tests share: waiting for the screen to change under Pilot."""

from __future__ import annotations

import time


async def wait_for(pilot, condition, seconds: float = 60.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out waiting for the screen to change")


def screen_lines(app, widget=None) -> list[str]:
    """The terminal as the user sees it: every row of the screen, toasts and all, as plain text (only
    ``widget``'s part of it, when given: a pane beside another)."""
    strips = app.screen._compositor.render_strips()
    if widget is None:
        return [strip.text for strip in strips]
    r = widget.region
    return [strip.crop(r.x, r.x + r.width).text for strip in strips[r.y:r.y + r.height]]


def on_screen(app, text: str, widget=None) -> bool:
    """``text`` is visible (in ``widget``'s part of the screen), whatever the wrapping: its words in order."""
    seen = " ".join(" ".join(screen_lines(app, widget)).replace("▏", " ").split())
    return " ".join(text.split()) in seen
