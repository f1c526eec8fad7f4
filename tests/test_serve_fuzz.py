"""The WebSocket protocol under property-based fuzzing (hypothesis), against a real server: sequences
of control messages (good and bad starts, stops, JSON that is no message, text that is no JSON or no
UTF-8) and binary frames (empty, odd, silent, noisy, over the limit). After each sequence the
server must have closed with a reason — `done` then 1000, or an `error` message whose code's close
code it used — given back the stream's slot, and still serve a good client. (schemathesis does the
same for the REST part: tests/test_serve_rest.py.)"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from serve_helpers import LiveServer, pcm16, run, wait_until

from live.serve.limits import Limits
from live.wire.protocol import ERRORS, SAMPLE_RATES

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = 60  # well under 1 s each: the whole test stays under a minute on two cores
GOOD_START = {"type": "start", "format": "pcm_s16le", "sample_rate": 16000, "language": "en"}
LIMITS = Limits(idle_timeout_s=5.0, request_timeout_s=5.0)


def _json(value) -> str:
    return json.dumps(value)  # NaN and Infinity too, as Python writes them (the server's json reads them)


numbers = st.one_of(st.integers(-10, 10**9), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.none(), st.text(max_size=4))
start_fields = st.fixed_dictionaries({}, optional={
    "format": st.sampled_from(["pcm_s16le", "opus", "", "PCM_S16LE"]),
    "sample_rate": st.one_of(st.sampled_from(SAMPLE_RATES), numbers),
    "language": st.one_of(st.sampled_from(["auto", "en", "zh", "fr", ""]), numbers),
    "partials": st.one_of(st.booleans(), numbers),
    "session_id": st.one_of(st.from_regex(r"[A-Za-z0-9_-]{16,20}", fullmatch=True), st.text(max_size=70), numbers),
    "resume_from": numbers,
    "next_index": numbers,
})
starts = start_fields.map(lambda fields: _json({"type": "start", **fields}))
texts = st.one_of(
    starts,
    st.just(_json({"type": "stop"})),
    st.sampled_from(["stop", "{", "", "null", "[]", '{"type": 5}', '{"type": "pause"}', '{"type": "start"}']),
    st.text(max_size=40),
    st.dictionaries(st.text(max_size=6), numbers, max_size=3).map(_json),
)
not_utf8 = st.binary(min_size=1, max_size=24).filter(lambda b: not _utf8(b))
frames = st.one_of(
    st.binary(max_size=64),  # empty, odd, a few samples
    st.integers(0, 40_000).map(bytes),  # silence of any length, over the 32000-byte limit too
    st.binary(min_size=2000, max_size=8000),  # noise
    st.just(pcm16(np.sin(np.arange(8000) / 5).astype(np.float32) * 0.3)),  # a tone, 0.5 s
)
actions = st.lists(st.one_of(texts.map(lambda t: ("text", t.encode())), not_utf8.map(lambda b: ("text", b)),
                             frames.map(lambda b: ("bytes", b))), max_size=6)
sequences = st.one_of(actions, actions.map(lambda rest: [("text", _json(GOOD_START).encode()), *rest]))


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def server(whisper, tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("fuzz"), whisper, limits=LIMITS) as srv:
        srv.token = srv.key()
        yield srv


async def _play(url: str, token: str, sequence: list[tuple[str, bytes]]) -> tuple[list[dict], int | None, str]:
    """Send the sequence (then a stop, if the socket is still open); everything back until the close."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    messages: list[dict] = []
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=1 << 22,
                       open_timeout=10, close_timeout=5) as ws:

        async def receive() -> None:
            try:
                async for raw in ws:
                    messages.append(json.loads(raw))
            except ConnectionClosed:
                pass

        receiver = asyncio.create_task(receive())
        try:
            for kind, data in sequence:
                await ws.send(data, text=kind == "text")
            await ws.send(_json({"type": "stop"}))
        except ConnectionClosed:
            pass
        await asyncio.wait_for(receiver, 30)
        return messages, ws.close_code, ws.close_reason or ""


async def _good_client(url: str, token: str) -> tuple[list[dict], int | None, str]:
    silence = pcm16(np.zeros(8000, np.float32))
    return await _play(url, token, [("text", _json(GOOD_START).encode()), ("bytes", silence)])


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
@given(sequence=sequences)
def test_any_sequence_ends_with_a_reason_and_the_server_serves_on(server, sequence):
    messages, code, reason = run(_play(server.ws, server.token, sequence))
    assert code is not None, "the server never closed"
    if code == 1000:
        assert messages and messages[-1]["type"] == "done", (messages, reason)
    else:
        assert messages and messages[-1]["type"] == "error", f"closed {code} ({reason!r}) without an error: {messages}"
        error = messages[-1]
        assert error["code"] in ERRORS and ERRORS[error["code"]] == code and error["message"], error
    assert [m["type"] for m in messages].count("ready") <= 1
    wait_until(lambda: server.state.slots.total == 0 and not server.state.streams,
               "the stream's slot or record outlived it", timeout=10)
    good, good_code, _ = run(_good_client(server.ws, server.token))
    assert good_code == 1000 and good[0]["type"] == "ready" and good[-1]["type"] == "done", good
