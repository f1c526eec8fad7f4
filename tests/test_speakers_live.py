"""Speaker labels as a user meets them: headless JSON and text, the session folder (transcript.jsonl, txt,
SRT and VTT read back by subtitle parsers), the TUI's ❓ rows and its L key, ``live transcribe``, the
notes' questions from the room, ``--speakers off``, and a missing speaker model."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asr_helpers import closed_port_url
from notes_helpers import make_keeper
from tui_helpers import wait_for

from devtools.mixed_lecture import build, load
from live.captions import Caption
from live.speakers import AUDIENCE, LECTURER, SpeakerLabel
from live.speakers.weights import installed_package_file

pytest.importorskip("faster_whisper", reason="these sessions decode with Whisper tiny.en (the `whisper` extra)")

RATE = 16000


@pytest.fixture(scope="module")
def lecture_file(tmp_path_factory, shared_audio, voice_encoder):
    """A minute of the ibm08 talk with JFK's question in the middle (1 s pauses), as a file, with its truth."""
    lecture = build(shared_audio, [("ibm08", 60.0)], ["jfk"], chunk_s=30.0)
    path = tmp_path_factory.mktemp("lecture") / "lecture.flac"
    sf.write(path, lecture.audio, RATE)
    return path, lecture


def live(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def jsonl(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "transcript.jsonl").read_text(encoding="utf-8").splitlines()]


def session_folder(done: subprocess.CompletedProcess) -> Path:
    return Path(done.stderr.strip().splitlines()[-1].split("session saved in ", 1)[1])


def latest(labels: list[dict]) -> dict[int, dict]:
    return {line["index"]: line for line in labels}


@pytest.mark.slow
def test_headless_json_labels_every_final_after_it_and_the_folder_keeps_them(tmp_path, lecture_file):
    import srt
    import webvtt

    path, lecture = lecture_file
    done = live("--input", str(path), "--fast", "--headless", "--json", "--engine", "whisper", "--language", "en",
                "--session-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    finals = [line for line in lines if line["type"] == "final"]
    labels = [line for line in lines if line["type"] == "speaker"]
    shown = set()
    for line in lines:  # a label follows its final, never before it
        if line["type"] == "final":
            shown.add(line["index"])
        elif line["type"] == "speaker":
            assert line["index"] in shown
            assert set(line) == {"type", "index", "speaker", "voice"}
    kept = latest(labels)
    assert sorted(kept) == [f["index"] for f in finals], "every final is labelled before the session ends"
    for f in finals:
        truth = lecture.truth_role(f["start"], f["end"])
        assert kept[f["index"]]["speaker"] == truth, (f["text"], truth)
        assert (kept[f["index"]]["voice"] is None) == (truth == LECTURER)
    assert [line["index"] for line in finals] == sorted(line["index"] for line in finals), "finals in order"
    # The session folder: the same lines in transcript.jsonl, voices in the subtitles, Question: in the text.
    folder = session_folder(done)
    assert [line for line in jsonl(folder) if line["type"] == "speaker"] == labels
    asked = [f for f in finals if kept[f["index"]]["speaker"] == AUDIENCE]
    assert asked and "ask not" in " ".join(f["text"] for f in asked).lower()
    txt = (folder / "transcript.txt").read_text(encoding="utf-8")
    assert all(f"Question: {f['text']}" in txt for f in asked)
    assert sum(line.count("Question:") for line in txt.splitlines()) == len(asked)
    subtitles = list(srt.parse((folder / "transcript.srt").read_text(encoding="utf-8")))
    voices = [cue.content.split(">", 1)[0] for cue in subtitles]
    assert set(voices) == {"<v Lecturer", "<v Audience"} and len(voices) >= len(finals)
    vtt = webvtt.from_buffer(io.StringIO((folder / "transcript.vtt").read_text(encoding="utf-8")))
    by_start = {round(f["start"], 2): kept[f["index"]]["speaker"] for f in finals}
    for cue in vtt:
        assert cue.voice in ("Lecturer", "Audience") and "<v" not in cue.text
        if round(cue.start_in_seconds, 2) in by_start:
            assert cue.voice.lower() == by_start[round(cue.start_in_seconds, 2)]


@pytest.mark.slow
def test_headless_text_says_question_under_the_audiences_captions(tmp_path, lecture_file):
    path, _ = lecture_file
    done = live("--input", str(path), "--fast", "--headless", "--engine", "whisper", "--language", "en",
                "--session-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    questions = [i for i, line in enumerate(out) if line.strip().startswith("Question: ")]
    assert questions
    for i in questions:  # indented under the caption it repeats
        said = out[i].strip()[len("Question: "):]
        assert any(line.endswith(said) and line.startswith("[") for line in out[:i])


@pytest.mark.slow
def test_speakers_off_labels_nothing(tmp_path, lecture_file):
    path, _ = lecture_file
    done = live("--input", str(path), "--fast", "--headless", "--json", "--engine", "whisper", "--language", "en",
                "--session-dir", str(tmp_path), "--speakers", "off")
    assert done.returncode == 0, done.stderr
    assert '"speaker"' not in done.stdout and "Question" not in done.stdout
    folder = session_folder(done)
    assert not [line for line in jsonl(folder) if line["type"] == "speaker"]
    assert "<v " not in (folder / "transcript.vtt").read_text(encoding="utf-8")


def test_speakers_is_a_setting_too(tmp_path):
    from live.config import load_settings
    from live.errors import ConfigError

    (tmp_path / "config.toml").write_text("speakers = false\n")
    env = {"LIVE_CONFIG": str(tmp_path / "config.toml")}
    assert load_settings(env=env).speakers is False
    assert load_settings({"speakers": "on"}, env=env).speakers is True
    assert load_settings(env={}).speakers is True  # on by default: ~1.5 % of a core while speaking
    with pytest.raises(ConfigError, match="speakers"):
        load_settings({"speakers": "sometimes"}, env={})


@pytest.mark.slow
def test_live_transcribe_labels_the_file_with_the_whole_of_it_in_view(tmp_path, lecture_file):
    import webvtt

    path, lecture = lecture_file
    done = live("transcribe", str(path), "-o", str(tmp_path), "--engine", "whisper", "--language", "en")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "lecture"
    lines = jsonl(folder)
    finals = [line for line in lines if line["type"] == "final"]
    kept = latest([line for line in lines if line["type"] == "speaker"])
    assert sorted(kept) == [f["index"] for f in finals]
    asked = [f for f in finals if kept[f["index"]]["speaker"] == AUDIENCE]
    assert len(asked) == 1 and "ask not" in asked[0]["text"].lower(), "the question is a caption of its own"
    assert lecture.truth_role(asked[0]["start"], asked[0]["end"]) == AUDIENCE
    assert "Question: " + asked[0]["text"] in (folder / "transcript.txt").read_text(encoding="utf-8")
    voices = {cue.voice for cue in webvtt.read(str(folder / "transcript.vtt"))}
    assert voices == {"Lecturer", "Audience"}


@pytest.mark.skipif(installed_package_file() is not None, reason="resemblyzer is installed here: nothing is fetched")
def test_live_transcribe_without_the_speaker_model_says_so_in_one_line(tmp_path, shared_audio):
    env = {"LIVE_MODELS_DIR": str(tmp_path / "models"), "PIP_INDEX_URL": closed_port_url() + "/simple",
           "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
    done = live("transcribe", str(shared_audio / "en" / "jfk.flac"), "-o", str(tmp_path / "out"), "--engine",
                "whisper", "--language", "en", env=env)
    assert done.returncode == 0, done.stderr
    [said] = [line for line in done.stderr.splitlines() if "speaker labels off" in line]
    assert said.startswith("live: speaker labels off: ") and "--speakers off" in said
    assert "ask not" in (tmp_path / "out" / "jfk" / "transcript.txt").read_text().lower()


# --- the notes -------------------------------------------------------------------------------------------


def notes_request(llm_server, tmp_path, language: str, lines: list[tuple[str, str]]):
    keeper = make_keeper(llm_server, tmp_path, notes_language=language)
    for index, (text, _) in enumerate(lines):
        keeper.add_final(Caption("final", index * 10.0, index * 10.0 + 8, text, language=language, index=index))
    for index, (_, who) in enumerate(lines):  # the labels follow their finals
        keeper.add_speaker(SpeakerLabel(index, who, 1 if who == AUDIENCE else None))
    keeper.update()
    return llm_server.requests[-1]


def test_the_notes_request_carries_the_questions_from_the_room(llm_server, tmp_path):
    request = notes_request(llm_server, tmp_path, "en", [
        ("Entropy measures how many microstates fit a macrostate.", LECTURER),
        ("Sorry, what is the unit of entropy?", AUDIENCE),
        ("Joules per kelvin: it is energy over temperature.", LECTURER),
    ])
    text = request.prompt_text
    assert "[00:10] ❓ FROM THE ROOM: Sorry, what is the unit of entropy?" in text
    assert "[00:20] Joules per kelvin" in text and "[00:00] Entropy measures" in text
    system = request.messages[0]["content"]
    assert "## Questions from the room" in system and "*answer:*" in system


def test_chinese_notes_ask_for_the_questions_in_their_own_shape(llm_server, tmp_path):
    request = notes_request(llm_server, tmp_path, "zh", [
        ("熵是衡量无序程度的物理量。", LECTURER),
        ("请问熵的单位是什么？", AUDIENCE),
        ("焦耳每开尔文。", LECTURER),
    ])
    assert "❓ FROM THE ROOM: 请问熵的单位是什么？" in request.prompt_text
    system = request.messages[0]["content"]
    assert "### 课堂提问" in system and "讲者回答" in system


def test_a_saved_sessions_notes_read_its_speaker_lines(tmp_path):
    from live.notes.finals import format_finals, read_lecture

    lines = [Caption("final", 0, 5, "Today: entropy.", index=0).to_json(),
             Caption("final", 6, 9, "Is it conserved?", index=1).to_json(),
             {"type": "speaker", "index": 1, "speaker": "lecturer", "voice": None},
             {"type": "speaker", "index": 1, "speaker": "audience", "voice": 1}]  # the later line wins
    (tmp_path / "transcript.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    finals, _ = read_lecture(tmp_path / "transcript.jsonl")
    assert format_finals(finals) == "[00:00] Today: entropy.\n[00:06] ❓ FROM THE ROOM: Is it conserved?"


# --- the TUI ----------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_the_tui_marks_the_audience_and_L_names_the_lecturer(tmp_path, shared_audio, voice_encoder,
                                                                   whisper_engine):
    from live.config import Settings
    from live.tui.app import create_app
    from live.tui.caption_view import CaptionView

    # Someone else opens (11 s); the lecturer then speaks for less than that: by dominance alone the opener
    # would stay the lecturer, so only the L key can make the real one so.
    opener, talk = load(shared_audio, "en/jfk.flac"), load(shared_audio, "en/ibm_08_ibm_watson_ai_3min.flac")
    path = tmp_path / "opening.flac"
    sf.write(path, np.concatenate([opener, np.zeros(RATE, np.float32), talk[21 * RATE:31 * RATE]]), RATE)
    app = create_app(Settings(input=path, engine="whisper", language="en", session_dir=tmp_path / "s"),
                     load_engine=lambda _status: (whisper_engine, "tiny.en"))
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(CaptionView)
        await wait_for(pilot, lambda: any(r.at > 12 for r in view.rows), seconds=60)  # the lecturer speaks
        await pilot.press("L")
        await wait_for(pilot, lambda: any(r.asked for r in view.rows if r.at < 11), seconds=10)
        await wait_for(pilot, lambda: app.finished, seconds=90)
        rows = [r for r in view.rows if r.kind == "final"]
        assert all(r.asked for r in rows if r.at < 11), "the opener is the audience now"
        assert not any(r.asked for r in rows if r.at > 12), "the lecturer's captions are not marked"
        assert any(line.startswith("00:00:00 ❓ ") for line in view.text_lines())
        await pilot.press("q")
    kept = latest([line for line in jsonl(Path(app.session_folder)) if line["type"] == "speaker"])
    finals = [line for line in jsonl(Path(app.session_folder)) if line["type"] == "final"]
    assert all(kept[f["index"]]["speaker"] == (AUDIENCE if f["start"] < 11 else LECTURER) for f in finals)


def test_models_prepare_fetches_the_speaker_model_and_says_where(tmp_path, voice_encoder):
    from live.speakers.weights import RESEMBLYZER, encoder_file

    models = tmp_path / "models"
    (models / "voice-encoder").mkdir(parents=True)  # a copy already checked: nothing to fetch
    (models / "voice-encoder" / "pretrained.pt").write_bytes(encoder_file(fetch=False).read_bytes())
    done = live("models", "prepare", "--engine", "whisper", env={"LIVE_MODELS_DIR": str(models)})
    assert done.returncode == 0, done.stderr
    assert f"ready: the speaker model, {models / 'voice-encoder' / 'pretrained.pt'}" in done.stdout
    assert (models / "voice-encoder" / "pretrained.pt.sha256").read_text().strip() == RESEMBLYZER.sha256
