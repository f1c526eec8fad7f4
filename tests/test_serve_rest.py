"""The HTTP part on a real uvicorn: the `openai` SDK's transcriptions (srt/vtt read back by subtitle
parsers), models, the probes, /metrics through prometheus-client's parser, the admin key endpoints,
upload limits, and schemathesis against the OpenAPI schema."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest
import srt
import webvtt
from audio_helpers import DATA, clip
from prometheus_client.parser import text_string_to_metric_families
from serve_helpers import JFK, LiveServer, run, stream
from wer_helpers import wer

from live.serve.keys import KeyStore
from live.serve.limits import Limits

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")


@pytest.fixture(scope="module")
def server(whisper, tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("rest"), whisper, limits=Limits(upload_mb=1.0)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key(), max_retries=0)


def _open(name: str = "jfk.flac"):
    return open(DATA / name, "rb")


# --- transcriptions through the openai SDK ------------------------------------------------------------------


def test_json_and_text_through_the_openai_sdk(client):
    with _open() as fh:
        answer = client.audio.transcriptions.create(file=fh, model="whisper-1")  # no such model: the server's
    errors, words = wer(JFK, answer.text)
    assert errors / words <= 0.15, answer.text
    with _open() as fh:
        text = client.audio.transcriptions.create(file=fh, model="x", response_format="text", language="en")
    assert isinstance(text, str) and wer(JFK, text)[0] / words <= 0.15


def test_srt_and_vtt_read_back_by_subtitle_parsers(client):
    with _open("realpython_harvard.flac") as fh:
        body = client.audio.transcriptions.create(file=fh, model="x", response_format="srt")
    cues = list(srt.parse(body))
    assert len(cues) >= 3 and all(c.start < c.end for c in cues)
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))
    assert "beer" in " ".join(c.content for c in cues).lower()
    with _open("realpython_harvard.flac") as fh:
        body = client.audio.transcriptions.create(file=fh, model="x", response_format="vtt")
    captions = webvtt.from_string(body)
    assert len(captions) == len(cues)
    assert [c.text for c in captions] == [c.content for c in cues]
    assert captions[-1].end_in_seconds <= 18.5


def test_verbose_json_has_segments_language_and_duration(client):
    with _open() as fh:
        answer = client.audio.transcriptions.create(file=fh, model="x", response_format="verbose_json")
    assert answer.language == "en" and answer.duration == pytest.approx(11.0, abs=0.1)
    # A file is decoded in batches of up to ~28 s of speech (as `live transcribe` does): JFK is one.
    assert answer.segments and answer.segments[0].start < answer.segments[-1].end <= 11.0
    assert " ".join(s.text for s in answer.segments) == answer.text


def test_a_file_that_is_not_audio_is_400_and_a_bad_language_422(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.transcriptions.create(file=("notes.wav", b"this is not audio"), model="x")
    assert "notes.wav" in err.value.body["message"] and "/uploads/" not in err.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError):  # FastAPI's validation answer lists the choices
        with _open() as fh:
            client.audio.transcriptions.create(file=fh, model="x", language="fr")


def _error_shape(answer: httpx.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


@pytest.mark.parametrize("field, value", [("response_format", "xml"), ("language", "fr"), ("temperature", "hot")])
def test_a_bad_field_is_422_in_the_error_shape_the_openai_sdk_reads(client, field, value):
    with pytest.raises(openai.UnprocessableEntityError) as err, _open() as fh:
        client.audio.transcriptions.create(file=fh, model="x", **{field: value})
    assert err.value.body["code"] == "invalid_value" and err.value.body["param"] == field
    assert field in err.value.message and "detail" not in err.value.response.text


def test_bodies_that_are_not_the_form_are_422_in_the_error_shape(server):
    auth = {"Authorization": f"Bearer {server.key()}"}
    url = f"{server.url}/v1/audio/transcriptions"
    _error_shape(httpx.post(url, headers=auth, data={"model": "x"}, files={"other": ("a.txt", b"x")}), 422,
                 "missing_file")
    _error_shape(httpx.post(url, headers=auth, json={"file": "jfk.flac", "model": "x"}), 422, "invalid_body")
    _error_shape(httpx.post(url, headers={**auth, "Content-Type": "audio/flac"},
                            content=(DATA / "jfk.flac").read_bytes()), 422, "invalid_body")
    truncated = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.flac"\r\n\r\n'
                 + (DATA / "jfk.flac").read_bytes()[:5000])
    _error_shape(httpx.post(url, headers={**auth, "Content-Type": "multipart/form-data; boundary=xyz"},
                            content=truncated), 422, "invalid_body")
    admin = {"Authorization": f"Bearer {server.key('admin')}"}
    assert _error_shape(httpx.delete(f"{server.url}/v1/keys/abc", headers=admin), 422,
                        "invalid_value")["param"] == "key_id"
    _error_shape(httpx.post(f"{server.url}/v1/keys", headers=admin, json={"scope": "root"}), 422, "invalid_value")
    _error_shape(httpx.post(f"{server.url}/v1/keys", headers={**admin, "Content-Type": "application/json"},
                            content=b"{not json"), 422, "invalid_value")


def test_bad_keys_are_401_and_the_wrong_scope_403(server):
    with pytest.raises(openai.AuthenticationError):
        with _open() as fh:
            openai.OpenAI(base_url=f"{server.url}/v1", api_key="lv_0123456789ab_" + "x" * 43,
                          max_retries=0).audio.transcriptions.create(file=fh, model="x")
    bare = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("a.flac", b"x")})
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    assert bare.json()["error"]["code"] == "unauthorized"
    stream_key = server.key()
    listed = httpx.get(f"{server.url}/v1/keys", headers={"Authorization": f"Bearer {stream_key}"})
    assert listed.status_code == 403 and listed.json()["error"]["type"] == "permission_error"


def test_an_upload_over_the_limit_is_413_before_it_is_read(server):
    big = b"\0" * 1_200_000
    auth = {"Authorization": f"Bearer {server.key()}"}
    answer = httpx.post(f"{server.url}/v1/audio/transcriptions", headers=auth, files={"file": ("big.wav", big)})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"

    def chunks():  # no Content-Length: refused once the body passes the limit
        yield (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
               b"Content-Type: application/octet-stream\r\n\r\n")
        for _ in range(40):
            yield b"\0" * 65536
        yield b"\r\n--xyz--\r\n"

    chunked = httpx.post(f"{server.url}/v1/audio/transcriptions", content=chunks(),
                         headers={**auth, "Content-Type": "multipart/form-data; boundary=xyz"})
    assert chunked.status_code == 413


def test_quota_applies_to_files_with_retry_after(server):
    store = KeyStore(server.config.db)
    key, token = store.create("capped", minutes_per_day=0.1)
    store.record_use(key.id, audio_s=6.0)
    store.close()
    with pytest.raises(openai.RateLimitError) as err, _open() as fh:
        openai.OpenAI(base_url=f"{server.url}/v1", api_key=token,
                      max_retries=0).audio.transcriptions.create(file=fh, model="x")
    assert int(err.value.response.headers["retry-after"]) > 0


# --- models, probes, metrics -------------------------------------------------------------------------------


def test_models_and_the_probes(server, client):
    assert [m.id for m in client.models.list().data] == ["whisper:tiny.en"]
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready" and ready.json()["capacity"] == 32


def test_readyz_says_loading_then_ready(whisper, tmp_path):
    gate = threading.Event()

    class SlowLoad(LiveServer):
        def __enter__(self):
            loader = self.state.scheduler._load
            self.state.scheduler._load = lambda: (gate.wait(20), loader())[1]
            self.state.scheduler.ready.set()  # let __enter__ return while the model "loads"
            super().__enter__()
            self.state.scheduler.ready.clear()
            return self

    with SlowLoad(tmp_path, whisper) as srv:
        loading = httpx.get(f"{srv.url}/readyz")
        assert loading.status_code == 503 and loading.json()["status"] == "loading"
        too_soon = httpx.post(f"{srv.url}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {srv.key()}"},
                              files={"file": ("a.flac", (DATA / "jfk.flac").read_bytes())})
        assert too_soon.status_code == 503 and too_soon.headers["retry-after"]
        gate.set()
        srv.state.scheduler.ready.wait(20)
        time.sleep(0.1)
        assert httpx.get(f"{srv.url}/readyz").json()["status"] == "ready"


def test_metrics_parse_with_prometheus_client_and_carry_no_text_or_key(server):
    token = server.key()
    got = run(stream(server.ws, token, clip("jfk.flac")))
    assert got.finals
    body = httpx.get(f"{server.url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(body)}
    for name in ("live_streams_active", "live_rejections", "live_audio_seconds", "live_final_latency_seconds",
                 "live_decode_queue_depth", "live_decode_batch_size", "live_model_ready"):
        assert name in families, name
    latency = {s.name: s.value for s in families["live_final_latency_seconds"].samples if not s.labels.get("le")}
    assert latency["live_final_latency_seconds_count"] >= len(got.finals)
    audio = {s.labels["kind"]: s.value for s in families["live_audio_seconds"].samples}
    assert audio["stream"] >= 11.0
    assert families["live_model_ready"].samples[0].value == 1
    assert "country" not in body and token.split("_", 2)[2] not in body


# --- admin endpoints -------------------------------------------------------------------------------------


def test_admin_keys_over_http(server):
    admin = {"Authorization": f"Bearer {server.key('admin')}"}
    made = httpx.post(f"{server.url}/v1/keys", headers=admin, json={"name": "room 2", "expires_days": 7})
    assert made.status_code == 201
    new = made.json()
    assert new["key"].startswith(f"lv_{new['id']}_") and new["scope"] == "stream" and new["expires"] > time.time()
    with _open() as fh:
        assert openai.OpenAI(base_url=f"{server.url}/v1", api_key=new["key"],
                             max_retries=0).audio.transcriptions.create(file=fh, model="x").text
    listed = httpx.get(f"{server.url}/v1/keys", headers=admin).json()["data"]
    assert new["id"] in {k["id"] for k in listed} and "key" not in listed[0]
    assert new["key"].split("_", 2)[2] not in httpx.get(f"{server.url}/v1/keys", headers=admin).text
    gone = httpx.delete(f"{server.url}/v1/keys/{new['id']}", headers=admin)
    assert gone.json() == {"id": new["id"], "revoked": True, "closed_streams": 0}
    assert httpx.delete(f"{server.url}/v1/keys/abcdefabcdef", headers=admin).status_code == 404
    assert httpx.delete(f"{server.url}/v1/keys/../../x", headers=admin).status_code in (404, 422)


# --- schemathesis against the OpenAPI schema of the REST part -----------------------------------------------


@pytest.mark.slow
def test_the_rest_api_conforms_to_its_openapi_schema(server, tmp_path):
    pytest.importorskip("schemathesis")
    admin = server.key("admin")
    config = tmp_path / "schemathesis.toml"
    # Random bytes are valid per the schema ("a file") but are not audio: a 400 there is right, so the
    # positive-data check is off for the upload; every other check runs on every operation.
    config.write_text('[[operations]]\ninclude-path = "/v1/audio/transcriptions"\n'
                      'checks.positive_data_acceptance.enabled = false\n')
    # Every check is on by default (--checks all would override the per-operation setting above).
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
         f"{server.url}/openapi.json", "--header", f"Authorization: Bearer {admin}", "--max-examples", "15",
         "--workers", "1", "--request-timeout", "30", "--suppress-health-check", "all", "--no-color"],
        capture_output=True, text=True, timeout=400, cwd=tmp_path,  # its cache stays out of the checkout
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "9 selected / 9 total" in result.stdout and " passed" in result.stdout


