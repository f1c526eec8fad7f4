"""The TUI as a newcomer first sees it (no API key, an 80×24 or 60×20 terminal), looked at as the
screen's rows: what each key says, what stays readable, what hides what."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_helpers import DATA
from tui_helpers import on_screen, screen_lines, wait_for

from live.config import Settings
from live.tui.app import create_app
from live.tui.caption_view import CaptionView
from live.tui.notes import AskScreen, NotesPane

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")

HINT = "no API key: set DEEPSEEK_API_KEY or LIVE_LLM_API_KEY (or llm.api_key_file)"


def _app(tmp_path: Path, whisper_engine, input: Path = DATA / "jfk.flac", fast: bool = True):
    settings = Settings(input=input, fast=fast, engine="whisper", session_dir=tmp_path / "s")
    return create_app(settings, load_engine=lambda _status: (whisper_engine, "whisper tiny.en (test)"))


def _captioned(app) -> bool:
    return "country" in " ".join(app.query_one(CaptionView).text_lines()).lower()


async def test_the_footer_keeps_q_quit_at_80_columns(tmp_path, whisper_engine):
    app = _app(tmp_path, whisper_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "bookmark" in screen_lines(app)[-1])
        footer = screen_lines(app)[-1]
        assert "q quit" in footer and "? help" in footer, footer
        await pilot.press("q")


@pytest.mark.parametrize("key", ["exclamation_mark", "s"])
async def test_a_notes_key_without_an_api_key_says_what_to_set_where_it_is_seen(tmp_path, whisper_engine, key):
    app = _app(tmp_path, whisper_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: _captioned(app))
        await pilot.press(key)
        await wait_for(pilot, lambda: on_screen(app, HINT, app.query_one(NotesPane)), seconds=10)
        await pilot.press("q")


async def test_the_whole_no_key_hint_fits_the_notes_pane_at_60_by_20(tmp_path, whisper_engine):
    app = _app(tmp_path, whisper_engine)
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: _captioned(app))
        await pilot.press("s")
        await wait_for(pilot, lambda: "api_key_file" in app.query_one(NotesPane).status, seconds=10)
        await pilot.pause(0.2)
        pane = app.query_one(NotesPane)
        assert on_screen(app, HINT, pane), "\n".join(screen_lines(app, pane))
        await pilot.press("q")


async def test_no_captions_yet_goes_once_captions_come(tmp_path, whisper_engine):
    app = _app(tmp_path, whisper_engine, DATA / "realpython_harvard.flac", fast=False)  # its first words take 3 s
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("s")  # before anything is said
        pane = app.query_one(NotesPane)
        await wait_for(pilot, lambda: "no captions yet" in pane.status, seconds=10)
        await wait_for(pilot, lambda: "smell" in " ".join(app.query_one(CaptionView).text_lines()).lower())
        await wait_for(pilot, lambda: "no captions yet" not in pane.status and not on_screen(app, "no captions yet",
                                                                                              pane), seconds=20)
        await pilot.press("q")


async def test_toasts_leave_the_status_bar_readable(tmp_path, whisper_engine):
    app = _app(tmp_path, whisper_engine)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: "whisper" in screen_lines(app)[-2])
        app.notify("a notice long enough to reach across the right half of the status bar", timeout=30)
        await wait_for(pilot, lambda: on_screen(app, "long enough to reach"))
        status = screen_lines(app)[-2]
        assert "│" in status and "whisper · tiny.en" in status, "\n".join(screen_lines(app)[-6:])
        await pilot.press("q")


async def test_the_ask_box_says_there_is_no_key_once(tmp_path, whisper_engine):
    app = _app(tmp_path, whisper_engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: _captioned(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press(*"what is duty?", "enter")
        await wait_for(pilot, lambda: on_screen(app, "api_key_file"), seconds=10)
        await pilot.pause(0.2)
        assert " ".join(screen_lines(app)).count("DEEPSEEK_API_KEY") == 1, "\n".join(screen_lines(app))
