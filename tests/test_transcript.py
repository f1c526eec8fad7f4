"""The session folder: JSONL as the source of truth, a WAV readable at any moment, subtitle files."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from live.captions import Caption
from live.errors import SessionError
from live.events import Marker, SpeakerLabel, Translation
from live.transcript import (SessionWriter, Uncaptioned, WavAppender, cues, new_session_dir, parse_line, read_entries,
                             read_transcript, to_srt, to_vtt, uncaptioned)


def final(i: int, start: float, end: float, text: str) -> Caption:
    return Caption("final", start, end, text, "en", "neutral", ("Speech",), end + 0.5, i)


def test_finals_are_on_disk_before_close(tmp_path):
    w = SessionWriter(tmp_path / "s")
    w.add_final(final(0, 0.0, 2.0, "hello there"))
    lines = (tmp_path / "s" / "transcript.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {
        "type": "final", "start": 0.0, "end": 2.0, "text": "hello there", "language": "en",
        "emotion": "neutral", "events": ["Speech"], "emitted": 2.5, "index": 0, "speech_end": None,
    }
    w.close()


def test_every_line_of_the_schema_reads_back_as_written(tmp_path):
    lines = [final(0, 0.0, 2.0, "hello there"), Marker("bookmark", 2.5, "exam!"), Marker("pause", 3.0),
             Marker("resume", 9.0), Marker("gap", 9.0, "continued after 5 minutes"), Translation(0, "zh", "你好"),
             SpeakerLabel(0, "lecturer"), SpeakerLabel(0, "audience", 2), Uncaptioned(10.0, 14.5, 1),
             Uncaptioned(15.0, 16.0), replace(final(1, 10.0, 14.5, "said while behind"), finished=True)]
    w = SessionWriter(tmp_path / "s", record_audio=False)
    for line in lines:
        w.add_entry(line.to_json())
    w.close()
    assert list(read_transcript(tmp_path / "s")) == lines
    assert uncaptioned(tmp_path / "s") == [Uncaptioned(15.0, 16.0)]  # the first one is captioned since
    assert json.loads((tmp_path / "s" / "transcript.jsonl").read_text().splitlines()[7]) == {
        "type": "speaker", "index": 0, "speaker": "audience", "voice": 2}


def test_a_line_not_of_the_schema_is_skipped_with_a_warning(tmp_path, caplog):
    good = [final(0, 0.0, 2.0, "kept"), Marker("bookmark", 2.5)]
    bad = [{"type": "final", "start": "soon", "end": 1.0, "text": "x"}, {"type": "final", "end": 1.0},
           {"type": "final", "start": float("nan"), "end": 1.0, "text": "x"}, {"type": "marker", "kind": "nap", "at": 1},
           {"type": "translation", "index": 0, "text": "no language"}, {"type": "speaker", "index": 0, "speaker": "dog"}]
    rows = [good[0].to_json(), *bad, good[1].to_json()]
    folder = tmp_path / "s"
    folder.mkdir()
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"type": "partial"}\n{"type": "fin'
    (folder / "transcript.jsonl").write_text(text)
    assert list(read_transcript(folder)) == good
    assert sum("not of the transcript's schema" in r.message or "no time" in r.message for r in caplog.records) == 6
    assert parse_line({"type": "a line a later version writes"}) is None


def test_close_renders_txt_srt_vtt_with_bookmarks(tmp_path):
    w = SessionWriter(tmp_path / "s")
    w.add_final(final(0, 1.0, 3.5, "Ask not what your country can do for you."))
    w.add_entry({"type": "bookmark", "at": 4.0, "note": ""})
    w.add_final(final(1, 65.0, 70.0, "Ask what you can do for your country."))
    w.close()
    folder = tmp_path / "s"
    txt = (folder / "transcript.txt").read_text()
    assert txt.splitlines() == [
        "[00:00:01] Ask not what your country can do for you.",
        "[00:00:04] ★ bookmark",
        "[00:01:05] Ask what you can do for your country.",
    ]
    srt = (folder / "transcript.srt").read_text()
    assert srt.startswith("1\n00:00:01,000 --> 00:00:03,500\nAsk not what your country can do for you.\n\n2\n")
    vtt = (folder / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:03.500\n")


def test_long_finals_split_into_two_line_cues_with_monotonic_times():
    text = " ".join(["word"] * 60)
    out = cues([final(0, 10.0, 25.0, text)])
    assert len(out) > 1
    for a, b, block in out:
        assert a < b
        assert all(len(line) <= 42 for line in block.splitlines()) and len(block.splitlines()) <= 2
    assert out[0][0] == 10.0 and out[-1][1] == pytest.approx(25.0)
    assert all(x[1] <= y[0] + 1e-9 for x, y in zip(out, out[1:]))
    # Chinese lines are kept short (16 characters).
    zh = cues([final(0, 0.0, 6.0, "我认为跑步最重要的就是给我带来了身体健康" * 2)])
    assert all(len(line) <= 16 for _, _, block in zh for line in block.splitlines())


LECTURE = ("正是因为存在绝对正义，所以我们接受现实的相对正义，但是不要因为现实的相对正义，我们就认为这个世界没有"
           "正义。因为如果当你认为这个世界没有正义，那么你就会放弃追求它。")
CODE_SWITCHED = "he must be home now for the light is on他一定在家因为灯亮着，就是有一种推理或者解释的那种感觉"


@pytest.mark.parametrize("text", [LECTURE, CODE_SWITCHED, "我们今天讲 Fourier transform 和 Laplace transform 的关系。",
                                  "版本号是3.5，温度是36.5度，我们把参数设为0.001然后再看结果会怎么样呢好不好"])
def test_chinese_cues_follow_the_sixteen_character_standard_and_break_sensibly(text):
    from live.transcript.cues import CJK_LINE, columns, split_cues

    found = split_cues(text)
    lines = [line for cue in found for line in cue]
    assert all(1 <= len(cue) <= 2 for cue in found)
    assert all(columns(line) <= 2 * CJK_LINE for line in lines)  # 16 Chinese characters; Latin counts half
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost, nothing reordered
    assert not any(line[0] in "，。、；：！？）」" for line in lines)  # no line opens with closing punctuation
    at = 0
    for line in lines[:-1]:  # a break is at a space or beside a CJK character: never inside a word or number
        at = text.index(line, at) + len(line)
        assert text[at] == " " or not (text[at - 1].isascii() or text[at].isascii()), (line, text[at:])
    if text == LECTURE:  # clauses end lines: each line of this passage ends at its punctuation
        assert [line[-1] for line in lines[:4]] == ["，", "，", "，", "。"]


def test_two_line_cues_are_balanced_and_latin_lines_stay_within_42():
    from live.transcript.cues import split_cues

    (cue,) = split_cues("And so my fellow Americans, ask not what your country can do for you")
    assert cue == ["And so my fellow Americans,", "ask not what your country can do for you"]
    assert split_cues("Ask not what your country can do for you.") == [["Ask not what your country can do for you."]]
    (cue,) = split_cues("我认为跑步最重要的就是给我带来了身体健康")  # 20 characters: two even lines, not 16 + 4
    assert cue == ["我认为跑步最重要的就", "是给我带来了身体健康"]


def test_chinese_srt_cues_through_the_session_writer(tmp_path):
    import srt

    w = SessionWriter(tmp_path / "s", record_audio=False)
    w.add_final(Caption("final", 1.0, 13.0, LECTURE, "zh", index=0))
    w.close()
    subtitles = list(srt.parse((tmp_path / "s" / "transcript.srt").read_text(encoding="utf-8")))
    assert len(subtitles) == 3
    assert all(len(s.content.splitlines()) <= 2 and all(len(line) <= 16 for line in s.content.splitlines())
               for s in subtitles)
    assert "".join(s.content.replace("\n", "") for s in subtitles) == LECTURE
    assert subtitles[0].start.total_seconds() == 1.0 and subtitles[-1].end.total_seconds() == pytest.approx(13.0)


def test_srt_and_vtt_times_parse_back():
    finals = [final(i, i * 3.0, i * 3.0 + 2.5, f"caption number {i}") for i in range(5)]
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)", to_srt(finals))
    starts = [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 for h, m, s, ms, *_ in stamps]
    assert starts == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert to_vtt(finals).count(" --> ") == 5


def test_wav_is_readable_after_every_append(tmp_path):
    path = tmp_path / "a.wav"
    wav = WavAppender(path)
    rng = np.random.default_rng(0)
    blocks = [rng.uniform(-0.5, 0.5, 1600).astype(np.float32) for _ in range(5)]
    for i, block in enumerate(blocks, 1):
        wav.append(block)
        data, rate = sf.read(path, dtype="float32")  # while still open for writing
        assert rate == 16000 and len(data) == 1600 * i
    np.testing.assert_allclose(data, np.concatenate(blocks), atol=1 / 32767)


def test_wav_and_jsonl_survive_kill_9(tmp_path):
    folder = tmp_path / "s"
    code = f"""
import numpy as np, os, sys
from live.captions import Caption
from live.transcript import SessionWriter
from pathlib import Path
w = SessionWriter(Path({str(folder)!r}))
for i in range(30):
    w.write_audio(np.full(1600, 0.1, np.float32))
    if i % 10 == 9:
        w.add_final(Caption("final", i / 10, i / 10 + 1, f"line {{i}}", emitted=i / 10 + 1.5, index=i))
        print(f"line {{i}}", flush=True)
os.kill(os.getpid(), 9)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9
    printed = proc.stdout.splitlines()
    finals, _ = read_entries(folder)
    assert [c.text for c in finals] == printed == ["line 9", "line 19", "line 29"]
    data, rate = sf.read(folder / "audio.wav")
    assert len(data) == 30 * 1600


def test_session_dir_is_dated_and_unique(tmp_path):
    a = new_session_dir(tmp_path)
    b = new_session_dir(tmp_path)
    assert a != b and a.parent == b.parent == tmp_path
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(-\d+)?", a.name)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_root_is_a_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(SessionError, match="--session-dir"):
        new_session_dir(ro / "x")


def test_session_root_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SessionError, match="--session-dir"):
        new_session_dir(blocker / "sessions")


def test_full_disk_keeps_captions_in_memory_and_retries(tmp_path):
    """/dev/full fails every write with ENOSPC, as a full disk does."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    w = SessionWriter(tmp_path / "s")
    good = w._fd
    w._fd = os.open("/dev/full", os.O_WRONLY)
    w.add_final(final(0, 0.0, 1.0, "first"))
    assert w.error and ("No space left" in w.error or "Invalid argument" in w.error)
    os.close(w._fd)
    w._fd = good  # space again: the held-back line is written with the next one
    w.add_final(final(1, 1.0, 2.0, "second"))
    assert w.error is None
    w.close()
    finals, _ = read_entries(tmp_path / "s")
    assert [c.text for c in finals] == ["first", "second"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB file system (tmpfs) that can be filled and emptied; needs root and mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder) -> None:
    with open(folder / "filler", "wb", buffering=0) as fh:
        for size in (65536, 4096, 1):  # every last byte, so a line can fail half-way
            try:
                while True:
                    fh.write(b"x" * size)
            except OSError:
                pass


def test_a_disk_that_fills_and_empties_again_keeps_every_line_exactly_once(small_disk):
    """Real ENOSPC from a full file system, mid-line included: each final and bookmark lands once, in
    order, and the audio file stays readable and on the session's clock."""
    w = SessionWriter(small_disk / "s")
    block = np.zeros(1600, np.float32)
    w.add_final(final(0, 0.0, 1.0, "before the disk filled"))
    w.write_audio(block)
    fill(small_disk)
    texts = [f"while full {i} " + "x" * 300 for i in range(5)]
    for i, text in enumerate(texts):
        w.add_final(final(i + 1, i + 1.0, i + 2.0, text))
        w.write_audio(block)
    w.add_entry({"type": "bookmark", "at": 6.5, "note": "full"})
    assert w.error and "No space left" in w.error
    (small_disk / "filler").unlink()
    w.write_audio(block)  # the next write finds room: everything held back goes out
    assert w.error is None
    w.add_final(final(9, 9.0, 10.0, "after"))
    w.close()
    lines = [json.loads(line) for line in (small_disk / "s" / "transcript.jsonl").read_text().splitlines()]
    texts_on_disk = [line.get("text", line.get("note")) for line in lines]
    assert texts_on_disk == ["before the disk filled", *texts, "full", "after"]
    audio, rate = sf.read(small_disk / "s" / "audio.wav")
    assert rate == 16000 and len(audio) == 7 * 1600  # the blocks lost to the full disk came back as silence


