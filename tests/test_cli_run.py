"""`live` end to end as a user runs it: a subprocess, real audio, a real engine, stdout and the session folder."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_helpers import DATA, virtual_mic_or_skip
from proc_helpers import Watched, engine_ready
from wer_helpers import normalize, wer
from live.transcript import read_entries

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")


def live(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def gold_english(shared_audio: Path) -> list[tuple[Path, str]]:
    rows = []
    for line in (shared_audio / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if cols[1] == "en" and cols[3] == "gold":
            rows.append((shared_audio / cols[0], cols[7]))
    return rows


@pytest.fixture(scope="module")
def gold_reel(tmp_path_factory, shared_audio):
    """All gold English clips in one file, 1.5 s of silence between them: seams the VAD must find."""
    clips = gold_english(shared_audio)
    pieces, spans, t = [], [], 0.0
    gap = np.zeros(int(1.5 * 16000), np.float32)
    for path, ref in clips:
        audio, rate = sf.read(path, dtype="float32")
        assert rate == 16000 and audio.ndim == 1
        pieces += [audio, gap]
        spans.append((t, t + len(audio) / 16000, ref, path.name))
        t += (len(audio) + len(gap)) / 16000
    out = tmp_path_factory.mktemp("reel") / "gold.flac"
    sf.write(out, np.concatenate(pieces), 16000)
    return out, spans


@pytest.mark.slow
def test_whisper_through_the_live_pipeline_meets_the_wer_bound(gold_reel, tmp_path):
    reel, spans = gold_reel
    done = live("--input", str(reel), "--fast", "--headless", "--json", "--engine", "whisper", "--language", "en",
                "--session-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    finals = [f for f in map(json.loads, done.stdout.splitlines()) if f["type"] != "speaker"]  # labels: lines of their own
    assert finals and all(f["type"] == "final" for f in finals)
    # Nothing duplicated, lost or reordered: indices rise, times never overlap.
    assert [f["index"] for f in finals] == sorted({f["index"] for f in finals})
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(finals, finals[1:]))
    errors = words = 0
    for start, end, ref, name in spans:
        hyp = " ".join(f["text"] for f in finals if start - 0.5 <= f["start"] < end)
        e, n = wer(ref, hyp)
        errors, words = errors + e, words + n
        # No final straddles a seam: each belongs to one clip.
        assert all(f["end"] <= end + 0.5 for f in finals if start - 0.5 <= f["start"] < end), name
    assert errors / words <= 0.10, f"WER {errors / words:.1%} over {len(spans)} gold clips"
    # The same finals are on disk, and the subtitle files were written on exit.
    session = next(tmp_path.iterdir())
    on_disk, _ = read_entries(session)
    assert [c.text for c in on_disk] == [f["text"] for f in finals]
    assert (session / "transcript.srt").read_text().count(" --> ") >= len(finals)


@pytest.mark.slow
def test_cuts_inside_long_speech_lose_and_repeat_nothing(tmp_path):
    """--max-segment-s 4 forces cuts inside the Harvard sentences; each sentence still comes out once."""
    done = live("--input", str(DATA / "realpython_harvard.flac"), "--fast", "--headless", "--json",
                "--engine", "whisper", "--language", "en", "--max-segment-s", "4", "--session-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    finals = [f for f in map(json.loads, done.stdout.splitlines()) if f["type"] == "final"]
    assert all(f["end"] - f["start"] <= 4.0 + 1e-6 for f in finals)
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(finals, finals[1:]))
    text = normalize(" ".join(f["text"] for f in finals))
    unspaced = text.replace(" ", "")  # tiny.en writes "Tacos Alpastor" or "Tacos al pastor" by its window
    for phrase in ("stale smell of old", "heat to bring out the odor", "tacos al pastor", "hot cross bun"):
        assert unspaced.count(phrase.replace(" ", "")) == 1, (phrase, text)


def test_headless_text_mode_prints_timestamped_finals(tmp_path):
    done = live("--input", str(DATA / "jfk.flac"), "--fast", "--headless", "--engine", "whisper", "--language", "en",
                "--session-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(re.fullmatch(r"\[\d\d:\d\d:\d\d\] .+", line) for line in lines)
    assert "ask what you can do for your country" in normalize(" ".join(lines))
    assert "session saved in" in done.stderr and "whisper" in done.stderr


def test_partials_come_before_their_final_and_carry_latency(tmp_path):
    # Real time: partials are decoded while the decoder keeps up (a --fast replay is always behind).
    done = live("--input", str(DATA / "jfk.flac"), "--headless", "--json", "--partials",
                "--engine", "whisper", "--language", "en", "--session-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    events = [e for e in map(json.loads, done.stdout.splitlines()) if e["type"] != "speaker"]  # labels: lines of their own
    assert {e["type"] for e in events} == {"partial", "final"}
    keys = {"type", "start", "end", "text", "language", "emotion", "events", "emitted", "index", "speech_end"}
    assert all(set(e) == keys for e in events)
    finals = {e["index"]: e for e in events if e["type"] == "final"}
    for e in events:
        if e["type"] == "partial":
            assert e["index"] in finals and events.index(e) < events.index(finals[e["index"]])
        assert e["emitted"] >= e["end"] - 1e-6
    # Only finals are saved.
    session = next(tmp_path.iterdir())
    assert [c.index for c in read_entries(session)[0]] == sorted(finals)


@pytest.mark.slow
def test_kill_9_mid_session_keeps_every_printed_final(tmp_path, shared_audio):
    """Real-time replay of a talk; after two finals are printed the process is killed with SIGKILL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "live", "--input", str(shared_audio / "en" / "ibm_11_ibm_culture_2min.flac"),
         "--headless", "--json", "--engine", "whisper", "--language", "en", "--session-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    printed = []
    deadline = time.monotonic() + 120
    try:
        while len(printed) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line and json.loads(line)["type"] == "final":  # not its speaker label
                printed.append(json.loads(line)["text"])
    finally:
        proc.kill()
        proc.wait()
    assert len(printed) == 2
    session = next(tmp_path.iterdir())
    on_disk = [c.text for c in read_entries(session)[0]]
    assert on_disk[: len(printed)] == printed
    audio, rate = sf.read(session / "audio.wav")
    assert rate == 16000 and len(audio) / rate > 5.0


@pytest.mark.mic
@pytest.mark.slow
def test_headless_captions_the_virtual_microphone(tmp_path_factory, tmp_path, shared_audio):
    mic = virtual_mic_or_skip(tmp_path_factory.mktemp("vmic"))
    try:
        env = {**os.environ, **mic.client_env()}
        proc = subprocess.Popen(
            [sys.executable, "-m", "live", "--headless", "--engine", "whisper", "--language", "en",
             "--session-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        watched = Watched(proc)
        watched.wait_err(engine_ready)  # the microphone opens before the model loads
        mic.play(shared_audio / "en" / "jfk.flac")
        mic.wait()
        watched.wait_out(lambda out: "your country" in normalize(out))
        proc.send_signal(signal.SIGINT)
        out, err = watched.finish()
    finally:
        mic.stop()
    assert proc.returncode == 0, err
    # JFK pauses for ~1 s after "Ask not", so the words may come as consecutive finals: read them as
    # the user does, line after line.
    said = normalize(" ".join(re.sub(r"^\[[\d:]+\] ", "", line) for line in out.splitlines()))
    assert "ask not what your country can do for you" in said, out
    session = next(tmp_path.iterdir())
    saved = " ".join(c.text for c in read_entries(session)[0])
    assert "ask not what your country can do for you" in normalize(saved)


def said_in(json_lines: str) -> str:
    """The finals' words; speaker and other typed lines that follow a final are not words said."""
    finals = (json.loads(line) for line in json_lines.splitlines())
    return normalize(" ".join(c["text"] for c in finals if c.get("type", "final") == "final"))


# --- bad input: one line on stderr, a non-zero exit, no traceback -------------------------------------


def _one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda d: d / "missing.flac", ("missing.flac", "no such file")),
        (lambda d: d, ("is a folder",)),
        (lambda d: (d / "empty.wav").write_bytes(b"") and d / "empty.wav" or d / "empty.wav", ("empty.wav",)),
        (lambda d: (d / "notes.txt").write_text("not audio") and d / "notes.txt", ("notes.txt",)),
        (lambda d: (d / "cut.flac").write_bytes((DATA / "jfk.flac").read_bytes()[:300]) and d / "cut.flac",
         ("cut.flac",)),
    ],
    ids=["missing", "folder", "empty", "text", "truncated-header"],
)
def test_bad_input_files(tmp_path, make, fragments):
    path = make(tmp_path)
    _one_line_error(live("--input", str(path), "--headless", "--session-dir", str(tmp_path / "s")), *fragments)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--language", "fr"], ("unknown language 'fr'",)),
        (["--engine", "kaldi"], ("unknown engine 'kaldi'",)),
        (["--device", "no-such-mic"], ("--input",)),
        (["--input", "x.flac", "--demo"], ("pick one",)),
    ],
)
def test_bad_options(tmp_path, args, fragments):
    _one_line_error(live(*args, "--headless", "--session-dir", str(tmp_path)), *fragments)


def test_unwritable_session_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(live("--input", str(DATA / "jfk.flac"), "--headless", "--session-dir", str(blocker / "s")),
                    "--session-dir")


def test_model_folder_that_is_not_sensevoice(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.yaml").write_text("model: Paraformer\n")
    done = live("--input", str(DATA / "jfk.flac"), "--fast", "--headless", "--engine", "sensevoice",
                "--model", str(folder), "--session-dir", str(tmp_path / "s"))
    _one_line_error(done, str(folder))


def test_help_documents_the_options_and_json_format():
    done = live("--help")
    assert done.returncode == 0
    for word in ("--input", "--fast", "--demo", "--device", "--engine", "--model", "--language", "--session-dir",
                 "--headless", "--json", "--partials", "emitted - speech_end", "config.toml", "LIVE_", "--script"):
        assert word in done.stdout, word


@pytest.mark.mic
@pytest.mark.slow
def test_microphone_pulled_mid_session_saves_and_reconnects(tmp_path_factory, tmp_path, shared_audio):
    """The sound server dies mid-talk: what was said is on disk, the session goes on, and when the
    microphone is back captions resume in the same session."""
    mic = virtual_mic_or_skip(tmp_path_factory.mktemp("vmic"))
    jfk = shared_audio / "en" / "jfk.flac"
    try:
        env = {**os.environ, **mic.client_env()}
        proc = subprocess.Popen(
            [sys.executable, "-m", "live", "--headless", "--json", "--engine", "whisper", "--language", "en",
             "--session-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        watched = Watched(proc)
        watched.wait_err(engine_ready)
        mic.play(jfk)
        mic.wait()
        watched.wait_out(lambda out: said_in(out).count("your country") >= 2)
        mic.stop()  # the microphone goes away
        watched.wait_err(lambda err: "captions so far are saved" in err)
        mic.start()  # and comes back: the pipeline retries every 3 s
        watched.wait_err(lambda err: "microphone reconnected" in err)
        mic.play(jfk)
        mic.wait()
        watched.wait_out(lambda out: said_in(out).count("your country") >= 3)
        proc.send_signal(signal.SIGINT)
        out, err = watched.finish()
    finally:
        mic.stop()
    assert proc.returncode == 0, err
    assert "captions so far are saved" in err and "microphone reconnected" in err, err
    text = said_in(out)
    assert text.count("your country") >= 3, text  # said twice per play, heard before and after the outage
    session = next(tmp_path.iterdir())
    assert normalize((session / "transcript.txt").read_text()).count("your country") >= 3


# --- notes while running headless, with the slides as context (issues 3 and 4) -----------------------


def test_headless_notes_take_the_slides_as_context(tmp_path, llm_server):
    from slides_helpers import make_pptx

    deck = make_pptx(tmp_path / "lecture.pptx")
    llm_server.enqueue_text("# Hidden Markov Models\n\n- **Viterbi** (slide 2): ask what you can do.\n")
    done = live("--input", str(DATA / "jfk.flac"), "--fast", "--headless", "--engine", "whisper", "--language", "en",
                "--slides", str(deck), "--llm-base-url", llm_server.url, "--llm-model", "m", "--notes-every", "5",
                "--session-dir", str(tmp_path / "s"), env={"LIVE_LLM_API_KEY": "sk-test-SECRET-abcdef0123456789"})
    assert done.returncode == 0, done.stderr
    assert "notes updated" in done.stderr
    [request] = llm_server.requests
    assert "Viterbi" in request.prompt_text and "Baum-Welch" in request.prompt_text  # the slides' text
    assert "your country" in request.prompt_text.lower()  # and the finals
    session = next((tmp_path / "s").iterdir())
    assert "slide 2" in (session / "summary.md").read_text()
    for path in session.rglob("*"):
        if path.is_file():
            assert b"sk-test-SECRET" not in path.read_bytes(), path


def test_unreadable_slides_are_a_one_line_error(tmp_path):
    deck = tmp_path / "deck.key"
    deck.write_text("keynote")
    _one_line_error(live("--input", str(DATA / "jfk.flac"), "--headless", "--slides", str(deck),
                         "--session-dir", str(tmp_path / "s")), "deck.key")


def test_live_run_replays_the_audio_track_of_a_video(tmp_path):
    video = tmp_path / "lecture.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=160x120:d=11",
                    "-i", str(DATA / "jfk.flac"), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(video)], check=True)
    done = live("--input", str(video), "--fast", "--headless", "--engine", "whisper", "--language", "en",
                "--session-dir", str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr
    assert "ask what you can do for your country" in normalize(done.stdout)


def test_demo_takes_an_optional_language_and_script_a_choice():
    from live.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["run", "--demo"]).demo == "en"
    assert parse(["run", "--demo", "zh", "--headless"]).demo == "zh"
    assert parse(["run", "--script", "traditional"]).script == "traditional"
    assert parse(["transcribe", "x.flac", "--script", "traditional-hk"]).script == "traditional-hk"
    done = live("--demo", "fr", "--headless")
    assert done.returncode == 2 and "invalid choice: 'fr'" in done.stderr
