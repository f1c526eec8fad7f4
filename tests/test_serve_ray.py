"""`live serve --ray local`: decoding on two Ray Serve replicas of one thread each on this machine. This
proves the wiring (the gateway keeps the streams, the replicas decode), not speed."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from audio_helpers import clip
from serve_helpers import JFK, ServeProcess, run, stream
from wer_helpers import wer

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")
pytest.importorskip("ray", reason="Ray Serve is the `ray` extra")


@pytest.mark.slow
def test_two_ray_serve_replicas_decode_the_streams(tmp_path):
    srv = ServeProcess(tmp_path, None, "--ray", "local", "--ray-replicas", "2")
    try:
        try:
            srv.start(timeout=180)
        except AssertionError as exc:
            log = srv.log.read_text() if srv.log.exists() else ""
            if "Ray" in log and ("cannot" in log or "Error" in log):
                pytest.skip(f"Ray could not start here: {log[-300:]}")
            raise exc
        token = srv.key()
        jfk, harvard = clip("jfk.flac"), clip("realpython_harvard.flac")

        async def both():
            return await asyncio.gather(stream(f"ws://127.0.0.1:{srv.port}/v1/stream", token, jfk, realtime=True,
                                               speed=2.0, frame_s=0.2),
                                        stream(f"ws://127.0.0.1:{srv.port}/v1/stream", token, harvard, realtime=True,
                                               speed=2.0, frame_s=0.2))

        a, b = run(both())
        ready = httpx.get(f"http://127.0.0.1:{srv.port}/readyz").json()
    finally:
        srv.stop()
    assert a.close_code == b.close_code == 1000
    assert wer(JFK, a.text)[0] / wer(JFK, a.text)[1] <= 0.15, a.text
    assert "odor" in b.text.lower() and "pickle" in b.text.lower(), b.text
    assert len(ready["replicas"]) == 2 and all(n > 0 for n in ready["replicas"].values()), ready
    log = srv.log.read_text()
    assert "Ray Serve: 2 replicas of whisper tiny.en" in log and token.split("_", 2)[2] not in log
