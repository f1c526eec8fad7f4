"""The connections under the app (live.serve.transport) on a real uvicorn: headers that never come
are cut off, a WebSocket message the protocol layer refuses is said in an `error` message (and one
log line), and a kept-alive connection answers as fast as a new one on a plain install's uvicorn."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
import pytest
from audio_helpers import clip
from serve_helpers import LiveServer, ServeProcess, run, stream

from live.serve.limits import Limits

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")


@pytest.fixture(scope="module")
def server(whisper, tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("transport"), whisper, limits=Limits(request_timeout_s=1.0)) as srv:
        yield srv


def _until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    began = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    while True:
        more = sock.recv(65536)
        if not more:
            return data, time.monotonic() - began
        data += more


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "], ids=["nothing", "half"])
def test_headers_that_do_not_come_in_time_get_408_and_a_close(server, sent):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(sent)
        answer, took = _until_closed(sock, timeout=10)
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"request_timeout"' in answer
    assert 0.8 < took < 5


def test_the_header_timeout_spares_kept_alive_requests_and_streams(server):
    with httpx.Client(base_url=server.url) as client:  # one connection, requests 1.5 s apart
        for _ in range(2):
            assert client.get("/healthz").status_code == 200
            time.sleep(1.5)
        assert client.get("/healthz").status_code == 200
    got = run(stream(server.ws, server.key(), clip("jfk.flac")[:48000], realtime=True))  # 3 s, paced
    assert got.of("done") and got.close_code == 1000


async def _send_raw(url: str, token: str, *frames) -> tuple[list[dict], int | None]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    messages = []
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=1 << 22) as ws:
        try:
            for data, text in frames:
                await ws.send(data, text=text)
            async for raw in ws:
                messages.append(json.loads(raw))
        except ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), 10)
        return messages, ws.close_code


START = (json.dumps({"type": "start", "sample_rate": 16000}).encode(), True)


@pytest.mark.parametrize("frames", [[(b"\xff\xfe{}", True)], [START, (b'{"type": "st\xc3op"}'[:-4] + b"\xc3", True)]],
                         ids=["first message", "after start"])
def test_text_that_is_not_utf8_is_an_error_message_and_one_log_line(server, frames, caplog):
    with caplog.at_level(logging.INFO):
        messages, code = run(_send_raw(server.ws, server.key(), *frames))
    assert code == 1007
    assert messages[-1]["type"] == "error" and messages[-1]["code"] == "bad_json", messages
    said = [r for r in caplog.records if "UTF-8" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None and "Traceback" not in caplog.text


def test_a_message_over_the_size_limit_gets_an_error_message_before_1009(server):
    messages, code = run(_send_raw(server.ws, server.key(), START, (b"\0" * 10_000_000, False)))
    assert code == 1009
    assert messages[-1]["type"] == "error" and messages[-1]["code"] == "frame_too_large"
    assert "32000 bytes" in messages[-1]["message"]


# --- a plain install's uvicorn: h11 and asyncio (no httptools, no uvloop) --------------------------------------


@pytest.mark.slow
def test_a_kept_alive_connection_answers_as_fast_as_a_new_one_without_httptools_or_uvloop(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "sitecustomize.py").write_text('import sys\nsys.modules["httptools"] = None\nsys.modules["uvloop"] = None\n')
    from serve_helpers import REPO

    env = {"PYTHONPATH": f"{plain}:{REPO}"}
    probe = subprocess.run([sys.executable, "-c", "import uvicorn.protocols.http.auto as a; "
                            "print(a.AutoHTTPProtocol.__name__)"], capture_output=True, text=True,
                           env={**os.environ, **env})
    assert probe.stdout.strip() == "H11Protocol", probe.stderr
    server = ServeProcess(tmp_path, None, env=env).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            client.get("/healthz")
            kept = []
            for _ in range(9):
                began = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                kept.append(time.perf_counter() - began)
    finally:
        server.stop()
    # Nagle's algorithm against the client's delayed ACK costs at least 40 ms a request, every time.
    assert statistics.median(kept) < 0.03, kept


def test_other_bodies_are_capped_before_the_key_is_checked(server):
    # FastAPI reads a JSON body before the route's key check: the cap keeps that read small.
    big = b'{"name": "' + b"x" * 2_000_000 + b'"}'
    answer = httpx.post(f"{server.url}/v1/keys", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"
    chunked = httpx.post(f"{server.url}/v1/keys", content=iter([big[:1_000_000], big[1_000_000:]]),
                         headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
