"""Bookmarks with the student's own words: where they sit (session core, TUI), `B` in the TUI (Pilot),
and how they reach the lecture notes (rolling updates and `live summarize`, real local LLM server)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from notes_helpers import KEY, final, make_keeper, settings_for

from audio_helpers import DATA, clip
from tui_helpers import wait_for
from live.captions import Caption, Captioner
from live.config import Settings
from live.llm import LLMClient, LLMSettings
from live.notes import summarize_session
from live.notes.finals import Mark
from live.session import Finished, Marker, SessionOptions, build_session
from live.session.marks import MarkerQueue
from live.timefmt import mmss
from live.transcript import parse_line, parse_lines
from live.tui.app import create_app
from live.tui.caption_view import CaptionView
from live.tui.note_box import NoteBox
from live.tui.notes import AskScreen
from live.tui.widgets import PartialLine
from live.vad import Segmenter


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []
        self.finished = threading.Event()

    def __call__(self, event: object) -> None:
        self.events.append(event)
        if isinstance(event, Finished):
            self.finished.set()

    def shown(self) -> list[object]:
        """Finals and markers, in the order a front end got them."""
        return [e for e in self.events if isinstance(e, Marker)
                or (isinstance(e, Caption) and e.kind == "final" and e.text)]

    def wait(self, condition, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)


def entries(folder: Path) -> list[dict]:
    """transcript.jsonl's lines but the speaker labels (lines of their own, after their finals)."""
    return [line for line in map(json.loads, (folder / "transcript.jsonl").read_text().splitlines())
            if line["type"] != "speaker"]


def assert_after_earlier_speech(shown: list[object], marker: Marker) -> None:
    """Every final that began before the marker's moment comes before it; none after it began earlier."""
    i = shown.index(marker)
    assert all(e.start >= marker.at for e in shown[i + 1:] if isinstance(e, Caption))


# --- where a marker sits: after the speech that was going on when it was made ---------------------------


def test_a_bookmark_or_pause_mid_sentence_waits_for_that_sentence(tmp_path, whisper_engine):
    rec = Recorder()
    settings = Settings(input=DATA / "realpython_harvard.flac", engine="whisper", session_dir=tmp_path / "s")
    session = build_session(settings, rec, SessionOptions(notes="off"), load_engine=lambda _s: (whisper_engine, "w"))
    session.start()
    rec.wait(lambda: any(isinstance(e, Caption) and e.kind == "partial" and e.text for e in rec.events))
    partial = next(e for e in rec.events if isinstance(e, Caption) and e.kind == "partial" and e.text)
    at = session.bookmark("mid-sentence")  # the partial is on screen: its sentence is still being said
    rec.wait(lambda: any(isinstance(e, Marker) and e.kind == "bookmark" for e in rec.events))
    rec.wait(lambda: len([e for e in rec.events if isinstance(e, Caption) and e.kind == "partial"
                          and e.index > partial.index]) > 0)
    session.pause(True)  # mid-sentence again: what was said before the pause is captioned first
    rec.wait(lambda: any(isinstance(e, Marker) and e.kind == "pause" for e in rec.events))
    session.stop()
    assert rec.finished.wait(60)
    session.close()
    shown = rec.shown()
    bookmark = next(e for e in shown if isinstance(e, Marker) and e.kind == "bookmark")
    pause = next(e for e in shown if isinstance(e, Marker) and e.kind == "pause")
    assert bookmark.at == at and bookmark.note == "mid-sentence"
    sentence = next(e for e in shown if isinstance(e, Caption) and e.index == partial.index)
    assert sentence.start < at and shown.index(sentence) < shown.index(bookmark)
    assert_after_earlier_speech(shown, bookmark)
    assert_after_earlier_speech(shown, pause)
    # The file holds them in the order they were shown.
    saved = [(e["type"], e.get("text") or e.get("note") or e.get("kind")) for e in entries(session.folder)]
    assert saved == [("final", e.text) if isinstance(e, Caption) else
                     ("bookmark" if e.kind == "bookmark" else "marker", e.note or e.kind) for e in shown]


# --- the TUI: B asks for the student's words -----------------------------------------------------------


def rows(app) -> list:
    return list(app.query_one(CaptionView).rows)


def long_talk(tmp_path: Path) -> Path:
    """The Harvard sentences three times (55 s): a replay that outlasts slow typing on a busy machine."""
    audio, rate = sf.read(DATA / "realpython_harvard.flac", dtype="float32")
    path = tmp_path / "talk.flac"
    sf.write(path, np.concatenate([audio] * 3), rate)
    return path


async def test_B_saves_the_students_note_at_the_moment_B_was_pressed_and_esc_cancels(tmp_path, whisper_engine):
    settings = Settings(input=long_talk(tmp_path), engine="whisper", session_dir=tmp_path / "s")
    app = create_app(settings, load_engine=lambda _s: (whisper_engine, "w"))
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: any(r.kind == "final" for r in rows(app)))
        on_screen = [r for r in rows(app) if r.kind == "final"][-1]
        pressed = app.session.clock()
        await pilot.press("B")
        box = app.query_one(NoteBox)
        assert box.is_open and app.focused is box.input
        await pilot.pause(2.0)  # typing takes a while; the moment is when B was pressed
        await pilot.press(*"exam! ask about this")  # a, s, b and n are letters here, not keys
        assert app.layout == "captions" and not isinstance(app.screen, AskScreen)
        entered = app.session.clock()
        await pilot.press("enter")
        assert not box.is_open and app.focused is app.query_one(CaptionView)
        await wait_for(pilot, lambda: any(r.kind == "bookmark" for r in rows(app)))
        mark = next(r for r in rows(app) if r.kind == "bookmark")
        assert mark.text == "exam! ask about this"
        assert "★ bookmark — exam! ask about this" in "\n".join(app.query_one(CaptionView).text_lines())
        view_rows = rows(app)
        assert view_rows.index(mark) > view_rows.index(on_screen)  # after the caption on screen at B

        await pilot.press("B", *"never mind", "escape")  # Esc: no bookmark at all
        assert not box.is_open  # a bookmark it had saved would still be written on the way out
        await pilot.press("q")
        await wait_for(pilot, lambda: app.finished)
    marks = [e for e in entries(Path(app.session_folder)) if e["type"] == "bookmark"]
    assert [m["note"] for m in marks] == ["exam! ask about this"]
    assert pressed <= marks[0]["at"] < pressed + 0.5 and marks[0]["at"] < entered - 1.5


async def test_b_pressed_while_a_partial_is_on_screen_sits_after_that_caption(tmp_path, whisper_engine):
    settings = Settings(input=DATA / "realpython_harvard.flac", engine="whisper", session_dir=tmp_path / "s")
    app = create_app(settings, load_engine=lambda _s: (whisper_engine, "w"))
    async with app.run_test(size=(100, 24)) as pilot:
        partial = app.query_one(PartialLine)
        await wait_for(pilot, lambda: str(partial.render()).startswith("…"))
        await pilot.press("b")
        await wait_for(pilot, lambda: any(r.kind == "bookmark" for r in rows(app)))
        view_rows = rows(app)
        mark = next(i for i, r in enumerate(view_rows) if r.kind == "bookmark")
        assert mark > 0 and view_rows[mark - 1].kind == "final"  # the caption that was a partial when b was pressed
        await wait_for(pilot, lambda: len(rows(app)) > mark + 1)
        assert all(r.at >= view_rows[mark].at for r in rows(app)[mark + 1:])  # nothing that began earlier after it
        await pilot.press("q")


# --- the notes: what was said around each bookmark, its time, the student's note ---------------------------


def test_a_bookmark_with_a_note_reaches_the_notes_request_among_the_captions_around_it(
        tmp_path, whisper_engine, llm_server, monkeypatch):
    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    rec = Recorder()
    settings = Settings(input=DATA / "jfk.flac", engine="whisper", session_dir=tmp_path / "s",
                        llm=LLMSettings(base_url=llm_server.url, model="test-model", interval_minutes=0))
    session = build_session(settings, rec, SessionOptions(notes="on"), load_engine=lambda _s: (whisper_engine, "w"))
    session.start()
    rec.wait(lambda: any(isinstance(e, Caption) and e.kind == "final" and e.text for e in rec.events))
    at = session.bookmark("exam!")
    assert rec.finished.wait(60)
    assert session.finish_notes(timeout=30)  # the teed bookmark counts as news for the notes
    session.close()
    (request,) = llm_server.requests
    lines = request.last_user.splitlines()
    shown = rec.shown()
    i = shown.index(next(e for e in shown if isinstance(e, Marker)))
    before, after = shown[i - 1], shown[i + 1]
    line = f'[{mmss(at)}] ★ BOOKMARK (the student\'s note: "exam!")'
    assert lines[lines.index(line) - 1] == f"[{mmss(before.start)}] {before.text}"
    assert lines[lines.index(line) + 1] == f"[{mmss(after.start)}] {after.text}"
    assert "★ BOOKMARK" in request.messages[0]["content"]  # the system prompt says what to do with them
    assert "word for word" in request.messages[0]["content"]  # ... and to quote the student's note


def test_the_keeper_takes_bookmarks_as_news_and_sends_each_with_its_own_finals(llm_server, tmp_path):
    session = tmp_path / "session"
    keeper = make_keeper(llm_server, session, context_budget_tokens=1200)
    assert keeper.add_bookmark(Marker("bookmark", 3.0, "  ask   about this "))
    assert not keeper.add_bookmark(Marker("pause", 4.0))
    assert keeper.add_bookmark(parse_line({"type": "bookmark", "at": 12.5}))
    assert keeper.marks == [Mark(3.0, "ask about this"), Mark(12.5, "")]
    for i in range(60):
        keeper.add_final(final(i))
    assert keeper.pending == 62
    keeper.add_bookmark(Marker("bookmark", 599.0, "exam!"))  # after the last final ended
    keeper.update()
    assert keeper.pending == 0 and len(llm_server.requests) >= 2
    texts = [r.last_user for r in llm_server.requests]
    first, last = texts[0], texts[-1]
    assert first.index("[00:00] w000x") < first.index('[00:03] ★ BOOKMARK (the student\'s note: "ask about this")') \
        < first.index("[00:10] w001x")
    assert "[00:12] ★ BOOKMARK (no note)" in first
    assert last.rstrip().endswith('[09:59] ★ BOOKMARK (the student\'s note: "exam!")')
    assert sum(t.count("★ BOOKMARK") for t in texts) == 3  # each bookmark once, with its own part
    assert "–09:59)" in last  # the span runs to the bookmark

    keeper.add_bookmark(Marker("bookmark", 600.0, "review this"))  # a bookmark alone still updates the notes
    assert keeper.pending == 1
    keeper.update()
    request = llm_server.requests[-1].last_user
    assert '[10:00] ★ BOOKMARK (the student\'s note: "review this")' in request and "w059x" not in request
    assert keeper.pending == 0


def write_lecture(session: Path, n: int, marks: dict[int, str]) -> None:
    """n finals (one every 10 s) with a bookmark 9 s into each final named in ``marks``."""
    session.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        c = final(i)
        lines.append({"type": "final", "start": c.start, "end": c.end, "text": c.text, "language": "en", "index": i})
        if i in marks:
            lines.append({"type": "bookmark", "at": c.start + 9.0, "note": marks[i]})
    (session / "transcript.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_summarize_reads_the_bookmarks_from_the_transcript(llm_server, tmp_path):
    session = tmp_path / "s1"
    write_lecture(session, 6, {2: "exam!"})
    settings = settings_for(llm_server)
    summarize_session(session, LLMClient(settings, KEY), settings)
    (request,) = llm_server.requests
    lines = request.last_user.splitlines()
    i = lines.index('[00:29] ★ BOOKMARK (the student\'s note: "exam!")')
    assert lines[i - 1].startswith("[00:20] w002x") and lines[i + 1].startswith("[00:30] w003x")


def test_summarize_in_parts_sends_each_bookmark_with_its_part(llm_server, tmp_path):
    session = tmp_path / "s2"
    write_lecture(session, 120, {5: "first", 60: "middle", 119: "last"})
    settings = settings_for(llm_server, context_budget_tokens=1500)
    summarize_session(session, LLMClient(settings, KEY), settings)
    *maps, _reduce = llm_server.requests
    assert len(maps) >= 3
    for note, i in (("first", 5), ("middle", 60), ("last", 119)):
        line = f'[{mmss(i * 10 + 9)}] ★ BOOKMARK (the student\'s note: "{note}")'
        holders = [r.last_user for r in maps if line in r.last_user]
        assert len(holders) == 1 and f"w{i:03d}x" in holders[0]


def test_a_held_marker_leaves_when_no_caption_is_coming():
    captioner = Captioner(Segmenter())
    captioner.insert_audio(np.zeros(16000, np.float32))  # one quiet second heard
    queue = MarkerQueue(captioner, max_hold_s=5.0, max_lag_s=1.0)
    queue.hold(Marker("bookmark", 1.5, "soon heard"))
    assert queue.due(now=1.6) == []  # the VAD is half a second short of it: speech may still open before
    captioner.insert_audio(np.zeros(8000, np.float32))
    assert queue.due(now=2.0) == []  # heard up to it, but a segment opening now would take back its pre-roll
    captioner.insert_audio(np.zeros(8000, np.float32))
    assert [m.note for m in queue.due(now=2.0)] == ["soon heard"]
    queue.hold(Marker("bookmark", 9.0, "late"))  # audio up to 9 s not read yet (the session behind)...
    assert queue.due(now=60.0) == []  # ...it waits for that audio however long it takes
    assert [m.note for m in queue.due(now=9.1, stalled=True)] == ["late"]  # the mic gone at 2 s: not waited for

    speech = Captioner(Segmenter())  # no engine: what closes waits for a decode that does not come
    speech.insert_audio(clip("jfk.flac")[:4 * 16000])
    speech.close_segment()
    assert speech.pending_start is not None and speech.pending_start < 3.9
    queue = MarkerQueue(speech, max_hold_s=5.0)
    queue.hold(Marker("pause", 3.9))
    assert queue.due(now=4.0) == []  # speech that began before it is still to be captioned...
    assert queue.due(now=60.0) == []  # ...however late its caption (recognition behind)...
    assert len(queue.due(now=9.0, stalled=True)) == 1  # ...but no longer than max_hold_s if recognition is down


def test_a_bookmark_pressed_as_a_sentence_begins_waits_for_that_sentences_caption():
    """The VAD opens a segment a moment after its speech begins and the segment takes back its pre-roll:
    a bookmark made in between goes after that sentence, on screen as in the notes (which order by time)."""
    audio = np.concatenate([np.zeros(16000, np.float32), clip("jfk.flac")])  # "And so my fellow..." at 1 s
    captioner = Captioner(Segmenter())
    queue = MarkerQueue(captioner)
    captioner.insert_audio(audio[:int(1.08 * 16000)])
    assert captioner.segmenter.open_span is None and captioner.pending_start is None  # not opened yet
    queue.hold(Marker("bookmark", 1.05, "as it began"))
    assert queue.due(now=1.08) == []
    captioner.insert_audio(audio[int(1.08 * 16000):int(1.5 * 16000)])
    span = captioner.segmenter.open_span
    assert span is not None and span[1] < 1.05  # the sentence began before the bookmark...
    assert queue.due(now=1.5) == []  # ...so the bookmark waits for its caption


def test_a_resumed_session_takes_its_earlier_bookmarks_into_the_notes(llm_server, tmp_path):
    earlier = list(parse_lines([{"type": "final", "start": 0.0, "end": 4.0, "text": "w000x entropy never decreases"},
                                {"type": "bookmark", "at": 4.5, "note": "exam!"}]))
    fresh = make_keeper(llm_server, tmp_path / "fresh")
    fresh.continue_from(earlier)
    assert fresh.pending == 2
    fresh.update()
    assert '[00:04] ★ BOOKMARK (the student\'s note: "exam!")' in llm_server.requests[-1].last_user
    noted = tmp_path / "noted"
    noted.mkdir()
    (noted / "summary.md").write_text("# Entropy\n\n## Bookmarks\n\n- **[00:04]** ... \"exam!\"\n")
    keeper = make_keeper(llm_server, noted)
    keeper.continue_from(earlier)
    assert keeper.pending == 0  # already in summary.md
