"""`live --resume`: a session continued after a crash or a quit — same folder, its clock and segment
numbers going on, audio appended, every final once, subtitles continuous, the notes going on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import srt

from audio_helpers import DATA
from live.captions import Caption
from live.errors import SessionError
from live.transcript import SessionWriter, resume_point

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")


def live(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=timeout)


def lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]


def finals(folder: Path) -> list[dict]:
    return [line for line in lines(folder) if line["type"] == "final"]


def check_continuous(folder: Path) -> None:
    """Every final once, in order; times never go back; the audio and the subtitles agree."""
    got = finals(folder)
    assert [f["index"] for f in got] == sorted({f["index"] for f in got})
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(got, got[1:]))
    audio, rate = sf.read(folder / "audio.wav")
    assert got[-1]["end"] <= len(audio) / rate + 0.05
    cues = list(srt.parse((folder / "transcript.srt").read_text()))
    assert cues and all(a.end <= b.start for a, b in zip(cues, cues[1:]))


def test_resume_a_finished_session_continues_its_clock_indices_and_audio(tmp_path):
    root = tmp_path / "sessions"
    first = live("--headless", "--input", str(DATA / "jfk.flac"), "--fast", "--engine", "whisper", "--session-dir", str(root))
    assert first.returncode == 0, first.stderr
    folder = next(root.iterdir())
    before = finals(folder)
    audio_before = len(sf.read(folder / "audio.wav")[0])
    again = live("--headless", "--resume", "--input", str(DATA / "realpython_harvard.flac"), "--fast",
                 "--engine", "whisper", "--session-dir", str(root))
    assert again.returncode == 0, again.stderr
    assert list(root.iterdir()) == [folder]  # the latest session, continued in place
    after = finals(folder)
    assert after[:len(before)] == before
    new = after[len(before):]
    assert new and new[0]["index"] == before[-1]["index"] + 1
    assert new[0]["start"] >= audio_before / 16000 - 0.05  # the clock went on, not back to zero
    assert "stale smell" in " ".join(f["text"] for f in new).lower()
    gap = [line for line in lines(folder) if line.get("kind") == "gap"]
    assert len(gap) == 1 and gap[0]["note"].startswith("continued after")
    assert "⏭ continued after" in (folder / "transcript.txt").read_text()
    meta = json.loads((folder / "session.json").read_text())
    assert meta["input"].endswith("jfk.flac") and meta["resumed"][0]["input"].endswith("harvard.flac")
    check_continuous(folder)


@pytest.mark.slow
def test_resume_after_kill_9_mid_final_keeps_every_final_once(tmp_path, shared_audio):
    root = tmp_path / "sessions"
    talk = shared_audio / "en" / "ibm_02_call_center_25sec.flac"
    proc = subprocess.Popen([sys.executable, "-m", "live", "--headless", "--json", "--input", str(talk), "--engine",
                             "whisper", "--session-dir", str(root)], stdout=subprocess.PIPE, text=True)
    printed: list[str] = []  # two finals printed (their speaker labels aside): each is durable
    while sum(json.loads(line)["type"] == "final" for line in printed) < 2:
        printed.append(proc.stdout.readline())
    time.sleep(0.7)  # somewhere inside the next segment, maybe mid-decode
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    folder = next(root.iterdir())
    with open(folder / "transcript.jsonl", "a") as fh:
        fh.write('{"type": "final", "start": 99.0, "end"')  # as if the kill tore a line in half
    shown = [o["text"] for o in map(json.loads, printed) if o["type"] == "final"]  # not the speaker labels
    resumed = live("--headless", "--resume", str(folder), "--input", str(talk), "--fast", "--engine", "whisper",
                   "--session-dir", str(tmp_path / "ignored"))
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "ignored").exists()  # --resume DIR names the session; --session-dir is ignored
    texts = [f["text"] for f in finals(folder)]
    assert texts[:2] == shown
    check_continuous(folder)


def test_start_seconds_begins_later_in_the_file(tmp_path):
    root = tmp_path / "s"
    done = live("--headless", "--input", str(DATA / "realpython_harvard.flac"), "--start", "9", "--fast",
                "--engine", "whisper", "--session-dir", str(root))
    assert done.returncode == 0, done.stderr
    text = " ".join(f["text"] for f in finals(next(root.iterdir()))).lower()
    assert "stale smell" not in text and text  # the first sentence was before second 9
    past = live("--headless", "--input", str(DATA / "jfk.flac"), "--start", "60", "--fast", "--engine", "whisper",
                "--session-dir", str(root))
    assert past.returncode != 0 and "past the end" in past.stderr and "Traceback" not in past.stderr


def test_bad_resume_targets_are_one_line_errors(tmp_path):
    empty = live("--headless", "--resume", "--input", str(DATA / "jfk.flac"), "--session-dir", str(tmp_path / "none"))
    assert empty.returncode != 0 and "no saved session" in empty.stderr and "Traceback" not in empty.stderr
    (tmp_path / "notasession").mkdir()
    wrong = live("--headless", "--resume", str(tmp_path / "notasession"), "--input", str(DATA / "jfk.flac"))
    assert wrong.returncode != 0 and "is not a session folder" in wrong.stderr


def test_resume_point_and_an_audio_file_that_is_not_ours(tmp_path):
    with pytest.raises(SessionError, match="not a session folder"):
        resume_point(tmp_path)
    folder = tmp_path / "s"
    writer = SessionWriter(folder)
    writer.write_audio(__import__("numpy").zeros(32000, "float32"))
    writer.add_entry({"type": "final", "start": 0.1, "end": 1.5, "text": "hi", "index": 4})
    writer.close()
    point = resume_point(folder)
    assert point.clock == pytest.approx(2.0) and point.next_index == 5 and point.finals == 1
    sf.write(folder / "audio.wav", __import__("numpy").zeros(100), 44100)  # someone else's recording
    with pytest.raises(SessionError, match="not a recording made by live"):
        SessionWriter(folder, resume=True)


def test_notes_continue_from_the_saved_summary(tmp_path):
    from live.llm import LLMSettings
    from live.notes import NotesKeeper

    (tmp_path / "summary.md").write_text("# Notes so far\n")
    keeper = NotesKeeper(lambda: None, tmp_path, LLMSettings())
    keeper.continue_from([Caption("final", 0, 1, "earlier words")])
    keeper.add_final(Caption("final", 5, 6, "new words"))
    assert keeper.pending == 1 and [f.text for f in keeper.finals] == ["earlier words", "new words"]
    fresh = NotesKeeper(lambda: None, tmp_path / "none", LLMSettings())
    fresh.continue_from([Caption("final", 0, 1, "earlier words")])
    assert fresh.pending == 1  # no saved notes: the next update covers them


async def test_the_tui_shows_a_resumed_session_s_earlier_captions(tmp_path):
    from live.asr.whisper import WhisperEngine
    from live.config import Settings
    from live.tui.app import create_app
    from live.tui.caption_view import CaptionView

    root = tmp_path / "s"
    first = live("--headless", "--input", str(DATA / "jfk.flac"), "--fast", "--engine", "whisper", "--session-dir", str(root))
    assert first.returncode == 0
    folder = next(root.iterdir())
    engine = WhisperEngine()
    settings = Settings(input=DATA / "realpython_harvard.flac", fast=True, engine="whisper", resume=folder)
    app = create_app(settings, load_engine=lambda _s: (engine, "w"))
    async with app.run_test(size=(100, 24)) as pilot:
        view = app.query_one(CaptionView)
        await pilot.pause(0.3)
        text = "\n".join(view.text_lines()).lower()
        assert "your country" in text  # the earlier part of the lecture is on screen at once
        for _ in range(300):
            if app.finished:
                break
            await pilot.pause(0.1)
        text = "\n".join(view.text_lines()).lower()
        assert "⏭ continued after" in text and "stale smell" in text
        await pilot.press("q")
