"""The server's storage: a full --data-dir (a real full file system where one can be mounted, and
always a real file-size limit in a `live serve` child) and who may read what it keeps."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from audio_helpers import DATA, clip
from serve_helpers import JFK, REPO, LiveServer, ServeProcess, free_port, pcm16, run, stream

from live.serve.keys import KeyStore

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")

UPLOAD = "/v1/audio/transcriptions"


@contextmanager
def small_disk(path: Path, size_kb: int = 4096):
    """A tmpfs of ``size_kb`` mounted at ``path`` (needs root); skipped where it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a small file system cannot be mounted here ({mounted.stderr.strip()}); "
                    "the file-size-limit test covers a full disk")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; it is the room to give back (unlink it)."""
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # A partly filled last block can still take a few bytes: take them too.
    with open(disk / "filler-tail", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _assert_storage_full_answers(url: str, ws: str, token: str) -> None:
    got = run(stream(ws, token, clip("jfk.flac")[:16000]))
    assert got.error is not None and got.error["code"] == "storage_full", got.messages
    assert "server storage full" in got.error["message"] and got.close_code == 4507
    answer = httpx.post(f"{url}{UPLOAD}", headers=_auth(token), files={"file": ("jfk.flac", (DATA / "jfk.flac").read_bytes())},
                        timeout=30)
    assert answer.status_code == 507, answer.text
    assert answer.json()["error"]["code"] == "storage_full" and answer.headers["retry-after"]
    # What only reads (the key, the model) still works on a full disk.
    assert httpx.get(f"{url}/v1/models", headers=_auth(token)).status_code == 200


def test_a_full_disk_says_server_storage_full_to_streams_and_uploads(whisper, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        with LiveServer(disk, whisper) as server:
            token = server.key()
            fill(disk)
            _assert_storage_full_answers(server.url, server.ws, token)
            assert not list((disk / "data" / "uploads").glob("*.upload"))


async def _stream_filling_the_disk(server, token: str, disk: Path, audio, *, room_again: bool) -> list[dict]:
    """Stream ``audio``; fill the disk once the first final is on it, and (``room_again``) give the
    room back when the server says it cannot write."""
    from websockets.asyncio.client import connect

    folder = server.config.data_dir / "streams"
    messages: list[dict] = []
    filler: list[Path] = []
    async with connect(server.ws, additional_headers=_auth(token), max_size=1 << 22) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "language": "en"}))

        async def receive():
            async for raw in ws:
                message = json.loads(raw)
                messages.append(message)
                if message["type"] == "final" and not filler:
                    assert any(p.stat().st_size for p in folder.glob("*/transcript.jsonl"))
                    filler.append(fill(disk))
                elif message["type"] == "notice" and "session folder" in message["message"] and room_again \
                        and filler and filler[0].exists():
                    filler[0].unlink()
                    (disk / "filler-tail").unlink()

        receiver = asyncio.create_task(receive())
        for i in range(0, len(audio), 8000):
            await ws.send(pcm16(audio[i:i + 8000]))
            await asyncio.sleep(0.02)
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(receiver, 180)
    return messages


@pytest.mark.slow
@pytest.mark.parametrize("room_again", [True, False], ids=["room given back", "full to the end"])
def test_a_disk_that_fills_mid_stream_is_said_right(whisper, tmp_path, room_again):
    # Five readings of six sentences: enough finals to need a new page of the transcript on a full disk.
    audio = np.concatenate([clip("realpython_harvard.flac")] * 5)
    with small_disk(tmp_path / "disk") as disk, LiveServer(disk, whisper) as server:
        messages = run(_stream_filling_the_disk(server, server.key(), disk, audio, room_again=room_again))
        saved = [json.loads(line) for p in (server.config.data_dir / "streams").glob("*/transcript.jsonl")
                 for line in p.read_text().splitlines()]
    # (the notices of captions running behind, which a stream sent this fast may get, aside)
    notices = [m["message"] for m in messages if m["type"] == "notice" and "session folder" in m["message"]]
    finals = [m for m in messages if m["type"] == "final" and m["text"]]
    assert messages[-1]["type"] == "done" and len(finals) >= 20, messages
    assert notices, "the client was never told the server could not save"
    first = notices[0]
    assert first.startswith("cannot write to the server's session folder: No space left on device"), first
    assert "kept in memory" in first and "silence" not in first and str(disk) not in first
    kept = [e for e in saved if e.get("type") == "final" and e["text"]]
    if room_again:
        assert [e["index"] for e in kept] == [m["index"] for m in finals]  # the server's copy lost none
    else:
        assert 0 < len(kept) < len(finals)
        lost = len(finals) - len(kept)
        assert notices[-1].endswith(f"the last {lost} lines of its transcript could not be saved"), notices


# --- a real file-size limit (RLIMIT_FSIZE) on a `live serve` child: writes fail with EFBIG --------------


def _no_file_writes() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # every write to a regular file fails


def test_a_server_that_cannot_write_a_byte_says_server_storage_full(tmp_path):
    port = free_port()
    db, data = tmp_path / "server.db", tmp_path / "data"
    store = KeyStore(db)
    token = store.create("test")[1]
    store.close()
    cmd = [sys.executable, "-m", "live", "serve", "--port", str(port), "--db", str(db), "--data-dir", str(data),
           "--engine", "whisper", "--language", "en", "--threads", "1"]
    # Its log goes to a pipe (no regular file: the limit does not stop the server telling us).
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_no_file_writes,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    log: list[bytes] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stdout.readline, b"")), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, b"".join(log).decode()[-2000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        _assert_storage_full_answers(url, f"ws://127.0.0.1:{port}/v1/stream", token)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(20)
        reader.join(5)
    text = b"".join(log).decode()
    assert "Traceback" not in text, text[-3000:]
    assert not list(data.rglob("*.upload"))


# --- who may read what the server keeps ---------------------------------------------------------------------


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_the_data_dir_and_everything_in_it_is_its_owners_alone(tmp_path):
    # A data dir an older server left open to all (0755 folders): `live serve` closes it.
    data = tmp_path / "data"
    (data / "streams").mkdir(parents=True)
    data.chmod(0o755)
    (data / "streams").chmod(0o755)
    server = ServeProcess(tmp_path).start()
    try:
        token = server.key()
        got = run(stream(f"ws://127.0.0.1:{server.port}/v1/stream", token, clip("jfk.flac")))
        assert JFK.split()[-1] in got.text
        answer = httpx.post(f"http://127.0.0.1:{server.port}{UPLOAD}", headers=_auth(token), timeout=60,
                            files={"file": ("jfk.flac", (DATA / "jfk.flac").read_bytes())})
        assert answer.status_code == 200
    finally:
        server.stop()
    modes = _modes(data)
    assert len([p for p in modes if p.endswith("transcript.jsonl")]) == 1, modes
    assert {m for p, m in modes.items() if (data / p).is_dir()} == {0o700}, modes
    assert {m for p, m in modes.items() if (data / p).is_file()} == {0o600}, modes
    assert stat.S_IMODE(server.db.stat().st_mode) == 0o600


def test_live_run_server_says_the_servers_storage_is_full_not_that_it_is_unreachable(whisper, tmp_path):
    with small_disk(tmp_path / "disk") as disk, LiveServer(disk, whisper) as server:
        token = server.key()
        fill(disk)
        result = subprocess.run(
            [sys.executable, "-m", "live", "run", "--server", server.ws, "--input", str(DATA / "jfk.flac"), "--fast",
             "--headless", "--session-dir", str(tmp_path / "local")], capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO), "LIVE_SERVER_API_KEY": token})
    assert result.returncode == 1
    assert "refused the stream: server storage full" in result.stderr and "cannot reach" not in result.stderr, \
        result.stderr
