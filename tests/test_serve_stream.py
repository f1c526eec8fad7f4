"""/v1/stream against a real uvicorn on loopback with Whisper tiny.en and the `websockets` client:
auth on the upgrade, every bad frame, the limits, revocation, backpressure, resampling."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time

import httpx
import numpy as np
import pytest
from audio_helpers import clip
from serve_helpers import HEADLESS_KEYS, JFK, Engineered, LiveServer, run, stream
from websockets.exceptions import InvalidStatus
from wer_helpers import wer

from live.audio import Resampler
from live.serve.keys import KeyStore
from live.serve.limits import Limits
from live.session.governor import FINALS_ONLY

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")


@pytest.fixture(scope="module")
def server(whisper, tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("serve"), whisper, origins=("https://lecture.example.edu",)) as srv:
        yield srv


@pytest.fixture(scope="module")
def jfk():
    return clip("jfk.flac")


def _upgrade_refused(url, token, **kw) -> int:
    with pytest.raises(InvalidStatus) as err:
        run(stream(url, token, np.zeros(1600, np.float32), **kw))
    return err.value.response.status_code


# --- a stream, end to end -----------------------------------------------------------------------------


def test_a_stream_gets_ready_finals_in_the_headless_schema_done_and_a_normal_close(server, jfk, caplog):
    caplog.set_level(logging.DEBUG)
    token = server.key()
    got = run(stream(server.ws, token, jfk, realtime=True, frame_s=0.1, start={"partials": True}))
    ready = got.messages[0]
    assert ready["type"] == "ready" and ready["limits"]["max_frame_s"] == 1.0 and ready["model"]["engine"] == "whisper"
    assert got.messages[-1] == {"type": "done"} and got.close_code == 1000
    finals = got.finals
    assert set(finals[0]) == HEADLESS_KEYS
    assert [f["index"] for f in finals] == sorted({f["index"] for f in finals})
    assert all(a["end"] <= b["start"] for a, b in zip(finals, finals[1:]))
    errors, words = wer(JFK, got.text)
    assert errors / words <= 0.15, got.text
    assert got.of("partial"), "partials were asked for"
    # The server's own session folder: the transcript, who owns it, no audio, and never the key.
    folder = server.config.data_dir / "streams" / ready["session_id"]
    lines = [json.loads(x) for x in (folder / "transcript.jsonl").read_text().splitlines()]
    assert [x["text"] for x in lines] == [f["text"] for f in finals]
    assert json.loads((folder / "session.json").read_text())["key_id"] == token.split("_")[1]
    assert not (folder / "audio.wav").exists() and (folder / "transcript.srt").exists()
    secret = token.split("_", 2)[2]
    assert all(secret not in p.read_text(errors="replace") for p in folder.iterdir())
    assert secret not in caplog.text and token not in caplog.text  # websockets logs headers at DEBUG: redacted
    assert any("lv_<redacted>" in r.getMessage() for r in caplog.records)


def test_48_khz_audio_is_resampled_by_the_server(server, jfk):
    up = Resampler(16000, 48000).process(jfk)
    got = run(stream(server.ws, server.key(), up, rate=48000, frame_s=0.5))
    errors, words = wer(JFK, got.text)
    assert got.close_code == 1000 and errors / words <= 0.15, got.text
    assert got.finals[-1]["end"] == pytest.approx(11.0, abs=0.3)  # times on the 16 kHz clock of the audio


def audio_received(server) -> float:
    """Seconds of streamed audio the server has counted (its live_audio_seconds_total{kind="stream"})."""
    return server.state.metrics.registry.get_sample_value("live_audio_seconds_total", {"kind": "stream"}) or 0.0


# --- auth: on the upgrade, before any audio is read ------------------------------------------------------


def test_missing_unknown_malformed_revoked_and_expired_keys_get_401_on_the_upgrade(server):
    store = KeyStore(server.config.db)
    revoked_key, revoked = store.create("gone")
    store.revoke(revoked_key.id)
    expired_key, expired = store.create("old", expires_days=1)
    store.close()
    with sqlite3.connect(server.config.db) as db:  # its time has come, as it would have a day later
        db.execute("UPDATE keys SET expires = ? WHERE id = ?", (time.time() - 5, expired_key.id))
    good = server.key()
    wrong_secret = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    folders = set((server.config.data_dir / "streams").glob("*"))
    before = audio_received(server)
    for token in (None, "not-a-key", wrong_secret, revoked, expired):
        assert _upgrade_refused(server.ws, token) == 401
    assert _upgrade_refused(server.ws, None, subprotocols=["live.v1", f"bearer.{revoked}"]) == 401
    assert set((server.config.data_dir / "streams").glob("*")) == folders  # no session was even made
    assert audio_received(server) == before
    body = httpx.get(f"{server.url}/metrics").text
    assert 'live_rejections_total{reason="unauthorized"}' in body


def test_a_browser_gives_the_key_as_a_subprotocol_and_gets_live_v1_back(server, jfk):
    token = server.key()
    got = run(stream(server.ws, None, jfk[:32000], subprotocols=["live.v1", f"bearer.{token}"],
                     headers={"Origin": "https://lecture.example.edu"}))
    assert got.subprotocol == "live.v1" and got.close_code == 1000  # never the bearer.KEY one


def test_an_origin_not_allowed_is_refused_403(server):
    assert _upgrade_refused(server.ws, server.key(), headers={"Origin": "https://evil.example.com"}) == 403


# --- bad frames: an error, a close that says why, and the other streams go on ---------------------------------


BAD = {
    "text_instead_of_audio": (1003, [b"\0\0" * 800, "UklGRiQAAABXQVZF"]),
    "odd_frame": (1007, [b"\0" * 1601]),
    "frame_too_large": (1009, [b"\0\0" * 16001]),
    "bad_message": (4400, ['{"type": "pause"}']),
}


def test_every_bad_frame_closes_its_own_stream_and_the_others_go_on(server, jfk):
    token = server.key(max_streams=10)

    async def all_at_once():
        good = stream(server.ws, token, jfk, realtime=False, frame_s=0.2)
        bad = [stream(server.ws, token, frames=frames, stop=False) for _, frames in BAD.values()]
        return await asyncio.gather(good, *bad)

    good, *bad = run(all_at_once())
    for (code, (close, _)), got in zip(BAD.items(), bad):
        assert got.error["code"] == code and got.close_code == close, (code, got.messages)
    errors, words = wer(JFK, good.text)
    assert good.close_code == 1000 and errors / words <= 0.15
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("first, code, close", [
    ("this is not json", "bad_json", 1007),
    (b"\0\0" * 100, "expected_start", 4400),
    ('{"type": "start", "sample_rate": 11025}', "unsupported_audio", 4415),
    ('{"type": "start", "format": "opus"}', "unsupported_audio", 4415),
    ('{"type": "start", "session_id": "nosuchsessionatall"}', "unknown_session", 4404),
])
def test_a_bad_start_is_an_error_and_a_close(server, first, code, close):
    from websockets.asyncio.client import connect

    async def go():
        async with connect(server.ws, additional_headers={"Authorization": f"Bearer {server.key()}"}) as ws:
            await ws.send(first)
            message = json.loads(await ws.recv())
            await ws.wait_closed()
            return message, ws.close_code

    message, got_close = run(go())
    assert message["type"] == "error" and message["code"] == code and got_close == close


def test_someone_elses_session_cannot_be_resumed(server, jfk):
    mine = run(stream(server.ws, server.key(), jfk[:48000]))
    session_id = mine.messages[0]["session_id"]
    theirs = run(stream(server.ws, server.key(), jfk[:16000], start={"session_id": session_id, "resume_from": 1.0}))
    assert theirs.error["code"] == "unknown_session" and theirs.close_code == 4404


# --- limits ----------------------------------------------------------------------------------------------


def test_limits_server_full_per_key_and_idle(whisper, tmp_path, jfk):
    with LiveServer(tmp_path, whisper, limits=Limits(max_streams=2, streams_per_key=1, idle_timeout_s=1.0)) as srv:
        a, b, c = srv.key(), srv.key(), srv.key()

        async def crowd():
            first = asyncio.create_task(stream(srv.ws, a, jfk, realtime=True, frame_s=0.2))
            await srv.streaming(a)
            same_key = await stream(srv.ws, a, jfk[:16000])
            second = asyncio.create_task(stream(srv.ws, b, jfk, realtime=True, frame_s=0.2))
            await srv.streaming(a, b)
            full = await stream(srv.ws, c, jfk[:16000])
            return same_key, full, await first, await second

        same_key, full, first, second = run(crowd())
        assert same_key.error["code"] == "too_many_streams" and same_key.close_code == 1013
        assert full.error["code"] == "server_full" and full.close_code == 1013 and full.error["retry_after"] > 0
        assert first.close_code == second.close_code == 1000 and first.finals and second.finals
        idle = run(stream(srv.ws, c, None, stop=False))  # start, then nothing
        assert idle.error["code"] == "idle_timeout" and idle.close_code == 4408
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert 'live_rejections_total{reason="server_full"} 1.0' in metrics


def test_quota_and_session_length_end_a_stream_after_its_last_words(whisper, tmp_path, jfk):
    long = np.concatenate([jfk, jfk])  # 22 s
    with LiveServer(tmp_path, whisper, limits=Limits(max_session_h=12 / 3600)) as srv:
        capped = run(stream(srv.ws, srv.key(), long))
        assert capped.error["code"] == "session_limit" and capped.close_code == 4413
        assert capped.finals and capped.finals[-1]["end"] <= 13.0  # captioned up to the limit first
        store = KeyStore(srv.config.db)
        key, token = store.create("student", minutes_per_day=0.1)  # 6 s a day
        store.close()
        over = run(stream(srv.ws, token, long))
        assert over.error["code"] == "quota_exceeded" and over.close_code == 4429 and over.finals
        again = run(stream(srv.ws, token, jfk[:16000]))
        assert again.error["code"] == "quota_exceeded" and again.error["retry_after"] > 0
        assert KeyStore(srv.config.db).get(key.id).audio_s >= 6


def test_revoking_a_key_closes_its_open_streams(server, jfk):
    admin = server.key("admin")
    victim, watched = server.key(), server.key()
    victim_id, watched_id = victim.split("_")[1], watched.split("_")[1]

    async def revoke_while_streaming():
        a = asyncio.create_task(stream(server.ws, victim, np.concatenate([jfk] * 3), realtime=True))
        b = asyncio.create_task(stream(server.ws, watched, np.concatenate([jfk] * 3), realtime=True))
        await server.streaming(victim, watched)
        async with httpx.AsyncClient() as client:
            answer = await client.delete(f"{server.url}/v1/keys/{victim_id}", headers={"Authorization": f"Bearer {admin}"})
        began = time.monotonic()
        KeyStore(server.config.db).revoke(watched_id)  # as `live keys revoke` in another process would
        return answer.json(), await a, await b, time.monotonic() - began

    answer, a, b, took = run(revoke_while_streaming())
    assert answer == {"id": victim_id, "revoked": True, "closed_streams": 1}
    assert a.error["code"] == "unauthorized" and a.close_code == 4401
    assert b.error["code"] == "unauthorized" and b.close_code == 4401 and took < 8


def test_a_client_faster_than_the_decoder_is_slowed_down_never_dropped(whisper, tmp_path):
    audio = np.concatenate([clip("realpython_harvard.flac")] * 3)  # 55 s, sent as fast as the socket takes it
    slow = Engineered(whisper, delay_s=0.25)
    # Small socket buffers on both ends, so that what the kernel holds (megabytes on loopback) cannot
    # absorb the whole file: then the client feels the server not reading.
    with LiveServer(tmp_path, slow, limits=Limits(buffer_s=0.5), rcvbuf=32768) as srv:
        got = run(stream(srv.ws, srv.key(), audio, frame_s=0.25, start={"partials": False}, sndbuf=32768))
        received = audio_received(srv)
    assert got.close_code == 1000
    assert received == pytest.approx(len(audio) / 16000, abs=0.01)  # every sample arrived
    assert got.send_s > 3.0, "the server should have stopped reading while it decoded"
    assert max(s["buffered_s"] for s in got.of("status")) <= 0.5 + 0.25 + 1e-6
    assert got.finals[-1]["end"] > 53.0 and len(got.finals) >= 15  # ... and every sentence was captioned
    assert not [n for n in got.of("notice") if "fell behind" in n["message"]]  # no speech given up on


HARVARD = ("The stale smell of old beer lingers. It takes heat to bring out the odor. A cold dip restores health "
           "and zest. A salt pickle tastes fine with ham. Tacos al pastor are my favorite. A zestful food is the hot "
           "cross bun.")  # ../shared/audio/manifest.tsv


def test_streams_sharing_a_slow_decoder_shed_together_and_every_final_arrives(whisper, tmp_path):
    # Two real-time streams on a decoder made slow (every decode 0.5 s longer): the server sheds
    # for both at once (partials first, then shorter segments), says so on both status lines, takes
    # it back when the streams end, and every sentence of both is captioned.
    audio = clip("realpython_harvard.flac")  # 18 s, six sentences
    slow = Engineered(whisper, delay_s=0.5)
    with LiveServer(tmp_path, slow) as srv:
        async def two():
            keys = [srv.key(name=f"student {i}") for i in range(2)]
            return await asyncio.gather(*(stream(srv.ws, k, audio, realtime=True, start={"partials": True})
                                          for k in keys))

        streams = run(two())
        pace = srv.state.pace
    for got in streams:
        assert got.close_code == 1000
        shed = [s["shed"] for s in got.of("status") if s["shed"]]
        assert "finals only" in shed, shed
        errors, words = wer(HARVARD, got.text)
        assert got.finals[-1]["end"] > 17.0 and errors <= 0.15 * words, got.text
    assert pace.governor.deepest >= FINALS_ONLY  # the server's own pace took them there, for both
    assert pace.burst_s() == 0.0  # both left: nothing shared any more
