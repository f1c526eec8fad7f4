"""Rooms on the classroom server: ``live run --server URL --share`` publishes its session over
``/v1/room`` and phones read it at ``/r/CODE`` on the server's address. A real ``live serve`` (in this
process, or as a child process that is killed and restarted), real clients, real viewers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from audio_helpers import DATA
from live.errors import LiveError
from live.llm import LLMSettings
from live.events import Finished, Marker
from live.room import RoomOptions
from live.room.client import ServerRoom
from room_helpers import Reader, eventually, final
from serve_helpers import LiveServer, ServeProcess

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_live_run_server_share_publishes_the_session_as_a_room_of_the_server(tmp_path, whisper):
    with LiveServer(tmp_path, whisper) as server:
        key, admin = server.key("stream"), server.key("admin")
        env = {**os.environ, "PYTHONPATH": str(REPO), "LIVE_SERVER_API_KEY": key}
        proc = subprocess.Popen(
            [sys.executable, "-m", "live", "--headless", "--json", "--input", str(DATA / "jfk.flac"), "--server",
             server.ws.replace("/v1/stream", ""), "--share", "--share-title", "Civics", "--session-dir",
             str(tmp_path / "client")], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stderr.readline().strip()
        assert line.startswith(f"share: {server.url}/r/"), line
        base, code = line.split(" ", 1)[1].split("/r/")
        viewer = Reader(base, code)
        assert viewer.wait(lambda ev: ev)
        listed = httpx.get(f"{server.url}/v1/rooms", headers={"Authorization": f"Bearer {admin}"}).json()["data"]
        assert [(r["title"], r["path"], r["sharer_connected"]) for r in listed] == [("Civics", f"/r/{code}", True)]
        assert httpx.get(f"{server.url}/v1/rooms", headers={"Authorization": f"Bearer {key}"}).status_code == 403
        assert httpx.get(f"{server.url}/v1/rooms").status_code == 401
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        printed = [json.loads(x) for x in out.splitlines()]
        assert viewer.ended.wait(10) and viewer.of("end")
        assert viewer.texts() == [p["text"].strip() for p in printed if p["type"] == "final" and p["text"]]
        assert "country" in " ".join(viewer.texts()).lower()
        assert httpx.get(f"{server.url}/v1/rooms", headers={"Authorization": f"Bearer {admin}"}).json()["data"] == []
        assert httpx.get(f"{base}/r/{code}").status_code == 404  # the room is gone with its lecture


def test_a_viewer_choosing_a_language_has_it_translated_once_by_the_sharer(tmp_path, whisper, llm_server,
                                                                            monkeypatch):
    from translate_helpers import KEY, asked, translating

    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    llm_server.responder = translating
    with LiveServer(tmp_path, whisper) as server:
        monkeypatch.setenv("LIVE_SERVER_API_KEY", server.key())
        room = ServerRoom(server.url, None, RoomOptions(languages=("zh",)),
                          llm=LLMSettings(base_url=llm_server.url + "/v1", model="m"))
        room.start()
        for i in range(3):
            room.publish(final(i, f"sentence {i}"))
        zh = [Reader(server.url, room.code, lang="zh") for _ in range(2)]
        for viewer in zh:
            assert viewer.wait(lambda ev: len([d for _, d in ev if d["k"] == "t"]) == 3, timeout=20)
        assert zh[0].of("t") == zh[1].of("t") and zh[0].of("t")[0]["t"] == "译0：sentence 0"
        assert sorted(n for r in llm_server.requests for n, _ in asked(r.body)) == [0, 1, 2]  # once, for both
        room.publish(Finished(None))
        assert room.finish(timeout=5)


def test_rotating_and_closing_a_server_room_and_a_refused_key(tmp_path, whisper, monkeypatch):
    with LiveServer(tmp_path, whisper) as server:
        monkeypatch.setenv("LIVE_SERVER_API_KEY", "lv_000000000000_" + "x" * 43)
        with pytest.raises(LiveError, match="refused the key"):
            ServerRoom(server.url, None, RoomOptions()).start()
        monkeypatch.setenv("LIVE_SERVER_API_KEY", server.key())
        room = ServerRoom(server.url, None, RoomOptions())
        room.start()
        old = Reader(server.url, room.code)
        assert old.wait(lambda ev: ev)
        first = room.code
        room.rotate()
        assert room.code != first and old.ended.wait(5) and old.of("closed") == [{"k": "closed", "why": "rotated"}]
        assert httpx.get(f"{server.url}/r/{first}").status_code == 404
        new = Reader(server.url, room.code)
        room.publish(final(0))
        room.publish(Marker("bookmark", 1.0, "exam"))
        assert new.wait(lambda ev: new.of("m"))
        room.close()
        assert new.ended.wait(5) and new.of("closed") == [{"k": "closed", "why": "closed"}]


def test_a_server_restarted_mid_lecture_brings_the_room_back_with_the_same_link(tmp_path, monkeypatch):
    serve = ServeProcess(tmp_path / "serve").start()
    try:
        monkeypatch.setenv("LIVE_SERVER_API_KEY", serve.key())
        base = f"http://127.0.0.1:{serve.port}"
        room = ServerRoom(base, None, RoomOptions(title="Physics"))
        room.start()
        code = room.code
        for i in range(3):
            room.publish(final(i))
        before = Reader(base, code, source="127.0.0.2")
        assert before.wait(lambda ev: len(before.of("f")) == 3)
        assert httpx.get(f"{base}/healthz").status_code == 200  # the access log has lines (not viewers')
        logged = serve.log.read_text()
        assert "GET /healthz" in logged and code not in logged and "127.0.0.2" not in logged
        serve.kill()
        for i in range(3, 6):
            room.publish(final(i))  # said while the server was down
        serve.start()
        assert eventually(lambda: httpx.get(f"{base}/r/{code}").status_code == 200, 20)  # the same link
        after = Reader(base, code, after=before.last_id)
        assert after.wait(lambda ev: len(after.of("f")) >= 6, timeout=30)  # the sharer sent the lecture again
        assert room.code == code and [f["i"] for f in after.of("f")] == list(range(6))
        room.publish(Finished(None))
        assert room.finish(timeout=5)
    finally:
        serve.stop()
