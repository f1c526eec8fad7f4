"""`live transcribe` as a user runs it: real media files made with ffmpeg, the Whisper tiny.en engine,
the output folders, stderr, exit codes; and the pieces (batching, progress) driven directly."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_helpers import DATA
from live.errors import ConfigError, SessionError
from live.session.filejob import FileTranscription
from live.transcribe import (
    Batch,
    Batcher,
    BatchOptions,
    Progress,
    output_folder,
    transcribe_file,
)
from live.vad import Segment
from notes_helpers import KEY
from slides_helpers import make_pdf
from wer_helpers import normalize, wer

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
HARVARD = ("The stale smell of old beer lingers. It takes heat to bring out the odor. A cold dip restores health "
           "and zest. A salt pickle tastes fine with ham. Tacos al pastor are my favorite. A zestful food is the "
           "hot cross bun.")


def live_transcribe(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command as a user types it (``live transcribe``)."""
    return subprocess.run([sys.executable, "-m", "live", "transcribe", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def transcript_text(folder: Path) -> str:
    """What transcript.txt says, without its timestamps."""
    lines = (folder / "transcript.txt").read_text(encoding="utf-8").splitlines()
    return " ".join(re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line) for line in lines)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("live: error:")]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """JFK's 11 s as a video and in other codecs, and files that cannot be (fully) transcribed."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("making the test media needs ffmpeg (Debian: apt install ffmpeg)")
    d = tmp_path_factory.mktemp("media")
    jfk = str(DATA / "jfk.flac")
    files = {name: d / name for name in ("lecture.mp4", "jfk.mp3", "jfk.ogg", "jfk.m4a", "video_only.mp4",
                                          "truncated.m4a", "cut.flac", "empty.wav", "a_folder", "absent.mp3")}
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=160x120:d=11", "-i", jfk, "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", str(files["lecture.mp4"]))
    ffmpeg("-i", jfk, "-c:a", "libmp3lame", str(files["jfk.mp3"]))
    ffmpeg("-i", jfk, "-c:a", "libvorbis", str(files["jfk.ogg"]))
    ffmpeg("-i", jfk, "-c:a", "aac", str(files["jfk.m4a"]))
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=160x120:d=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(files["video_only.mp4"]))
    # The first half of an m4a: its index (moov) is at the end, so nothing can be read.
    whole = files["jfk.m4a"].read_bytes()
    files["truncated.m4a"].write_bytes(whole[: len(whole) // 2])
    # The first half of a FLAC: it plays, and stops at ~5.4 s of the 11 s its header states.
    flac = (DATA / "jfk.flac").read_bytes()
    files["cut.flac"].write_bytes(flac[: len(flac) // 2])
    files["empty.wav"].write_bytes(b"")
    files["a_folder"].mkdir()
    return files


@pytest.fixture(scope="module")
def mixed_run(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    done = live_transcribe(*(str(p) for p in media.values()), "-o", str(out), "--engine", "whisper",
                           "--format", "txt,srt,vtt,jsonl,md")
    return done, out


GOOD = {"lecture.mp4": "lecture", "jfk.mp3": "jfk", "jfk.ogg": "jfk-ogg", "jfk.m4a": "jfk-m4a"}
BAD = {"truncated.m4a": "is not an audio or video file FFmpeg can read",
       "video_only.mp4": "has no audio track",
       "empty.wav": "is empty (0 bytes)",
       "a_folder": "is a folder",
       "absent.mp3": "no such file",
       "cut.flac": "the audio stops at 00:05 of 00:11"}


@pytest.mark.slow
def test_good_files_are_transcribed_and_each_bad_one_is_one_line(mixed_run, media):
    done, out = mixed_run
    assert done.returncode == 1, done.stderr
    errors = error_lines(done.stderr)
    assert len(errors) == len(BAD), done.stderr
    for name, reason in BAD.items():
        mine = [line for line in errors if str(media[name]) in line]
        assert len(mine) == 1 and reason in mine[0], (name, errors)
    for name, folder in GOOD.items():
        assert not any(str(media[name]) in line for line in errors), name
        errors_, words = wer(JFK, transcript_text(out / folder))
        assert errors_ / words <= 0.10, (name, transcript_text(out / folder))
    # stdout lists the folders that were written, one a line, in the order given.
    assert done.stdout.splitlines() == [str(out / f) for f in GOOD.values()] + [str(out / "cut")]
    assert sorted(p.name for p in out.iterdir()) == sorted([*GOOD.values(), "cut"])


@pytest.mark.slow
def test_a_cut_short_file_keeps_the_transcript_of_what_plays(mixed_run):
    _, out = mixed_run
    text = normalize(transcript_text(out / "cut"))
    assert "my fellow americans" in text
    assert "ask what you can do for your country" not in text  # that part is in the missing half


@pytest.mark.slow
def test_outputs_are_those_of_a_live_session_plus_markdown(mixed_run):
    _, out = mixed_run
    folder = out / "lecture"
    assert sorted(p.name for p in folder.iterdir()) == [
        "session.json", "transcript.jsonl", "transcript.md", "transcript.srt", "transcript.txt", "transcript.vtt"]
    lines = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
    finals = [line for line in lines if line["type"] == "final"]
    assert finals and all(f["language"] == "en" for f in finals)
    assert {line["type"] for line in lines} == {"final", "speaker"}  # who said each (the lecturer: one voice)
    assert 0.0 <= finals[0]["start"] < 1.0 and 10.0 < finals[-1]["end"] <= 11.1
    md = (folder / "transcript.md").read_text()
    assert md.startswith("# Transcript of lecture.mp4\n") and "**[00:00:00]** And so my fellow Americans" in md
    meta = json.loads((folder / "session.json").read_text())
    assert meta["engine"] == "whisper" and meta["input"].endswith("lecture.mp4")


def parse_srt(path: Path) -> list[tuple[float, float, str]]:
    import srt

    # A cue opens with its speaker's voice tag (<v Lecturer>), which players (and webvtt-py) take off the text.
    return [(c.start.total_seconds(), c.end.total_seconds(), re.sub(r"^<v [^>]*>", "", c.content))
            for c in srt.parse(path.read_text())]


def parse_vtt(path: Path) -> list[tuple[float, float, str]]:
    webvtt = pytest.importorskip("webvtt", reason="webvtt-py parses the VTT files")

    def seconds(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    return [(seconds(c.start), seconds(c.end), c.text) for c in webvtt.read(str(path))]


def assert_monotonic(cues: list[tuple[float, float, str]]) -> None:
    assert cues
    for start, end, text in cues:
        assert 0.0 <= start < end and text.strip()
    for (_, end, _), (start, _, _) in zip(cues, cues[1:]):
        assert end <= start + 1e-3


@pytest.mark.slow
def test_subtitles_parse_back_with_monotonic_times(mixed_run):
    pytest.importorskip("srt", reason="the srt package parses the SRT files")
    _, out = mixed_run
    for folder in GOOD.values():
        srt_cues, vtt_cues = parse_srt(out / folder / "transcript.srt"), parse_vtt(out / folder / "transcript.vtt")
        assert_monotonic(srt_cues)
        assert [(round(a, 2), round(b, 2), t) for a, b, t in srt_cues] == \
            [(round(a, 2), round(b, 2), t) for a, b, t in vtt_cues]
        assert normalize(" ".join(t for _, _, t in srt_cues)) == normalize(transcript_text(out / folder))


def test_progress_lines_when_not_a_terminal_and_only_the_formats_asked(tmp_path):
    pytest.importorskip("srt", reason="the srt package parses the SRT files")
    done = live_transcribe(str(DATA / "realpython_harvard.flac"), "-o", str(tmp_path), "--engine", "whisper",
                           "--format", "srt,vtt", "--batch-s", "5")
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    marks = re.findall(r"^live: realpython_harvard\.flac: (\d+) % \(\d\d:\d\d of 00:18\), \d\d:\d\d elapsed, "
                       r"ETA \d\d:\d\d$", done.stderr, flags=re.M)
    assert len(marks) >= 2 and [int(m) for m in marks] == sorted({int(m) for m in marks}), done.stderr
    assert re.search(r"^live: realpython_harvard\.flac: \d+ captions from 00:18 of audio in \d\d:\d\d, RTF "
                     r"\d\.\d\d → ", done.stderr, flags=re.M)
    folder = tmp_path / "realpython_harvard"
    assert sorted(p.name for p in folder.iterdir()) == ["session.json", "transcript.srt", "transcript.vtt"]
    cues = parse_srt(folder / "transcript.srt")
    assert_monotonic(cues)
    assert_monotonic(parse_vtt(folder / "transcript.vtt"))
    assert len(cues) >= 3
    text = normalize(" ".join(t for _, _, t in cues))
    for phrase in ("stale smell of old", "heat to bring out the odor", "salt pickle", "hot cross bun"):
        assert text.count(phrase) == 1, (phrase, text)


@pytest.mark.slow
def test_gold_clips_meet_the_live_paths_wer_bound(shared_audio, tmp_path):
    rows = []
    for line in (shared_audio / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if cols[1] == "en" and cols[3] == "gold":
            rows.append((shared_audio / cols[0], cols[7]))
    assert len(rows) >= 10
    done = live_transcribe(*(str(p) for p, _ in rows), "-o", str(tmp_path), "--engine", "whisper")
    assert done.returncode == 0, done.stderr
    errors = words = 0
    for path, ref in rows:
        e, n = wer(ref, transcript_text(tmp_path / path.stem))
        errors, words = errors + e, words + n
    assert errors / words <= 0.10, f"WER {errors / words:.1%} over {len(rows)} gold clips"


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where -o wants a folder")
    done = live_transcribe(str(DATA / "jfk.flac"), "-o", str(blocker / "out"), "--engine", "whisper")
    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert f"cannot write the output folder {blocker / 'out' / 'jfk'}" in line and "pass -o DIR" in line
    assert done.stdout == ""


# --- notes from the transcript, with the slides -----------------------------------------------------


def llm_env(tmp_path: Path, server, key: str | None = KEY) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nbase_url = "{server.url}/v1"\nmodel = "test-model"\nmax_retries = 0\n'
                      "timeout_s = 10\n")
    env = {"LIVE_CONFIG": str(config)}
    if key:
        env["LIVE_LLM_API_KEY"] = key
    return env


def test_summarize_with_slides_sends_the_slides_to_the_model(llm_server, tmp_path):
    deck = make_pdf(tmp_path / "hmm.pdf")
    done = live_transcribe(str(DATA / "jfk.flac"), "-o", str(tmp_path / "out"), "--engine", "whisper",
                           "--summarize", "--slides", str(deck), env=llm_env(tmp_path, llm_server))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "out" / "jfk"
    assert (folder / "summary.md").read_text().startswith("# Notes")
    assert (folder / "transcript.srt").is_file()
    (request,) = llm_server.requests
    system = request.messages[0]["content"]
    assert "Slide 2: The Viterbi Algorithm\nDynamic programming over the trellis" in system
    assert '"(slide N)"' in system and "Baum-Welch" in system
    assert "ask not what your country can do for you" in normalize(request.last_user)
    assert KEY not in done.stderr + done.stdout


def test_summarize_without_a_key_still_writes_the_transcript(llm_server, tmp_path):
    done = live_transcribe(str(DATA / "jfk.flac"), "-o", str(tmp_path / "out"), "--engine", "whisper",
                           "--summarize", env=llm_env(tmp_path, llm_server, key=None))
    assert done.returncode == 1
    assert len([line for line in done.stderr.splitlines() if "no API key" in line]) == 2  # up front, at the end
    assert "ask not what your country" in normalize(transcript_text(tmp_path / "out" / "jfk"))
    assert not (tmp_path / "out" / "jfk" / "summary.md").exists()
    assert llm_server.requests == []


@pytest.mark.parametrize("args, message", [
    (["--slides", "deck.key"], "slides '.key' are not supported; give a PDF or a PowerPoint"),
    (["--summarize", "--slides", "deck.key"], "slides '.key' are not supported; give a PDF or a PowerPoint"),
    (["--format", "srt,pdf"], "unknown --format pdf; choose from txt,srt,vtt,jsonl,md"),
    (["--vocab", "terms.txt"], "terms.txt: no such file; check the path given to --vocab"),
    (["--translate", "simplified chinese"], "--translate takes a language code such as zh"),
    (["--translate", "zh", "--server", "http://127.0.0.1:9"], "--vocab and --translate work on this machine's"),
])
def test_usage_errors_stop_before_any_work(tmp_path, args, message):
    (tmp_path / "deck.key").write_text("keynote")
    args = [str(tmp_path / a) if a in ("deck.key", "terms.txt") else a for a in args]
    done = live_transcribe(str(DATA / "jfk.flac"), "-o", str(tmp_path / "out"), *args,
                           env={"LIVE_LLM_API_KEY": KEY})
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("live: error:") and message in line
    assert not (tmp_path / "out").exists()


# --- the pieces, in process ------------------------------------------------------------------------


def seg(index: int, start: float, end: float) -> Segment:
    n = int(round((end - start) * 16000))
    return Segment(index, start, end, np.full(n, index + 1, dtype=np.float32))


def batches_of(segments: list[Segment], **options) -> list[Batch]:
    batcher = Batcher(BatchOptions(**options))
    out = [b for s in segments for b in batcher.add(s)]
    return out + batcher.flush()


def test_batches_merge_neighbours_up_to_the_length_and_break_at_long_pauses():
    segments = [seg(0, 0.0, 6.0), seg(1, 6.8, 14.0), seg(2, 15.0, 22.0), seg(3, 22.5, 30.0),
                seg(4, 36.0, 40.0), seg(5, 40.0, 45.0)]
    batches = batches_of(segments, max_batch_s=20.0, max_gap_s=2.5)
    assert [[s.index for s in b.segments] for b in batches] == [[0, 1], [2, 3], [4, 5]]
    assert [(b.start, b.end) for b in batches] == [(0.0, 14.0), (15.0, 30.0), (36.0, 45.0)]
    joined = batches[0].audio()  # silence between segments is left out; each keeps its own samples
    assert joined.size == segments[0].audio.size + segments[1].audio.size
    assert set(np.unique(joined[: segments[0].audio.size])) == {1.0}
    assert all(b.speech_s <= 20.0 for b in batches)
    # 0 decodes each segment alone, as the live path does.
    assert [len(b.segments) for b in batches_of(segments, max_batch_s=0)] == [1] * 6
    with pytest.raises(ConfigError):
        BatchOptions(max_batch_s=-1)


@pytest.fixture(scope="module")
def whisper():
    from live.asr.whisper import WhisperEngine

    return WhisperEngine()


def test_batching_makes_fewer_decodes_with_the_same_words(whisper):
    path = DATA / "realpython_harvard.flac"
    single = FileTranscription(path, whisper, batching=BatchOptions(max_batch_s=0))
    merged = FileTranscription(path, whisper)
    one_by_one, batched = list(single), list(merged)
    assert merged.segments == single.segments >= 4
    assert merged.batches < single.batches and len(batched) < len(one_by_one)
    assert batched[0].start == one_by_one[0].start and batched[-1].end == one_by_one[-1].end
    for captions in (one_by_one, batched):
        e, n = wer(HARVARD, " ".join(c.text for c in captions))
        assert e / n <= 0.10, [c.text for c in captions]


def test_rerun_replaces_the_transcript_and_a_file_in_the_way_is_an_error(whisper, tmp_path):
    folder = tmp_path / "jfk"
    first = transcribe_file(DATA / "jfk.flac", whisper, folder)
    again = transcribe_file(DATA / "jfk.flac", whisper, folder)
    assert first.ok and again.ok and first.captions == again.captions >= 1
    lines = (folder / "transcript.jsonl").read_text().splitlines()
    assert len(lines) == again.captions  # not appended to the first run's lines
    (tmp_path / "blocked").write_text("a file")
    with pytest.raises(SessionError, match="a file of that name is in the way"):
        transcribe_file(DATA / "jfk.flac", whisper, tmp_path / "blocked")


def test_output_folders_are_named_after_the_files():
    taken: set[Path] = set()
    names = []
    for name in ("talk.mp4", "talk.mp3", "talk.mp4", "README"):
        folder = output_folder(Path("/media") / name, None, taken)
        taken.add(folder)
        names.append(folder.name)
    assert names == ["talk", "talk-mp3", "talk-mp4", "README-transcript"]
    assert output_folder(Path("/media/x/talk.mp4"), Path("/out")) == Path("/out/talk")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_on_a_terminal_is_a_bar_with_elapsed_time_and_eta():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, tty=True, clock=clock, min_redraw_s=0.0)
    progress.start("lecture.mp4", 600.0)
    clock.now += 30.0
    progress.update(150.0)
    bar = progress.render_bar(100)
    assert bar.startswith("lecture.mp4 [") and "25%" in bar and "02:30/10:00" in bar
    assert "00:30 elapsed" in bar and "ETA 01:30" in bar and len(bar) < 100
    narrow = progress.render_bar(40)  # a narrow terminal: the label gives way, the figures stay
    assert len(narrow) < 40 and "25%" in narrow and "ETA 01:30" in narrow
    progress.message("live: a message")
    # The bar line is cleared, the message printed on its own line, and the bar drawn again below it.
    assert stream.getvalue().endswith("\r\x1b[Klive: a message\n\r\x1b[K" + progress.render_bar(80)[:10]) or \
        "\r\x1b[Klive: a message\n\r\x1b[Klecture.mp4 [" in stream.getvalue()
    progress.finish()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_elsewhere_is_a_line_every_ten_percent():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, tty=False, clock=clock)
    progress.start("talk.flac", 100.0)
    for done in range(5, 101, 5):
        clock.now += 1.0
        progress.update(float(done))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "live: talk.flac: transcribing (01:40 of audio)"
    assert [int(line.split(": ")[2].split(" %")[0]) for line in lines[1:]] == list(range(10, 100, 10))
    assert lines[1] == "live: talk.flac: 10 % (00:10 of 01:40), 00:02 elapsed, ETA 00:18"


@pytest.mark.slow
def test_the_bar_never_goes_back_on_a_real_file(whisper_engine, tmp_path):
    """The reader's clock runs ahead of the finals decoded behind it: both report progress, and on a
    talk of a few minutes the bar showed 100 % 02:18/02:18, then 96 % 02:12/02:18."""
    import soundfile as sf
    from audio_helpers import clip

    talk = tmp_path / "talk.wav"
    sf.write(talk, np.concatenate([clip("realpython_harvard.flac")] * 8), 16000)  # 2:27 of read sentences
    stream = io.StringIO()
    progress = Progress(stream, tty=True, clock=Clock(), min_redraw_s=0.0)
    progress.start("talk.wav", 8 * 18.36)
    job = FileTranscription(talk, whisper_engine, language="en", on_progress=progress.update)
    job.open()
    assert list(job)
    shown = [int(m) for m in re.findall(r"\] +(\d+)%", stream.getvalue())]
    assert len(shown) >= 3 and shown == sorted(shown) and shown[-1] == 100, shown


def test_a_file_that_is_not_audio_is_said_before_any_model_loads(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Thermodynamics, week 3: entropy and the second law.\n")
    done = live_transcribe(str(notes), "-o", str(tmp_path / "out"), "--engine", "whisper")
    assert done.returncode == 1
    assert f"{notes} is not an audio or video file FFmpeg can read" in done.stderr
    assert "loading" not in done.stderr.lower() and "using" not in done.stderr, done.stderr  # no model was loaded
