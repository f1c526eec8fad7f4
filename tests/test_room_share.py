"""``live --share`` from the front ends: headless (a real ``live --headless --json --share`` process) and
the TUI (Pilot: v shows the QR code, V rotates the code), read by real HTTP viewers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from audio_helpers import DATA
from live.config import Settings
from room_helpers import Reader
from tui_helpers import wait_for

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def live(*args: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "live", *args, "--session-dir", str(tmp_path / "sessions")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_headless_share_prints_the_link_on_stderr_and_every_final_reaches_the_viewer(tmp_path):
    pytest.importorskip("faster_whisper")
    proc = live("--headless", "--json", "--input", str(DATA / "jfk.flac"), "--engine", "whisper", "--language", "en",
                "--share", "--share-port", "0", tmp_path=tmp_path)
    first = proc.stderr.readline().strip()
    assert first.startswith("share: http://127.0.0.1:") and "/r/" in first, first
    url = first.split(" ", 1)[1]
    base, code = url.split("/r/")
    assert proc.stderr.readline().startswith(f"room code: {code[:4]}-")
    viewer = Reader(base, code)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    printed = [json.loads(line) for line in out.splitlines()]  # stdout stays JSON, nothing else
    assert viewer.ended.wait(10) and viewer.of("end")
    assert [f["t"] for f in viewer.of("f")] == [p["text"].strip() for p in printed if p["type"] == "final" and p["text"]]
    assert "country" in " ".join(viewer.texts()).lower()


def test_sharing_beyond_this_machine_without_tls_is_refused_in_one_line(tmp_path):
    proc = live("--headless", "--input", str(DATA / "jfk.flac"), "--share", "--share-host", "0.0.0.0",
                tmp_path=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and err.strip().count("\n") == 0
    assert "refusing to share the captions on 0.0.0.0 without TLS" in err and "--insecure" in err
    assert not (tmp_path / "sessions").exists()


def test_a_port_in_use_is_one_line_and_no_session(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = live("--headless", "--input", str(DATA / "jfk.flac"), "--share", "--share-port",
                    str(busy.getsockname()[1]), tmp_path=tmp_path)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "cannot share on 127.0.0.1:" in err and "--share-port" in err
    assert err.strip().count("\n") == 0 and not (tmp_path / "sessions").exists()


async def test_the_tui_shows_the_qr_code_with_v_and_V_gives_a_new_code(tmp_path, whisper_engine):
    from live.tui.app import create_app
    from live.tui.share import ShareScreen

    settings = Settings(input=DATA / "jfk.flac", engine="whisper", session_dir=tmp_path / "sessions", share=True,
                        share_port=0, share_title="Rhetoric 101")
    app = create_app(settings, load_engine=lambda _status: (whisper_engine, "whisper tiny.en (test)"))
    async with app.run_test(size=(110, 50)) as pilot:
        await wait_for(pilot, lambda: app.sharing.ready, 30)
        room = app.sharing.room
        viewer = Reader(room.base_url, room.code)
        await pilot.press("v")
        assert isinstance(app.screen, ShareScreen)
        shown = str(app.screen.query_one("#share").render())
        assert room.url in shown and room.pretty_code in shown and "▀" in shown
        old = room.code
        await pilot.press("V")
        assert room.code != old and room.url in str(app.screen.query_one("#share").render())
        await wait_for(pilot, lambda: viewer.ended.is_set(), 10)
        assert viewer.of("closed") == [{"k": "closed", "why": "rotated"}]
        assert httpx.get(f"{room.base_url}/r/{old}").status_code == 404
        await pilot.press("escape")
        fresh = Reader(room.base_url, room.code)
        await wait_for(pilot, lambda: app.finished, 60)
        await wait_for(pilot, lambda: fresh.ended.is_set(), 15)  # the room ends with the session
        assert fresh.of("hello")[0]["title"] == "Rhetoric 101"
        assert "country" in " ".join(fresh.texts()).lower() and fresh.of("end")
        await pilot.press("q")
    deadline = time.monotonic() + 5
    while room._process is not None and time.monotonic() < deadline:
        time.sleep(0.05)
