"""The TUI over the session core (Pilot): faults that must never freeze it, and a caption view that
re-wraps, shows every character of a Chinese caption, and keeps flat memory over a long lecture."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rich.cells import cell_len

from audio_helpers import DATA
from tui_helpers import wait_for
from live.audio import FileSource
from live.captions import Caption
from live.config import Settings
from live.tui.app import create_app
from live.tui.caption_view import KEEP_ROWS, MAX_ROWS, CaptionView, wrap
from live.tui.messages import PipelineEvent
from live.tui.widgets import ProblemLine

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")


class Flaky:
    """A real engine that raises on the chosen decodes, as an internal CTranslate2 error would."""

    def __init__(self, engine, fail_on=()):
        self.engine, self.fail_on, self.calls = engine, set(fail_on), 0
        self.name, self.model = engine.name, engine.model

    def transcribe(self, audio, language="auto"):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("CTranslate2 internal error: std::bad_alloc")
        return self.engine.transcribe(audio, language)


def app_for(tmp_path: Path, load, input: Path = DATA / "realpython_harvard.flac", **kw):
    settings = Settings(input=input, engine="whisper", session_dir=tmp_path / "s", **kw)
    return create_app(settings, load_engine=load)


def screen_text(app) -> str:
    return "\n".join(app.query_one(CaptionView).text_lines())


async def test_a_decode_error_shows_one_line_keeps_captions_and_q_leaves_within_two_seconds(tmp_path, whisper_engine):
    flaky = Flaky(whisper_engine, fail_on={3})
    app = app_for(tmp_path, lambda _s: (flaky, "flaky whisper"), fast=True)
    async with app.run_test(size=(110, 24)) as pilot:
        problem = app.query_one(ProblemLine)
        await wait_for(pilot, lambda: problem.display)
        text = str(problem.render())
        assert "recognition stopped: RuntimeError: CTranslate2 internal error" in text
        assert "captions so far are saved in" in text and "r restarts recognition" in text
        assert "stale smell" in screen_text(app).lower()  # what was captioned stays on screen
        await pilot.pause(1.0)
        assert problem.display  # it stays; a toast would have faded
        shown = [line for line in screen_text(app).splitlines() if line.strip()]
        began = time.monotonic()
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, seconds=5)
        assert time.monotonic() - began < 2.0
    assert app.exit_code == 1 and "recognition stopped" in app.error
    folder = Path(app.session_folder)
    lines = [line for line in map(json.loads, (folder / "transcript.jsonl").read_text().splitlines())
             if line["type"] != "speaker"]  # who said each final: lines of their own
    saved = [line["text"] for line in lines if line["type"] == "final"]
    assert len(saved) == len(shown) == 2  # the two finals before the failed decode
    # the rest, for `live finish`: one span per segment closed before the failure (how many depends on how
    # far --fast had read by then, which the speaker labels' thread starting up can move by a segment)
    assert lines[2:] and {line["type"] for line in lines[2:]} == {"uncaptioned"}
    sf.read(folder / "audio.wav")  # readable


async def test_r_restarts_recognition_and_captions_continue_in_the_same_session(tmp_path, whisper_engine):
    flaky = Flaky(whisper_engine, fail_on={2})
    app = app_for(tmp_path, lambda _s: (flaky, "flaky whisper"))  # real time: the talk goes on meanwhile
    async with app.run_test(size=(110, 24)) as pilot:
        problem = app.query_one(ProblemLine)
        await wait_for(pilot, lambda: problem.display)
        await pilot.press("r")
        await wait_for(pilot, lambda: not problem.display, seconds=10)
        await wait_for(pilot, lambda: app.finished, seconds=60)
        assert app.exit_code == 0
        await pilot.press("q")
    saved = [json.loads(line) for line in (Path(app.session_folder) / "transcript.jsonl").read_text().splitlines()]
    indices = [line["index"] for line in saved if line["type"] == "final"]
    assert len(indices) >= 5 and indices == sorted(set(indices))  # nothing lost, nothing twice


async def test_a_model_that_fails_to_load_never_leaves_loading_on_screen(tmp_path):
    def load(_status):
        raise OSError(12, "Cannot allocate memory")

    app = app_for(tmp_path, load, fast=True)
    async with app.run_test(size=(110, 24)) as pilot:
        problem = app.query_one(ProblemLine)
        await wait_for(pilot, lambda: problem.display, seconds=10)
        assert "could not load the model: OSError: [Errno 12] Cannot allocate memory" in str(problem.render())
        assert "loading" not in str(app.query_one("#status").render())
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, seconds=5)
    assert app.exit_code == 1


class BrokenSource(FileSource):
    def __init__(self, path, after: int):
        super().__init__(path, realtime=True)
        self.after, self.reads = after, 0

    def read(self, timeout):
        self.reads += 1
        if self.reads > self.after:
            raise RuntimeError("PortAudio: internal error -9986")
        return super().read(timeout)


async def test_a_source_that_raises_is_said_on_screen_and_q_leaves(tmp_path, whisper_engine):
    settings = Settings(input=DATA / "realpython_harvard.flac", engine="whisper", session_dir=tmp_path / "s")
    app = create_app(settings, load_engine=lambda _s: (whisper_engine, "w"),
                     open_source=lambda: BrokenSource(DATA / "realpython_harvard.flac", after=40))
    async with app.run_test(size=(110, 24)) as pilot:
        problem = app.query_one(ProblemLine)
        await wait_for(pilot, lambda: problem.display, seconds=30)
        assert "audio stopped: RuntimeError: PortAudio: internal error -9986" in str(problem.render())
        began = time.monotonic()
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, seconds=5)
        assert time.monotonic() - began < 2.0
    assert app.exit_code == 1


def silence(tmp_path: Path) -> Path:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(8000, np.float32), 16000)
    return path


LONG = ("The Fourier transform decomposes a signal into the frequencies that make it up, and the inverse "
        "transform puts those frequencies back together into the original signal without losing anything.")


async def test_captions_re_wrap_when_the_notes_pane_opens_and_closes(tmp_path, whisper_engine):
    app = app_for(tmp_path, lambda _s: (whisper_engine, "w"), input=silence(tmp_path), fast=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        view = app.query_one(CaptionView)
        finals = [f"{i}: {LONG}" for i in range(6)]
        for i, text in enumerate(finals):
            app.post_message(PipelineEvent(Caption("final", i * 10.0, i * 10.0 + 8, text, index=i)))
        await wait_for(pilot, lambda: "5: The Fourier" in screen_text(app))
        wide = view.text_lines()
        for layout in ("split", "notes", "captions"):
            await pilot.press("n")
            await wait_for(pilot, lambda: app.layout == layout, seconds=2)
            await pilot.pause(0.2)
            if layout == "notes":
                continue  # the captions are hidden
            lines = view.text_lines()
            width = view.scrollable_content_region.width
            assert all(cell_len(line) <= width for line in lines)
            words = " ".join(line[9:] if line[:2].isdigit() or not line[:9].strip() else line for line in lines).split()
            expected = " ".join(finals).split()
            assert words == expected  # every word of every final, in order, none cut off
            if layout == "split":
                assert len(lines) > len(wide)  # narrower: more lines
        assert view.text_lines() == wide  # back to the full width
        await pilot.press("q")


def test_wrap_keeps_every_cjk_character_and_its_width():
    text = "我认为跑步最重要的就是给我带来了身体健康，这是我们每个人都需要的。广州市房地产中介协会分析"
    for width in (7, 10, 16, 31):
        lines = wrap(text, width)
        assert "".join(lines) == text
        assert all(cell_len(line) <= width for line in lines)
        assert not any(line[0] in "，。" for line in lines)
    mixed = "我们用 Fourier transform 来分析信号"
    assert " ".join(wrap(mixed, 12)).replace(" ", "") == mixed.replace(" ", "")


def test_a_chinese_lecture_on_a_narrow_screen_snapshot(tmp_path, whisper_engine, snap_compare):
    """Mandarin and a code-switched caption wrapped at 60 columns by display width: no character lost at a
    line end, no line opening with ，。, English words whole; the status bar names the engine."""
    from live.session import EngineState, Status

    app = app_for(tmp_path, lambda _s: (whisper_engine, "w"), input=silence(tmp_path), fast=True)

    async def fill(pilot):
        await wait_for(pilot, lambda: app.finished)
        events = [
            EngineState("ready", "whisper base (multilingual, for --language auto)", "whisper", "base"),
            Caption("final", 0.0, 5.5, "欢迎大家来体验达摩院推出的语音识别模型", "zh", index=0),
            Caption("final", 6.3, 19.4, "正是因为存在绝对正义，所以我们接受现实的相对正义，但是不要因为现实的相对正义，"
                    "我们就认为这个世界没有正义。", "zh", index=1),
            Caption("final", 20.2, 28.6, "he must be home now for the light is on他一定在家，因为灯亮着，就是有一种推理或者"
                    "解释的那种感觉", "zh", index=2),
            Caption("partial", 29.0, 31.0, "我们用 Kullback-Leibler divergence 来比较两个分布", "zh", index=3),
            Status(clock=31.0, level_dbfs=-23.0, in_speech=True, overflows=0, backlog_s=0.0, pending_finals=0,
                   paused=False, latency=0.8),
        ]
        for event in events:
            app.post_message(PipelineEvent(event))
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(60, 16), run_before=fill)


async def test_a_mandarin_caption_loses_no_character_at_line_breaks_on_screen(tmp_path, whisper_engine):
    app = app_for(tmp_path, lambda _s: (whisper_engine, "w"), input=silence(tmp_path), fast=True)
    text = "欢迎大家来体验达摩院推出的语音识别模型，我认为跑步最重要的就是给我带来了身体健康，广州市房地产中介协会分析"
    async with app.run_test(size=(41, 20)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        app.post_message(PipelineEvent(Caption("final", 1.0, 9.0, text, index=0)))
        view = app.query_one(CaptionView)
        await wait_for(pilot, lambda: any("欢迎" in line for line in view.visible_lines()))
        on_screen = "".join(line[9:].strip() for line in view.visible_lines() if line.strip())
        assert on_screen == text
        await pilot.press("q")


async def test_a_thousand_finals_keep_the_view_bounded_and_older_ones_come_back_from_disk(tmp_path, whisper_engine):
    app = app_for(tmp_path, lambda _s: (whisper_engine, "w"), input=silence(tmp_path), fast=True)
    async with app.run_test(size=(100, 20)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        view = app.query_one(CaptionView)
        path = app.folder / "transcript.jsonl"
        with open(path, "a", encoding="utf-8") as fh:  # as the worker writes them: on disk before shown
            for i in range(1000):
                caption = Caption("final", i * 5.0, i * 5.0 + 4, f"caption number {i} of the lecture", index=i)
                fh.write(json.dumps(caption.to_json()) + "\n")
                fh.flush()
                app.post_message(PipelineEvent(caption))
        await wait_for(pilot, lambda: view.total == 1000, seconds=60)
        await pilot.pause(0.2)
        assert len(view.rows) <= KEEP_ROWS and "caption number 999 " in "\n".join(view.visible_lines()) + " "
        for _ in range(40):  # the reader scrolls back to the start of the lecture
            view.scroll_home(animate=False, immediate=True, force=True)
            await pilot.pause(0.05)
            assert len(view.rows) <= MAX_ROWS
            if view.first == 0:
                break
        view.scroll_home(animate=False, immediate=True, force=True)  # the line on top stayed put: once more
        await pilot.pause(0.1)
        assert view.first == 0 and "caption number 0 of" in view.visible_lines()[0]
        view.scroll_end(animate=False, immediate=True, force=True)  # and back down to the newest
        for _ in range(40):
            await pilot.pause(0.05)
            view.scroll_end(animate=False, immediate=True, force=True)
            if view.first + len(view.rows) == view.total:
                break
        await pilot.pause(0.1)
        assert "caption number 999 of" in "\n".join(view.visible_lines())
        await pilot.press("q")
