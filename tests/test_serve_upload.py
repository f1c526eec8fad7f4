"""The upload as the server reads it (live.serve.upload), on a real uvicorn with raw sockets where a
client library would hide the timing: a request without a good key is refused from its headers, the
stream slot is taken before the body, the size limit holds without a Content-Length, the file is on
disk once (0600) and only while it is transcribed."""

from __future__ import annotations

import io
import os
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from audio_helpers import clip
from serve_helpers import Engineered, LiveServer, wait_until

from live.serve.limits import Limits

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")

UPLOAD = "/v1/audio/transcriptions"
BOUNDARY = "liveboundary"
FILE_HEAD = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode()


@pytest.fixture(scope="module")
def engine(whisper):
    return Engineered(whisper, delay_s=1.0)  # long enough to look at the disk while a file is decoded


@pytest.fixture
def system_tmp(tmp_path, monkeypatch):
    """The temporary folder Python's tempfile (and Starlette's spooled uploads) would use, watched."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def server(tmp_path, engine, system_tmp):
    with LiveServer(tmp_path, engine, limits=Limits(upload_mb=5.0, request_timeout_s=3.0)) as srv:
        yield srv


def _head(port: int, *, key: str | None, length: int | None, extra: str = "") -> bytes:
    lines = [f"POST {UPLOAD} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             f"Content-Type: multipart/form-data; boundary={BOUNDARY}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if key:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def _answer(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response read off a raw socket within ``timeout`` seconds."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"the server closed without an answer (got {data!r})"
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return int(status_line.split()[1]), headers, body


def _files(*folders) -> list:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def _open_files_under(*folders) -> dict[str, int]:
    """Files this process (the server's) holds open under ``folders``, unlinked and unnamed ones
    (O_TMPFILE, a spooled upload) included: their target and size."""
    out = {}
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
            size = fd.stat().st_size
        except OSError:
            continue
        if any(target.startswith(str(f)) for f in folders) and stat.S_ISREG(fd.stat().st_mode):
            out[target] = size
    return out


@pytest.mark.parametrize("key", [None, "lv_0123456789ab_" + "x" * 43], ids=["no key", "bad key"])
def test_a_request_without_a_good_key_is_refused_from_its_headers(server, system_tmp, key):
    # The headers of a 190 MiB upload and its first 100 kB: the answer comes at once, not after the body.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_head(server.port, key=key, length=200_000_000) + FILE_HEAD + b"\0" * 100_000)
        began = time.monotonic()
        status, headers, body = _answer(sock, timeout=3.0)
    assert status == 401 and time.monotonic() - began < 3.0
    assert headers["www-authenticate"] == "Bearer" and headers["connection"] == "close"
    assert httpx.Response(401, content=body).json()["error"]["code"] == "unauthorized"
    # curl's way: Expect: 100-continue, and the body only once the server asks for it. It never does.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_head(server.port, key=key, length=200_000_000, extra="Expect: 100-continue\r\n"))
        status, _, _ = _answer(sock, timeout=3.0)
    assert status == 401
    # A chunked body without a length: the same, from the headers.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_head(server.port, key=key, length=None) + b"%x\r\n" % len(FILE_HEAD) + FILE_HEAD + b"\r\n")
        status, _, _ = _answer(sock, timeout=3.0)
    assert status == 401
    assert _files(server.config.data_dir, system_tmp) == [] or all(
        p.suffix != ".upload" for p in _files(server.config.data_dir, system_tmp))


def test_the_slot_is_taken_before_the_body_and_given_back_when_the_client_leaves(server, system_tmp):
    token = server.key(max_streams=1)
    slots = server.state.slots
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_head(server.port, key=token, length=3_000_000) + FILE_HEAD + b"\0" * 300_000)
        wait_until(lambda: slots.total == 1, "the upload's slot was not taken while its body was arriving")
        second = httpx.post(f"{server.url}{UPLOAD}", headers={"Authorization": f"Bearer {token}"},
                            files={"file": ("jfk.flac", b"x" * 1000)}, timeout=10)
        assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_streams"
        assert second.headers["retry-after"]
        wait_until(lambda: _files(server.config.data_dir / "uploads"), "the body was not streamed to disk")
        partial = _files(server.config.data_dir / "uploads")
        assert len(partial) == 1 and stat.S_IMODE(partial[0].stat().st_mode) == 0o600
    wait_until(lambda: slots.total == 0, "the slot of an upload whose client left was not given back")
    wait_until(lambda: not _files(server.config.data_dir / "uploads"), "a half upload was left on disk")


def _wav_48k_stereo() -> bytes:
    """JFK as a 48 kHz stereo WAV: a real file over 2 MB (more than Starlette ever kept in memory)."""
    audio = clip("jfk.flac")
    wide = np.interp(np.arange(len(audio) * 3) / 3, np.arange(len(audio)), audio).astype(np.float32)
    out = io.BytesIO()
    sf.write(out, np.stack([wide, wide], axis=1), 48000, format="WAV", subtype="PCM_16")
    return out.getvalue()


def test_an_upload_is_on_disk_once_while_it_is_decoded_and_then_not_at_all(server, engine, system_tmp):
    data = _wav_48k_stereo()
    assert len(data) > 2_000_000
    token = server.key()
    calls = engine.calls
    got: dict = {}
    thread = threading.Thread(target=lambda: got.update(answer=httpx.post(
        f"{server.url}{UPLOAD}", headers={"Authorization": f"Bearer {token}"},
        files={"file": ("jfk.wav", data)}, data={"response_format": "text"}, timeout=60)))
    thread.start()
    wait_until(lambda: engine.calls > calls, "the upload was never decoded", timeout=30)
    stored = _files(server.config.data_dir, system_tmp)
    uploads = [p for p in stored if p.suffix == ".upload"]
    assert [p.stat().st_size for p in uploads] == [len(data)]
    held = {**{str(p): p.stat().st_size for p in stored}, **_open_files_under(server.config.data_dir, system_tmp)}
    assert sum(held.values()) < 1.2 * len(data), held  # no second copy anywhere, named or not
    assert stat.S_IMODE(uploads[0].stat().st_mode) == 0o600
    thread.join(60)
    assert got["answer"].status_code == 200 and "country" in got["answer"].text
    assert not [p for p in _files(server.config.data_dir, system_tmp) if p.suffix == ".upload"]


def test_a_chunked_upload_is_cut_at_the_limit_and_leaves_nothing(server):
    token = server.key()
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_head(server.port, key=token, length=None) + b"%x\r\n" % len(FILE_HEAD) + FILE_HEAD + b"\r\n")
        chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
        try:
            while sent < 50_000_000:
                sock.sendall(chunk)
                sent += 65536
        except OSError:  # the server has answered and closed
            pass
        status, headers, body = _answer(sock, timeout=5.0)
    assert status == 413 and httpx.Response(413, content=body).json()["error"]["code"] == "too_large"
    assert sent < 40_000_000  # cut off near the limit (plus what both kernels buffered), not read to its end
    wait_until(lambda: not _files(server.config.data_dir / "uploads"), "a refused upload was left on disk")


def test_a_stalled_body_is_cut_off(server):
    token = server.key()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_head(server.port, key=token, length=1_000_000) + FILE_HEAD + b"\0" * 1000)
        status, headers, body = _answer(sock, timeout=10.0)  # request_timeout_s is 3 s here
    assert status == 408 and httpx.Response(408, content=body).json()["error"]["code"] == "request_timeout"
    wait_until(lambda: server.state.slots.total == 0, "a stalled upload kept its slot")
