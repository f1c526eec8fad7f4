"""`live summarize SESSION_DIR` as a user runs it (a subprocess) with the notes options of `live run`:
the request goes to the server and model named on the command line, not the config file's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from slides_helpers import make_pptx

KEY = "sk-test-SECRET-summarize-0123456789"


def live(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, **(env or {})})


def saved_session(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = [
        {"type": "final", "start": 1.0, "end": 4.0, "text": "the Viterbi algorithm finds the best path", "index": 0},
        {"type": "bookmark", "at": 4.5, "note": "exam!"},
        {"type": "final", "start": 5.0, "end": 9.0, "text": "over the trellis by dynamic programming", "index": 1},
    ]
    (folder / "transcript.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def test_summarize_takes_the_llm_options_of_live_run(tmp_path, llm_server):
    session = saved_session(tmp_path / "2026-03-02_0900")
    config = tmp_path / "config.toml"  # the provider the session was recorded with: overridden by the flags
    config.write_text('[llm]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "recorded-with"\n')
    deck = make_pptx(tmp_path / "lecture.pptx")
    llm_server.enqueue_text("# Hidden Markov Models\n\n- **Viterbi**\n")
    done = live("summarize", str(session), "--llm-base-url", llm_server.url, "--llm-model", "other-model",
                "--notes-language", "German", "--slides", str(deck),
                env={"LIVE_CONFIG": str(config), "LIVE_LLM_API_KEY": KEY})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(session / "summary.md")
    [request] = llm_server.requests
    assert request.body["model"] == "other-model"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    system = request.messages[0]["content"]
    assert "Write in German." in system and "Baum-Welch" in system  # the notes language and the slides
    assert '[00:04] ★ BOOKMARK (the student\'s note: "exam!")' in request.last_user
    assert (session / "summary.md").read_text().startswith("# Hidden Markov Models")


def test_summarize_without_flags_uses_the_config_file(tmp_path, llm_server):
    session = saved_session(tmp_path / "s")
    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nbase_url = "{llm_server.url}"\nmodel = "from-config"\n')
    done = live("summarize", str(session), env={"LIVE_CONFIG": str(config), "LIVE_LLM_API_KEY": KEY})
    assert done.returncode == 0, done.stderr
    assert [r.body["model"] for r in llm_server.requests] == ["from-config"]


def test_summarize_with_a_bad_deck_or_url_is_one_line(tmp_path):
    session = saved_session(tmp_path / "s")
    deck = tmp_path / "deck.key"
    deck.write_text("keynote")
    for args in (["--slides", str(deck)], ["--llm-base-url", "not a url"]):
        done = live("summarize", str(session), *args, env={"LIVE_LLM_API_KEY": KEY})
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1, done.stderr


def test_summarize_keeps_the_notes_written_at_quit_in_notes(tmp_path, llm_server):
    session = saved_session(tmp_path / "s")
    (session / "summary.md").write_text("# Written at quit\n")
    history = session / "notes"
    history.mkdir()
    older = history / "summary-090000.md"
    older.write_text("# An earlier update\n")
    os.utime(session / "summary.md", (older.stat().st_mtime, 1_767_258_000))  # 09:00:00: the same name
    llm_server.enqueue_text("# Rebuilt in one pass\n")
    done = live("summarize", str(session), "--llm-base-url", llm_server.url, "--llm-model", "m",
                env={"LIVE_LLM_API_KEY": KEY, "TZ": "UTC"})
    assert done.returncode == 0, done.stderr
    assert (session / "summary.md").read_text() == "# Rebuilt in one pass\n"
    kept = sorted(p.read_text() for p in history.iterdir())
    assert kept == ["# An earlier update\n", "# Written at quit\n"]
