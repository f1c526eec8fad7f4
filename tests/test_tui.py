"""The TUI driven with Textual's Pilot: real files through the real pipeline and a real engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_helpers import DATA
from tui_helpers import wait_for
from live.captions import Caption
from live.config import Settings
from live.llm import LLMSettings
from live.session import EngineState, Status
from live.tui.app import HelpScreen, create_app
from live.tui.messages import PipelineEvent
from live.tui.caption_view import CaptionView
from live.tui.widgets import PartialLine, StatusBar

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")


def settings(tmp_path: Path, input: Path, **kw) -> Settings:
    kw.setdefault("fast", True)
    return Settings(input=input, engine="whisper", session_dir=tmp_path / "sessions", **kw)


def loader(engine):
    return lambda on_status: (engine, "whisper tiny.en (test)")


def log_text(app) -> str:
    return "\n".join(app.query_one(CaptionView).text_lines())


async def test_captions_appear_and_quit_writes_the_session(tmp_path, whisper_engine):
    app = create_app(settings(tmp_path, DATA / "jfk.flac"), load_engine=loader(whisper_engine))
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: "your country" in log_text(app).lower())
        assert "whisper" in str(app.query_one(StatusBar).render())
        await wait_for(pilot, lambda: app.finished)
        await pilot.press("q")
    folder = Path(app.session_folder)
    txt = (folder / "transcript.txt").read_text().lower()
    assert "ask what you can do for your country" in txt.replace(",", "")
    assert (folder / "transcript.srt").exists() and (folder / "audio.wav").exists()


async def test_partials_replace_each_other_and_vanish_with_the_final(tmp_path, whisper_engine, monkeypatch):
    shown: list[str] = []
    original = PartialLine.show

    def spy(self, caption):
        original(self, caption)
        shown.append(str(self.render()))

    monkeypatch.setattr(PartialLine, "show", spy)
    # Real time: partials show while the decoder keeps up (a --fast replay is always behind: finals only).
    app = create_app(settings(tmp_path, DATA / "jfk.flac", fast=False), load_engine=loader(whisper_engine))
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        partial_texts = [s for s in shown if s.startswith("…")]
        assert len(set(partial_texts)) >= 2  # successive guesses replaced one another in one line
        assert str(app.query_one(PartialLine).render()) == ""  # the final took its place
        assert "…" not in log_text(app)  # partials never enter the rolling log
        await pilot.press("q")


async def test_quit_mid_sentence_captions_the_open_segment(tmp_path, whisper_engine):
    """Real-time replay; q while the talk goes on: what was heard is captioned and saved."""
    app = create_app(
        Settings(input=DATA / "realpython_harvard.flac", engine="whisper", session_dir=tmp_path / "s"),
        load_engine=loader(whisper_engine),
    )
    async with app.run_test(size=(100, 24)) as pilot:
        bar = app.query_one(StatusBar)
        # The first sentence is on screen and the second is being said, 4.5 s into the talk.
        await wait_for(pilot, lambda: "stale smell" in log_text(app).lower() and bar.status is not None
                       and bar.status.in_speech and bar.status.clock >= 4.5)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.finished)
    folder = Path(app.session_folder)
    finals = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
    assert finals and "stale smell" in finals[0]["text"].lower()
    audio, rate = sf.read(folder / "audio.wav")
    assert 4.0 < len(audio) / rate < 10.0


async def test_keys_pause_bookmark_help(tmp_path, whisper_engine):
    app = create_app(
        Settings(input=DATA / "realpython_harvard.flac", engine="whisper", session_dir=tmp_path / "s"),
        load_engine=loader(whisper_engine),
    )
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.query_one(StatusBar).status is not None)  # the talk has begun
        await pilot.press("b")
        await wait_for(pilot, lambda: "★ bookmark" in log_text(app))
        await pilot.press("p")
        assert app.session.paused
        await wait_for(pilot, lambda: "paused" in str(app.query_one(StatusBar).render()))
        await wait_for(pilot, lambda: "⏸ paused" in log_text(app))  # after the caption of the speech before it
        await pilot.press("p")
        assert not app.session.paused
        await wait_for(pilot, lambda: "▶ resumed" in log_text(app))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.finished)
    lines = [json.loads(line) for line in (Path(app.session_folder) / "transcript.jsonl").read_text().splitlines()]
    assert any(line["type"] == "bookmark" for line in lines)


def silence(tmp_path: Path, seconds: float = 0.5) -> Path:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(int(16000 * seconds), np.float32), 16000)
    return path


async def test_auto_scroll_stops_when_reading_back_and_resumes_at_the_bottom(tmp_path, whisper_engine):
    app = create_app(settings(tmp_path, silence(tmp_path)), load_engine=loader(whisper_engine))
    async with app.run_test(size=(80, 12)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        log = app.query_one(CaptionView)

        def post(i):
            app.post_message(PipelineEvent(Caption("final", i, i + 1, f"caption {i}", index=i)))

        for i in range(40):
            post(i)
        await wait_for(pilot, lambda: "caption 39" in log_text(app) and log.max_scroll_y > 0)
        await wait_for(pilot, lambda: log.is_vertical_scroll_end, seconds=5)
        log.scroll_to(y=0, animate=False)
        await wait_for(pilot, lambda: log.scroll_y == 0, seconds=5)
        post(40)
        await wait_for(pilot, lambda: "caption 40" in log_text(app))
        await pilot.pause(0.2)
        assert log.scroll_y == 0  # the reader stays where they are
        log.scroll_end(animate=False)
        await wait_for(pilot, lambda: log.is_vertical_scroll_end, seconds=5)
        post(41)
        await wait_for(pilot, lambda: "caption 41" in log_text(app))
        await wait_for(pilot, lambda: log.is_vertical_scroll_end, seconds=5)


def test_screen_snapshot(tmp_path, whisper_engine, snap_compare):
    app = create_app(settings(tmp_path, silence(tmp_path)), load_engine=loader(whisper_engine))

    async def fill(pilot):
        await wait_for(pilot, lambda: app.finished)
        events = [
            EngineState("ready", "whisper tiny.en", "whisper", "tiny.en"),
            Caption("final", 1.0, 3.5, "And so, my fellow Americans,", "en", index=0),
            Caption("final", 4.0, 6.0, "ask not what your country can do for you,", "en", index=1),
            Caption("partial", 6.5, 8.0, "ask what you can do", "en", index=2),
            Status(clock=754.0, level_dbfs=-23.0, in_speech=True, overflows=0, backlog_s=0.0, pending_finals=0,
                   paused=False, latency=0.8),
        ]
        for event in events:
            app.post_message(PipelineEvent(event))
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(100, 16), run_before=fill)


# --- notes (issue 3): the keys of the main app against the real local OpenAI-compatible server ------------

SECRET = "sk-test-SECRET-9876543210fedcba"


def notes_settings(tmp_path: Path, server, input: Path) -> Settings:
    return Settings(input=input, fast=True, engine="whisper", session_dir=tmp_path / "sessions",
                    llm=LLMSettings(base_url=server.url, model="test-model", interval_minutes=0))


async def test_s_streams_notes_of_every_final_so_far_and_quit_saves_them(
        tmp_path, whisper_engine, llm_server, monkeypatch):
    monkeypatch.setenv("LIVE_LLM_API_KEY", SECRET)
    app = create_app(notes_settings(tmp_path, llm_server, DATA / "jfk.flac"), load_engine=loader(whisper_engine))
    notes = "# Inaugural address\n\n## Duty\n\n- **Service**: ask what you can do for your country.\n"
    llm_server.enqueue_text(notes, chunks=12, delay_s=0.01)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        await pilot.press("s")
        from live.tui.notes import NotesPane

        pane = app.query_one(NotesPane)
        await wait_for(pilot, lambda: "Inaugural address" in pane.notes, seconds=20)
        assert pane.display and app.layout == "split"
        # The notes are shown from their heading, right under the status line (no blank rows first).
        scroll = pane.query_one("#notes-scroll")
        await wait_for(pilot, lambda: pane.query_one("#notes-md").children, seconds=5)
        await pilot.pause(0.2)
        heading = pane.query_one("#notes-md").children[0]
        assert scroll.scroll_y == 0 and heading.region.y - pane.region.y <= 2
        await pilot.press("q")
    prompt = llm_server.requests[0].prompt_text
    finals = [o["text"] for o in map(json.loads, (Path(app.session_folder) / "transcript.jsonl").read_text().splitlines())
              if o["type"] == "final"]
    assert all(text in prompt for text in finals)  # every final up to the key press
    assert (Path(app.session_folder) / "summary.md").read_text().startswith("# Inaugural address")
    # The key went over the wire and nowhere else.
    assert llm_server.requests[0].headers.get("authorization") == f"Bearer {SECRET}"
    for path in Path(app.session_folder).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


async def test_no_key_says_how_to_set_one_and_captions_go_on(tmp_path, whisper_engine, llm_server):
    app = create_app(notes_settings(tmp_path, llm_server, DATA / "jfk.flac"), load_engine=loader(whisper_engine))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "your country" in log_text(app).lower())
        await pilot.press("s")
        from live.tui.notes import NotesPane

        pane = app.query_one(NotesPane)
        await wait_for(pilot, lambda: "LIVE_LLM_API_KEY" in pane.status, seconds=20)
        await wait_for(pilot, lambda: app.finished)
        assert "ask what you can do" in log_text(app).lower()
        await pilot.press("q")
    assert llm_server.requests == []


async def test_layout_key_cycles_and_is_remembered(tmp_path, whisper_engine):
    app = create_app(settings(tmp_path, silence(tmp_path)), load_engine=loader(whisper_engine))
    async with app.run_test(size=(100, 20)) as pilot:
        from live.tui.notes import NotesPane

        assert app.layout == "captions" and not app.query_one(NotesPane).display
        await pilot.press("n")
        assert app.layout == "split" and app.query_one(NotesPane).display and app.query_one("#captions").display
        await pilot.press("n")
        assert app.layout == "notes" and not app.query_one("#captions").display
        await pilot.press("q")
    again = create_app(settings(tmp_path, silence(tmp_path)), load_engine=loader(whisper_engine))
    assert again.layout == "notes"
