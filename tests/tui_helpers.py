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
