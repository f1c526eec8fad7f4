"""Search in the TUI (Pilot): `/` over this session's captions, English and Chinese, hits highlighted,
Enter/Down/Up between them, a hit older than the view's window read back from transcript.jsonl."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rich.color import Color

from tui_helpers import wait_for as wait_for_screen
from live.captions import Caption
from live.config import Settings
from live.session import Marker
from live.tui.app import create_app
from live.tui.caption_view import KEEP_ROWS, CaptionView
from live.tui.messages import PipelineEvent
from live.tui.search import SearchBox

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")

SPECIAL = {
    3: "The Fourier transform decomposes a signal into its frequencies",
    150: "熵是系统无序程度的量度，孤立系统的熵不会减少",
    200: "so the FOURIER series of a periodic function converges",
    390: "and we come back to fourier once more before the break",
}
N = 400


def silence(tmp_path: Path) -> Path:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(8000, np.float32), 16000)
    return path


wait_for = partial(wait_for_screen, seconds=30.0)


def highlighted(view: CaptionView) -> list[str]:
    """The text drawn in the search hits' colours on the screen now."""
    marks = {Color.parse("yellow"), Color.parse("dark_orange")}
    out = []
    for y in range(view.scrollable_content_region.height):
        for segment in view.render_line(y):
            if segment.style is not None and segment.style.bgcolor in marks:
                out.append(segment.text)
    return out


def lecture(app) -> None:
    """N finals as the worker delivers them (on disk first), a bookmark with a note among them."""
    with open(app.folder / "transcript.jsonl", "a", encoding="utf-8") as fh:
        for i in range(N):
            text = SPECIAL.get(i, f"caption number {i} of the lecture")
            event: object = Caption("final", i * 5.0, i * 5.0 + 4, text, "zh" if i == 150 else "en", index=i)
            fh.write(json.dumps(event.to_json()) + "\n")
            if i == 120:
                fh.flush()
                app.post_message(PipelineEvent(event))
                event = Marker("bookmark", i * 5.0 + 4.5, "fourier on the exam!")
                fh.write(json.dumps(event.to_json()) + "\n")
            fh.flush()
            app.post_message(PipelineEvent(event))


async def test_slash_searches_every_row_jumps_between_hits_and_reads_old_ones_back(tmp_path, whisper_engine):
    settings = Settings(input=silence(tmp_path), fast=True, engine="whisper", session_dir=tmp_path / "s")
    app = create_app(settings, load_engine=lambda _s: (whisper_engine, "w"))
    async with app.run_test(size=(100, 20)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        view = app.query_one(CaptionView)
        lecture(app)
        await wait_for(pilot, lambda: view.total == N + 1)
        assert view.first > 3 and len(view.rows) <= KEEP_ROWS  # the oldest hit is on disk only

        await pilot.press("slash")
        box = app.query_one(SearchBox)
        assert box.is_open and app.focused is box.input
        await pilot.press(*"fourier")
        assert box.region.height == 1 and box.input.content_region.height == 1  # one line, no border hiding it
        assert app.layout == "captions"  # "n" went into the box, not to the layout key
        # Case-insensitive, every row of the session: three captions and the bookmark's note.
        assert app.search.hits == [3, 121, 201, 391]
        assert app.search.current == 391  # the first hit at or below the top of the view
        assert str(box.query_one("#search-count").render()) == "4/4"
        assert "fourier" in [t.lower() for t in highlighted(view)]

        await pilot.press("enter")  # past the last hit: round to the oldest, read back from disk
        assert app.search.current == 3 and view.first <= 3
        on_screen = "\n".join(view.visible_lines())
        assert "The Fourier transform decomposes" in on_screen
        assert "Fourier" in highlighted(view)
        await pilot.press("down")
        assert app.search.current == 121
        assert "★ bookmark — fourier on the exam!" in "\n".join(view.visible_lines())
        await pilot.press("down")
        assert app.search.current == 201 and "FOURIER" in highlighted(view)
        await pilot.press("up", "up")
        assert app.search.current == 3 and "The Fourier transform" in "\n".join(view.visible_lines())

        # Chinese: any substring, typed as it would be.
        box.input.value = ""
        await pilot.press(*"无序程度")
        assert app.search.hits == [151]
        assert "无序程度" in "".join(highlighted(view))
        assert any("熵是系统" in line for line in view.visible_lines())
        await pilot.press(*"xyz")
        assert app.search.hits == [] and str(box.query_one("#search-count").render()) == "no match"

        # A caption that arrives while the box is open is found by the next step.
        box.input.value = "fourier"
        await pilot.pause(0.1)
        caption = Caption("final", 2100.0, 2104.0, "Fourier, one last time", "en", index=N)
        with open(app.folder / "transcript.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(caption.to_json()) + "\n")
        app.post_message(PipelineEvent(caption))
        await wait_for(pilot, lambda: view.total == N + 2)
        for _ in range(5):
            await pilot.press("down")
            if app.search.current == N + 1:
                break
        assert app.search.current == N + 1 and "Fourier, one last time" in "\n".join(view.visible_lines())

        await pilot.press("escape")
        assert not box.is_open and highlighted(view) == [] and app.focused is view
        await pilot.press("n")  # with the box closed, n is the layout key again
        assert app.layout == "split"
        await pilot.press("q")


async def test_search_from_the_notes_layout_shows_the_captions(tmp_path, whisper_engine):
    settings = Settings(input=silence(tmp_path), fast=True, engine="whisper", session_dir=tmp_path / "s")
    app = create_app(settings, load_engine=lambda _s: (whisper_engine, "w"))
    async with app.run_test(size=(100, 20)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        await pilot.press("n", "n")
        assert app.layout == "notes"
        await pilot.press("slash")
        assert app.layout == "split" and app.query_one("#captions").display
        await pilot.press("escape")
        await pilot.press("q")
