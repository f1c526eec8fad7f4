"""Searching every saved lecture (live.library): real session folders, real SQLite, `live search` and
`live sessions` as subprocesses."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import wave
from datetime import datetime
from pathlib import Path

import pytest

from live.library import INDEX_NAME, Query, SearchError, SessionIndex, list_sessions, search
from live.library.commands import MARK_OFF, MARK_ON, print_hits, print_sessions

# Mandarin references of the shared speech clips (../shared/audio/manifest.tsv), and two English ones.
ZH = [
    "广州市房地产中介协会分析",
    "欢迎大家来体验达摩院推出的语音识别模型",
    "我认为跑步最重要的就是给我带来了身体健康",
    "正是因为存在绝对正义所以我们接受现实的相对正义",
    "he must be home now for the light is on他一定在家因为灯亮着",
]
EN = [
    "And so my fellow Americans, ask not what your country can do for you",
    "ask what you can do for your country.",
    "The stale smell of old beer lingers.",
    "It takes heat to bring out the odor.",
    "A cold dip restores health and zest.",
]


def final(text: str, start: float, index: int) -> dict:
    return {"type": "final", "start": start, "end": start + 2.5, "text": text, "language": None, "emotion": None,
            "events": [], "emitted": start + 3.0, "index": index}


def make_session(root: Path, name: str, texts: list[str], *, started: str | None = None, extra: list[str] = (),
                 notes: str = "", audio_s: float | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    lines = [json.dumps(final(t, 10.0 * i, i), ensure_ascii=False) for i, t in enumerate(texts)]
    (folder / "transcript.jsonl").write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    if started:
        (folder / "session.json").write_text(json.dumps({"started": started, "input": "microphone"}))
    if notes:
        (folder / "summary.md").write_text(notes, encoding="utf-8")
    if audio_s is not None:
        with wave.open(str(folder / "audio.wav"), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(b"\0\0" * int(16000 * audio_s))
    return folder


def append(folder: Path, *lines: str) -> None:
    with open(folder / "transcript.jsonl", "a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "sessions"
    make_session(root, "2026-11-30_10-00-00", EN, started="2026-11-30T10:00:00", notes="# Notes\n", audio_s=80.0,
                 extra=['{"type": "bookmark", "at": 4.0, "note": "exam!"}',
                        '{"type": "marker", "kind": "pause", "at": 5.0}', '{"type": "slide", "n": 3}'])
    make_session(root, "2026-12-01_14-41-54", ZH, started="2026-12-01T14:41:54")
    return root


def texts(hits) -> list[str]:
    return [h.text for h in hits]


# --- English: words in any case, all of them, phrases ------------------------------------------------


def test_a_word_is_found_in_any_case(root):
    hits = search(root, "COUNTRY")
    assert sorted(texts(hits)) == sorted([EN[1], EN[0]])
    assert {h.folder for h in hits} == {root / "2026-11-30_10-00-00"}
    assert all(h.score > 0 for h in hits)
    assert texts(search(root, "odor")) == [EN[3]]


def test_words_match_whole_words_and_star_is_a_prefix(root):
    assert search(root, "countr") == []
    assert len(search(root, "countr*")) == 2


def test_several_words_must_all_appear(root):
    assert texts(search(root, "ask fellow")) == [EN[0]]
    assert len(search(root, "ask country")) == 2
    assert search(root, "ask beer") == []


def test_a_quoted_phrase_matches_its_words_in_order(root):
    assert texts(search(root, '"ask not"')) == [EN[0]]
    assert search(root, '"not ask"') == []
    assert texts(search(root, '"your country" fellow')) == [EN[0]]


def test_fts_syntax_typed_by_a_user_is_plain_words(root):
    for query in ("country AND", "-country", "NEAR(country", "text:country", 'country"', "country OR zest"):
        search(root, query)  # no syntax error
    with pytest.raises(SearchError, match="nothing to search for"):
        search(root, "!! -- ?")


# --- Chinese: any run of characters, one, two or more -----------------------------------------------


@pytest.mark.parametrize("query, expected", [
    ("跑", [ZH[2]]),                       # one character
    ("正义", [ZH[3]]),                     # two
    ("工厂", []),                          # two characters that are not in any caption
    ("广分", []),                          # both present, but not next to each other
    ("达摩院", [ZH[1]]),                   # three
    ("语音识别模型", [ZH[1]]),             # six, inside a sentence
    ("地产 协会", [ZH[0]]),                # two terms, both required
    ("他一定", [ZH[4]]),                   # right after an English word with no space
    ("light on", [ZH[4]]),                 # and the English words of the same mixed caption
])
def test_chinese_is_found_as_any_run_of_characters(root, query, expected):
    assert texts(search(root, query)) == expected


def test_a_short_chinese_query_finds_it_in_the_middle_of_a_long_run(tmp_path):
    make_session(tmp_path, "2026-12-03_08-00-00", ["广州市的工厂很大"])
    assert texts(search(tmp_path, "工厂")) == ["广州市的工厂很大"]
    assert texts(search(tmp_path, "厂")) == ["广州市的工厂很大"]


# --- ranking ----------------------------------------------------------------------------------------


def test_best_hits_first_and_newer_sessions_win_ties(tmp_path):
    make_session(tmp_path, "2026-01-05_09-00-00", ["entropy always grows", "the lecture is about entropy and entropy"
                                                   " again, entropy", "a long caption that also mentions entropy once "
                                                   "among many other words about heat engines and cycles"],
                 started="2026-01-05T09:00:00")
    make_session(tmp_path, "2026-02-01_09-00-00", ["entropy always grows"], started="2026-02-01T09:00:00")
    hits = search(tmp_path, "entropy")
    assert hits[0].text.count("entropy") == 3  # the most mentions
    assert hits[-1].text.startswith("a long caption")  # a long caption that says it once: last
    same = [h for h in hits if h.text == "entropy always grows"]
    assert [h.folder.name for h in same] == ["2026-02-01_09-00-00", "2026-01-05_09-00-00"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(search(tmp_path, "entropy", limit=2)) == 2


# --- keeping the index up to date -------------------------------------------------------------------


def test_a_session_added_after_the_index_was_built_is_found_incrementally(root):
    assert search(root, "thermodynamics") == []
    assert (root / INDEX_NAME).is_file()
    make_session(root, "2026-12-02_09-00-00", ["the first law of thermodynamics"])
    with SessionIndex(root) as index:
        done = index.refresh()
        assert (done.added, done.updated, done.removed) == (1, 0, 0)  # the other two are not read again
        assert index.refresh().added == 0
    assert [h.folder.name for h in search(root, "thermodynamics")] == ["2026-12-02_09-00-00"]


def test_a_transcript_that_grew_is_indexed_again(root):
    folder = root / "2026-11-30_10-00-00"
    assert search(root, "pickle") == []
    append(folder, json.dumps(final("A salt pickle tastes fine with ham.", 60.0, 5)))
    hits = search(root, "pickle")
    assert [(h.folder, h.start, h.index) for h in hits] == [(folder, 60.0, 5)]
    assert len(search(root, "country")) == 2  # its older finals are not doubled


def test_a_deleted_session_disappears(root):
    assert search(root, "跑步")
    for path in (root / "2026-12-01_14-41-54").iterdir():
        path.unlink()
    (root / "2026-12-01_14-41-54").rmdir()
    assert search(root, "跑步") == []
    assert [s.folder.name for s in list_sessions(root)] == ["2026-11-30_10-00-00"]


def test_a_missing_index_is_built_again(root):
    assert len(search(root, "country")) == 2
    (root / INDEX_NAME).unlink()
    assert len(search(root, "country")) == 2
    assert (root / INDEX_NAME).is_file()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_a_corrupt_index_is_built_again_not_an_error(root, damage):
    import sqlite3

    assert len(search(root, "country")) == 2
    path = root / INDEX_NAME
    if damage == "garbage":
        path.write_bytes(b"this is not a database\n" * 200)
    elif damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:  # a database, but not ours
        path.unlink()
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE notes (x)")
        db.close()
    assert len(search(root, "country")) == 2
    assert texts(search(root, "达摩院")) == [ZH[1]]


def test_a_torn_last_line_and_other_line_types_are_skipped(root):
    folder = root / "2026-12-01_14-41-54"
    append(folder, '{"type": "final", "start": 90.0, "end": 92.0, "text": "半句')  # a crash mid-write
    assert texts(search(root, "跑步")) == [ZH[2]]
    assert search(root, "半句") == []
    assert search(root, "exam") == []  # a bookmark's note is not a caption
    # The line is finished later (a live session): the next search has it.
    append(folder, json.dumps(final("完整的一句", 95.0, 9), ensure_ascii=False))
    assert texts(search(root, "完整")) == ["完整的一句"]


def test_a_missing_root_is_a_one_line_error(tmp_path):
    for call in (lambda: search(tmp_path / "nope", "x"), lambda: list_sessions(tmp_path / "nope")):
        with pytest.raises(SearchError) as err:
            call()
        assert str(tmp_path / "nope") in str(err.value) and "--session-dir" in str(err.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a folder this user cannot write")
def test_a_read_only_root_is_searched_in_memory(root):
    (root / INDEX_NAME).unlink(missing_ok=True)
    root.chmod(0o555)
    try:
        assert len(search(root, "country")) == 2
        assert not (root / INDEX_NAME).exists()
    finally:
        root.chmod(0o755)


def test_an_index_that_cannot_be_written_is_kept_in_memory(root):
    with SessionIndex(root, path=root / "no-such-folder" / INDEX_NAME) as index:
        assert len(index.search(Query.parse("country"))) == 2
        assert index.in_memory


def test_two_searches_at_once_wait_for_each_other_and_say_so_when_it_takes_too_long(root):
    with SessionIndex(root) as first, SessionIndex(root, busy_timeout_s=0.1) as second:
        assert first.refresh().added == 2
        assert second.refresh().added == 0  # the first did the work
        make_session(root, "2026-12-02_09-00-00", ["the first law of thermodynamics"])
        writer = sqlite3.connect(root / INDEX_NAME, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another search is mid-update
        with pytest.raises(SearchError, match="busy"):
            second.refresh()
        writer.execute("ROLLBACK")
        writer.close()
        assert texts(second.search(Query.parse("thermodynamics"))) == ["the first law of thermodynamics"]


# --- listing ---------------------------------------------------------------------------------------


def test_sessions_are_listed_newest_first_with_length_notes_and_first_words(root):
    make_session(root, "talk", ["a recording transcribed later"], started="2025-05-05T12:00:00")
    make_session(root, "2026-12-02_09-00-00", [])  # just started: no finals, no session.json yet
    (root / "not-a-session").mkdir()
    infos = list_sessions(root)
    assert [i.folder.name for i in infos] == ["2026-12-02_09-00-00", "2026-12-01_14-41-54", "2026-11-30_10-00-00",
                                              "talk"]
    new, zh, en, talk = infos
    assert new.started == datetime(2026, 12, 2, 9, 0) and new.finals == 0 and new.length_s == 0
    assert zh.length_s == 42.5 and not zh.has_notes and zh.first_words.startswith(ZH[0])
    assert en.length_s == 80.0 and en.has_notes and en.finals == 5  # audio.wav is longer than the last final
    assert talk.started == datetime(2025, 5, 5, 12, 0)
    out = io.StringIO()
    print_sessions(infos, out)
    lines = out.getvalue().splitlines()
    assert lines[2].startswith("2026-11-30 10:00    01:20  notes  And so my fellow Americans")
    assert lines[1].startswith("2026-12-01 14:41    00:42  -      广州市")
    assert lines[3].startswith("2025-05-05 12:00    00:02  -      [talk] a recording")
    assert "(no captions)" in lines[0]
    assert all(len(line) <= 100 for line in lines)


# --- output ----------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_matched_words_are_marked_on_a_terminal_only(root, monkeypatch):
    query = Query.parse("country ask")
    hits = search(root, query)
    tty = FakeTerminal()
    print_hits(hits, query, tty)
    assert f"{MARK_ON}ask{MARK_OFF} not what your {MARK_ON}country{MARK_OFF}" in tty.getvalue()
    plain = io.StringIO()
    print_hits(hits, query, plain)
    assert "\x1b" not in plain.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = FakeTerminal()
    print_hits(hits, query, tty)
    assert "\x1b" not in tty.getvalue()


def test_chinese_and_phrases_are_marked_where_they_match():
    assert Query.parse("工厂").spans("广州市的工厂很大") == [(4, 6)]
    assert Query.parse('"ask not" COUNTRY').spans("Ask  not what your country") == [(0, 8), (19, 26)]
    assert Query.parse("countr*").spans("countries") == [(0, 9)]
    assert Query.parse("on").spans("the light is on他一定") == [(13, 15)]


def live(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_live_search_prints_one_hit_a_line_without_escapes_in_a_pipe(root):
    done = live("search", "country", "--session-dir", str(root))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    folder = root / "2026-11-30_10-00-00"
    assert sorted(done.stdout.splitlines()) == sorted([f"{folder}  00:00:00  {EN[0]}", f"{folder}  00:00:10  {EN[1]}"])
    done = live("search", "达摩院", "体验", "--session-dir", str(root), "--limit", "1")
    assert done.stdout == f"{root / '2026-12-01_14-41-54'}  00:00:10  {ZH[1]}\n"
    done = live("search", "ask not", "--session-dir", str(root))  # one quoted argument: the phrase
    assert done.stdout.splitlines() == [f"{folder}  00:00:00  {EN[0]}"]


def test_live_search_with_no_hits_says_so_and_exits_1(root):
    done = live("search", "quantum", "--session-dir", str(root))
    assert (done.returncode, done.stdout) == (1, "")
    assert "no captions match 'quantum'" in done.stderr and "2 session(s)" in done.stderr
    phrase = live("search", '"heat engine"', "--session-dir", str(root))  # a phrase in quotes, as typed
    assert phrase.returncode == 1 and "no captions match \"heat engine\" in the 2" in phrase.stderr, phrase.stderr


def test_live_search_without_a_sessions_folder_is_a_one_line_error(tmp_path):
    done = live("search", "country", "--session-dir", str(tmp_path / "nowhere"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("live: error: no sessions folder at ") and str(tmp_path / "nowhere") in lines[0]
    assert "--session-dir" in lines[0]


def test_live_sessions_lists_the_default_root(root, tmp_path):
    # No --session-dir: the root comes from the settings (here LIVE_SESSION_DIR), as for `live` itself.
    done = live("sessions", env={"LIVE_SESSION_DIR": str(root)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and "\x1b" not in done.stdout
    assert lines[0].startswith("2026-12-01 14:41    00:42  -      广州市房地产中介协会分析")
    empty = tmp_path / "empty"
    empty.mkdir()
    done = live("sessions", "--session-dir", str(empty))
    assert done.returncode == 1 and "no sessions under" in done.stderr
