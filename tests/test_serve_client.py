"""`live run --server` and `live transcribe --server` against a real server: the same headless output,
TUI and local session folder as a local run; a server killed mid-stream and restarted, resumed with
every final once; the `live serve` command's own errors; no key in any log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_helpers import DATA, clip
from serve_helpers import HEADLESS_KEYS, JFK, REPO, LiveServer, ServeProcess, free_port
from wer_helpers import wer

from live.captions import Caption
from live.config import Settings
from live.errors import ConfigError
from live.session.remote import server_api_key, stream_url
from live.session import Finished, Notice, SessionOptions, build_session

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")


@pytest.fixture(scope="module")
def server(whisper, tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("client"), whisper) as srv:
        yield srv


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def finals(self) -> list[Caption]:
        return [e for e in self.events if isinstance(e, Caption) and e.kind == "final" and e.text]

    def notices(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, Notice)]

    @property
    def finished(self) -> Finished | None:
        done = [e for e in self.events if isinstance(e, Finished)]
        return done[-1] if done else None


def _live(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


# --- the client's settings -------------------------------------------------------------------------------


def test_server_addresses_and_keys(tmp_path, monkeypatch):
    assert stream_url("ws://lab:14612") == "ws://lab:14612/v1/stream"
    assert stream_url("https://lab.example.edu") == "wss://lab.example.edu/v1/stream"
    with pytest.raises(ConfigError, match="not a server address"):
        stream_url("lab:14612")
    with pytest.raises(ConfigError, match="LIVE_SERVER_API_KEY"):
        server_api_key(None, env={})
    assert server_api_key(None, env={"LIVE_SERVER_API_KEY": " lv_x \n"}) == "lv_x"
    key_file = tmp_path / "key"
    key_file.write_text("lv_from_file\n")
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        server_api_key(key_file)
    key_file.chmod(0o600)
    assert server_api_key(key_file, env={"LIVE_SERVER_API_KEY": "lv_env"}) == "lv_from_file"


# --- live run --server -----------------------------------------------------------------------------------


def test_the_remote_worker_keeps_the_local_workers_interface():
    """Session, the TUI and headless mode call these; a change to the local worker must reach this one."""
    import inspect

    from live.session.remote import RemoteWorker
    from live.session import Worker

    public = {n for n in dir(Worker) if not n.startswith("_")} - {"captioner", "segmenter", "source", "writer"}
    for name in sorted(public):
        assert hasattr(RemoteWorker, name), name
        ours, theirs = getattr(RemoteWorker, name), getattr(Worker, name)
        if callable(theirs):
            assert inspect.signature(ours).parameters.keys() == inspect.signature(theirs).parameters.keys(), name
    assert set(inspect.signature(Worker).parameters) <= set(inspect.signature(RemoteWorker).parameters)


def test_headless_run_through_the_server_keeps_the_local_session_folder(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVE_SERVER_API_KEY", server.key())
    settings = Settings(input=DATA / "jfk.flac", fast=True, server=server.url.replace("http", "ws"),
                        session_dir=tmp_path / "local", headless=True, json=True, language="en")
    recorder = Recorder()
    session = build_session(settings, recorder, SessionOptions(notes="off"))
    session.run()
    session.close()
    assert recorder.finished.error is None
    folder = session.folder
    lines = [x for x in map(json.loads, (folder / "transcript.jsonl").read_text().splitlines()) if x["type"] == "final"]
    assert [x["text"] for x in lines] == [c.text for c in recorder.finals()]
    errors, words = wer(JFK, " ".join(x["text"] for x in lines))
    assert errors / words <= 0.15
    recorded, rate = sf.read(folder / "audio.wav", dtype="float32")
    source = clip("jfk.flac")
    assert rate == 16000 and len(recorded) == len(source)
    assert np.max(np.abs(recorded - source)) < 2 / 32768  # the audio is recorded here, sample for sample
    assert json.loads((folder / "session.json").read_text())["server"].startswith("ws://127.0.0.1")
    assert (folder / "transcript.srt").exists() and (folder / "transcript.vtt").exists()


def test_live_run_server_headless_json_prints_the_same_lines_as_a_local_run(server, tmp_path):
    result = _live("run", "--server", server.ws, "--input", str(DATA / "jfk.flac"), "--fast", "--headless", "--json",
                   "--language", "en", "--session-dir", str(tmp_path), env={"LIVE_SERVER_API_KEY": server.key()})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    finals = [line for line in lines if line["type"] != "speaker"]
    assert finals and all(set(f) == HEADLESS_KEYS
                          for f in finals)
    # who said each: worked out on the client, from the audio it streams, as in a local run
    assert {line["index"] for line in lines if line["type"] == "speaker"} == {f["index"] for f in finals}
    assert wer(JFK, " ".join(f["text"] for f in finals))[0] <= 3
    assert "session saved in" in result.stderr


def test_client_errors_are_one_line(server, tmp_path):
    no_key = _live("run", "--server", server.ws, "--input", str(DATA / "jfk.flac"), "--headless",
                   "--session-dir", str(tmp_path))
    assert no_key.returncode == 2 and no_key.stderr.strip().count("\n") == 0
    assert "LIVE_SERVER_API_KEY" in no_key.stderr
    bad_key = _live("run", "--server", server.ws, "--input", str(DATA / "jfk.flac"), "--fast", "--headless",
                    "--session-dir", str(tmp_path), env={"LIVE_SERVER_API_KEY": "lv_0123456789ab_" + "x" * 43})
    assert bad_key.returncode == 1 and "refused the connection (401)" in bad_key.stderr
    nobody = _live("run", "--server", f"ws://127.0.0.1:{free_port()}", "--input", str(DATA / "jfk.flac"), "--fast",
                   "--headless", "--session-dir", str(tmp_path), env={"LIVE_SERVER_API_KEY": "lv_x"})
    assert nobody.returncode == 1 and "cannot reach the server" in nobody.stderr


async def test_the_tui_runs_unchanged_over_the_server(server, tmp_path, monkeypatch):
    from live.tui.app import create_app
    from live.tui.caption_view import CaptionView

    monkeypatch.setenv("LIVE_SERVER_API_KEY", server.key())
    app = create_app(Settings(input=DATA / "realpython_harvard.flac", fast=True, server=server.ws,
                              session_dir=tmp_path / "s", language="en"))
    async with app.run_test(size=(100, 24)) as pilot:
        deadline = time.monotonic() + 60
        while "odor" not in "\n".join(app.query_one(CaptionView).text_lines()).lower():
            assert time.monotonic() < deadline, "no captions from the server"
            await pilot.pause(0.1)
        await pilot.press("b")
        await pilot.press("q")
        deadline = time.monotonic() + 30
        while app.is_running and time.monotonic() < deadline:
            await pilot.pause(0.1)
    assert app.exit_code == 0 and app.session_folder
    lines = (Path(app.session_folder) / "transcript.jsonl").read_text()
    assert "\"type\": \"bookmark\"" in lines and "odor" in lines.lower()


# --- the server killed mid-stream and restarted ------------------------------------------------------------


@pytest.mark.slow
def test_a_server_killed_mid_stream_and_restarted_is_resumed_with_every_final_once(tmp_path):
    audio = np.concatenate([clip("realpython_harvard.flac"), clip("jfk.flac")])  # 29 s of real speech
    wav = tmp_path / "lecture.wav"
    sf.write(wav, audio, 16000)
    srv = ServeProcess(tmp_path / "server").start()
    token = srv.key()
    os.environ["LIVE_SERVER_API_KEY"] = token
    try:
        settings = Settings(input=wav, server=f"ws://127.0.0.1:{srv.port}", session_dir=tmp_path / "local",
                            headless=True, json=True, language="en")
        recorder = Recorder()
        session = build_session(settings, recorder, SessionOptions(notes="off"))
        session.start()  # real time: the audio keeps coming while the server is down
        deadline = time.monotonic() + 40
        while len(recorder.finals()) < 2:
            assert time.monotonic() < deadline, "no finals before the kill"
            time.sleep(0.05)
        srv.kill()  # SIGKILL: no goodbye, half a session on the server's disk
        killed_at = session.clock()
        time.sleep(1.0)
        srv = ServeProcess(tmp_path / "server", srv.port).start()
        assert session.join(timeout=90)
        session.close()
    finally:
        del os.environ["LIVE_SERVER_API_KEY"]
        srv.stop()
    assert recorder.finished.error is None, recorder.finished.error
    notices = " | ".join(recorder.notices())
    assert "connection to the server lost" in notices and "reconnected to the server" in notices
    finals = recorder.finals()
    assert any(f.start > killed_at for f in finals) and any(f.end < killed_at for f in finals)
    # Every final once: in order, never overlapping, indices never repeated; and all the speech is there.
    assert all(a.end <= b.start for a, b in zip(finals, finals[1:])), [(f.start, f.end) for f in finals]
    assert len({f.index for f in finals}) == len(finals)
    gold = ("The stale smell of old beer lingers. It takes heat to bring out the odor. A cold dip restores health "
            "and zest. A salt pickle tastes fine with ham. Tacos al pastor are my favorite. A zestful food is the hot "
            "cross bun. " + JFK)
    errors, words = wer(gold, " ".join(f.text for f in finals))
    assert errors / words <= 0.15, " / ".join(f.text for f in finals)
    local = [json.loads(x) for x in (session.folder / "transcript.jsonl").read_text().splitlines()]
    assert [x["text"] for x in local if x["type"] == "final"] == [f.text for f in finals]
    # The server's folder for this session continued too, with the same finals once each.
    (remote,) = [p for p in (tmp_path / "server" / "data" / "streams").iterdir()]
    on_server = [json.loads(x) for x in (remote / "transcript.jsonl").read_text().splitlines()]
    assert [x["text"] for x in on_server] == [f.text for f in finals]
    secret = token.split("_", 2)[2]
    assert secret not in srv.log.read_text() and secret not in (session.folder / "live.log").read_text()
    assert all(secret not in p.read_text(errors="replace") for p in remote.iterdir())


# --- TLS ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_wss_with_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                           "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                           "-keyout", str(key), "-out", str(cert)], capture_output=True, timeout=60)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate here: {made.stderr[-200:]!r}")
    srv = ServeProcess(tmp_path / "tls", None, "--tls-cert", str(cert), "--tls-key", str(key)).start()
    try:
        result = _live("run", "--server", f"wss://localhost:{srv.port}", "--input", str(DATA / "jfk.flac"), "--fast",
                       "--headless", "--json", "--session-dir", str(tmp_path / "s"),
                       env={"LIVE_SERVER_API_KEY": srv.key(), "SSL_CERT_FILE": str(cert)})
        plain = _live("run", "--server", f"ws://localhost:{srv.port}", "--input", str(DATA / "jfk.flac"), "--fast",
                      "--headless", "--session-dir", str(tmp_path / "s"), env={"LIVE_SERVER_API_KEY": srv.key()})
    finally:
        srv.stop()
    assert result.returncode == 0, result.stderr
    said = [o["text"] for o in map(json.loads, result.stdout.splitlines()) if o["type"] == "final"]
    assert wer(JFK, " ".join(said))[0] <= 3
    assert plain.returncode == 1 and "cannot reach the server" in plain.stderr  # no clear text to a TLS port


# --- live transcribe --server ------------------------------------------------------------------------------


def test_live_transcribe_server_writes_the_same_files(server, tmp_path):
    result = _live("transcribe", "--server", server.url, str(DATA / "jfk.flac"), str(DATA / "realpython_harvard.flac"),
                   "-o", str(tmp_path), "--format", "txt,srt,vtt,jsonl,md", env={"LIVE_SERVER_API_KEY": server.key()})
    assert result.returncode == 0, result.stderr
    for stem in ("jfk", "realpython_harvard"):
        folder = tmp_path / stem
        for name in ("transcript.txt", "transcript.srt", "transcript.vtt", "transcript.jsonl", "transcript.md"):
            assert (folder / name).exists(), name
    assert wer(JFK, (tmp_path / "jfk" / "transcript.txt").read_text().split("] ", 1)[1])[0] <= 3
    wrong = _live("transcribe", "--server", server.url, str(DATA / "jfk.flac"), "-o", str(tmp_path / "x"),
                  env={"LIVE_SERVER_API_KEY": "lv_0123456789ab_" + "y" * 43})
    assert wrong.returncode == 2 and "refused the API key" in wrong.stderr


# --- the live serve command ---------------------------------------------------------------------------------


def test_live_serve_refuses_what_it_should_in_one_line(tmp_path):
    open_host = _live("serve", "--host", "0.0.0.0", "--db", str(tmp_path / "k.db"), timeout=60)
    assert open_host.returncode == 2 and open_host.stderr.startswith("live: error: refusing to serve on 0.0.0.0 "
                                                                     "without TLS")
    half_tls = _live("serve", "--tls-cert", str(tmp_path / "c.pem"), timeout=60)
    assert half_tls.returncode == 2 and "both --tls-cert" in half_tls.stderr
    no_model = _live("serve", "--engine", "sensevoice", "--model", str(tmp_path / "nope"), "--port", str(free_port()),
                     "--db", str(tmp_path / "k.db"), "--data-dir", str(tmp_path / "d"), timeout=60)
    assert no_model.returncode == 2 and no_model.stderr.strip().splitlines()[-1].startswith("live: error: model folder")
    busy = ServeProcess(tmp_path / "busy").start()
    try:
        taken = _live("serve", "--port", str(busy.port), "--db", str(tmp_path / "k.db"), timeout=60)
        assert taken.returncode == 2 and taken.stderr.strip().count("\n") == 0 and "--port" in taken.stderr
    finally:
        busy.stop()


def test_a_run_that_never_reaches_the_server_leaves_no_session_behind(server, tmp_path):
    sessions = tmp_path / "sessions"
    refused = _live("run", "--server", server.ws, "--input", str(DATA / "jfk.flac"), "--fast", "--headless",
                    "--session-dir", str(sessions), env={"LIVE_SERVER_API_KEY": "lv_0123456789ab_" + "x" * 43})
    nobody = _live("run", "--server", f"ws://127.0.0.1:{free_port()}", "--input", str(DATA / "jfk.flac"), "--fast",
                   "--headless", "--session-dir", str(sessions), env={"LIVE_SERVER_API_KEY": "lv_x"})
    for done in (refused, nobody):
        assert done.returncode == 1 and "session saved in" not in done.stderr, done.stderr
    listed = _live("sessions", "--session-dir", str(sessions))
    folders = lambda: [p for p in sessions.iterdir() if p.is_dir()] if sessions.exists() else []  # noqa: E731
    assert "(no captions)" not in listed.stdout and folders() == [], listed.stdout
    good = _live("run", "--server", server.ws, "--input", str(DATA / "jfk.flac"), "--fast", "--headless",
                 "--session-dir", str(sessions), env={"LIVE_SERVER_API_KEY": server.key()})
    assert good.returncode == 0 and "session saved in" in good.stderr
    assert len(folders()) == 1
