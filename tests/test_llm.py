"""live.llm against a real OpenAI-compatible HTTP server on loopback (tests/llm_server.py)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from llm_server import LLMServer, Reply

from live.errors import ConfigError, LLMError
from live.llm import (
    AuthError,
    BadRequest,
    BalanceError,
    Cancelled,
    ConnectionFailed,
    IncompleteResponse,
    LLMClient,
    LLMSettings,
    LLMTimeout,
    NoAPIKey,
    RateLimited,
    ServerError,
    client_factory,
    estimate_tokens,
    key_hint,
    resolve_api_key,
)

KEY = "sk-test-SECRET-1234567890abcdef"
HELLO = [{"role": "user", "content": "hello there, model"}]


class Sleeps:
    """An injected sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(server: LLMServer, **overrides) -> tuple[LLMClient, Sleeps]:
    settings = LLMSettings(base_url=server.url, model="test-model", timeout_s=5.0, max_retries=3)
    for name, value in overrides.items():
        setattr(settings, name, value)
    sleeps = Sleeps()
    return LLMClient(settings, KEY, sleep=sleeps, rng=lambda: 0.5), sleeps


# --- settings ---------------------------------------------------------------------------------


def test_settings_defaults_are_deepseek_flash_with_thinking_off():
    s = LLMSettings.from_mapping({})
    assert (s.base_url, s.model, s.interval_minutes) == ("https://api.deepseek.com", "deepseek-flash", 5.0)
    assert s.request_extra_body() == {"thinking": {"type": "disabled"}}
    other = LLMSettings.from_mapping({"base_url": "http://localhost:11434/v1", "model": "qwen3"})
    assert other.request_extra_body() == {}
    explicit = LLMSettings.from_mapping({"extra_body": {}})
    assert explicit.request_extra_body() == {}


def test_settings_from_mapping_converts_and_resolves_paths(tmp_path):
    s = LLMSettings.from_mapping(
        {"base_url": "http://127.0.0.1:8000/v1/", "timeout_s": "12", "max_retries": 2, "interval_minutes": 0,
         "notes_language": "auto", "api_key_file": "key.txt", "prompts_dir": "~/prompts",
         "context_budget_tokens": 5000, "extra_body": {"temperature": 0.2}},
        base_dir=tmp_path,
    )
    assert s.base_url == "http://127.0.0.1:8000/v1"
    assert s.timeout_s == 12.0 and s.max_retries == 2 and s.interval_minutes == 0.0
    assert s.notes_language is None
    assert s.api_key_file == tmp_path / "key.txt"
    assert s.prompts_dir == Path("~/prompts").expanduser()
    assert s.request_extra_body() == {"temperature": 0.2}


@pytest.mark.parametrize("table, fragment", [
    ({"modle": "x"}, "unknown key(s) in [llm]: modle"),
    ({"api_key": KEY}, "LIVE_LLM_API_KEY"),
    ({"timeout_s": "soon"}, "llm.timeout_s"),
    ({"timeout_s": 0}, "timeout_s must be more than 0"),
    ({"max_retries": -1}, "max_retries"),
    ({"interval_minutes": -5}, "interval_minutes"),
    ({"base_url": "api.deepseek.com"}, "not an http(s) URL"),
    ({"extra_body": "thinking"}, "extra_body"),
    ({"context_budget_tokens": 10}, "context_budget_tokens"),
])
def test_settings_reject_bad_tables_with_a_clear_message(table, fragment):
    with pytest.raises(ConfigError) as info:
        LLMSettings.from_mapping(table)
    assert fragment in str(info.value)
    assert KEY not in str(info.value)


# --- the key ----------------------------------------------------------------------------------


def test_key_comes_from_live_variable_first_then_deepseek_variable():
    deepseek = LLMSettings()
    assert resolve_api_key(deepseek, {"LIVE_LLM_API_KEY": "live-key", "DEEPSEEK_API_KEY": "ds-key"}) == "live-key"
    assert resolve_api_key(deepseek, {"DEEPSEEK_API_KEY": " ds-key \n"}) == "ds-key"
    assert resolve_api_key(deepseek, {"LIVE_LLM_API_KEY": "  "}) is None
    assert resolve_api_key(deepseek, {}) is None


def test_deepseek_key_is_never_sent_to_another_provider():
    local = LLMSettings(base_url="http://127.0.0.1:8080/v1")
    assert resolve_api_key(local, {"DEEPSEEK_API_KEY": "ds-key"}) is None
    assert resolve_api_key(local, {"LIVE_LLM_API_KEY": "k", "DEEPSEEK_API_KEY": "ds"}) == "k"
    assert "LIVE_LLM_API_KEY" in key_hint(local) and "DEEPSEEK" not in key_hint(local)
    assert "DEEPSEEK_API_KEY" in key_hint(LLMSettings())


def test_key_file_readable_by_owner_only(tmp_path):
    path = tmp_path / "deepseek.key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    settings = LLMSettings(api_key_file=path)
    assert resolve_api_key(settings, {}) == KEY
    path.chmod(0o644)
    with pytest.raises(LLMError) as info:
        resolve_api_key(settings, {})
    assert f"chmod 600 {path}" in str(info.value)
    assert KEY not in str(info.value)


def test_key_file_missing_or_empty_says_so(tmp_path):
    with pytest.raises(NoAPIKey, match="does not exist"):
        resolve_api_key(LLMSettings(api_key_file=tmp_path / "nope"), {})
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(NoAPIKey, match="is empty"):
        resolve_api_key(LLMSettings(api_key_file=empty), {})


def test_client_factory_raises_the_hint_when_no_key():
    with pytest.raises(NoAPIKey) as info:
        client_factory(LLMSettings(), {})()
    assert str(info.value) == key_hint(LLMSettings())


def test_key_is_masked_in_repr():
    client = LLMClient(LLMSettings(), KEY)
    assert KEY not in repr(client) and "cdef" in repr(client)


# --- talking to the server --------------------------------------------------------------------


def test_stream_yields_tokens_in_order_and_sends_the_key_and_options(llm_server):
    llm_server.enqueue_text("The **mitochondria** is the powerhouse.", chunks=5)
    client, _ = make_client(llm_server, extra_body={"thinking": {"type": "disabled"}})
    tokens = list(client.stream(HELLO))
    assert len(tokens) == 5
    assert "".join(tokens) == "The **mitochondria** is the powerhouse."
    (req,) = llm_server.requests
    assert req.path == "/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "test-model"
    assert req.body["stream"] is True
    assert req.body["messages"] == HELLO
    assert req.body["thinking"] == {"type": "disabled"}


def test_v1_base_url_and_usage_is_recorded(llm_server):
    client, _ = make_client(llm_server, base_url=llm_server.url + "/v1")
    answer = client.complete(HELLO)
    assert answer.startswith("# Notes")  # the server's echo of a 3-word message
    assert "3 words" in answer
    assert llm_server.requests[0].path == "/v1/chat/completions"
    usage = client.last_usage
    assert usage is not None
    assert usage.prompt_tokens == len(HELLO[0]["content"]) // 4
    assert usage.completion_tokens == len(answer) // 4
    assert usage.cached_tokens == 0


@pytest.mark.parametrize("status, error, fragment", [
    (401, AuthError, "check LIVE_LLM_API_KEY / DEEPSEEK_API_KEY"),
    (402, BalanceError, "insufficient balance"),
    (400, BadRequest, "rejected the request (400)"),
    (422, BadRequest, "rejected the request (422)"),
    (404, BadRequest, "no model 'test-model'"),
])
def test_client_errors_are_clear_and_not_retried(llm_server, status, error, fragment):
    llm_server.enqueue_error(status, "scripted failure")
    client, sleeps = make_client(llm_server)
    with pytest.raises(error) as info:
        client.complete(HELLO)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert len(llm_server.requests) == 1
    assert sleeps.delays == []


def test_429_then_200_succeeds_after_one_backoff(llm_server):
    llm_server.enqueue_error(429, "slow down")
    llm_server.enqueue_text("fine now")
    client, sleeps = make_client(llm_server)
    assert client.complete(HELLO) == "fine now"
    assert len(llm_server.requests) == 2
    assert sleeps.delays == [1.0]  # base 1 s × (0.5 + jitter 0.5)


def test_retry_after_header_is_honoured(llm_server):
    llm_server.enqueue_error(429, "slow down", retry_after=7)
    client, sleeps = make_client(llm_server)
    client.complete(HELLO)
    assert sleeps.delays == [7.0]


def test_server_errors_back_off_exponentially_then_give_a_clear_error(llm_server):
    llm_server.enqueue_error(500, "boom", times=4)
    client, sleeps = make_client(llm_server, max_retries=3)
    with pytest.raises(ServerError) as info:
        client.complete(HELLO)
    assert "failed (500)" in str(info.value)
    assert len(llm_server.requests) == 4
    assert sleeps.delays == [1.0, 2.0, 4.0]


def test_rate_limit_that_never_ends(llm_server):
    llm_server.enqueue_error(429, "quota", times=2)
    client, _ = make_client(llm_server, max_retries=1)
    with pytest.raises(RateLimited, match="rate limiting"):
        client.complete(HELLO)


def test_jitter_spreads_the_delays(llm_server):
    llm_server.enqueue_error(503, "busy", times=2)
    settings = LLMSettings(base_url=llm_server.url, model="m", max_retries=2)
    delays: list[float] = []
    draws = iter([0.0, 1.0])
    client = LLMClient(settings, KEY, sleep=delays.append, rng=lambda: next(draws))
    client.complete(HELLO)
    assert delays == [0.5, 3.0]  # 1 × 0.5, then 2 × 1.5


def test_stream_cut_halfway_is_an_error_not_a_short_answer(llm_server):
    llm_server.enqueue_cut("This answer will never be finished by the server", after_chunks=2)
    client, sleeps = make_client(llm_server)
    received: list[str] = []
    with pytest.raises(IncompleteResponse, match="dropped halfway"):
        for token in client.stream(HELLO):
            received.append(token)
    assert received  # it had started: no silent retry that would repeat those tokens
    assert len(llm_server.requests) == 1


def test_stream_without_finish_reason_is_an_error(llm_server):
    llm_server.enqueue(Reply(text="looks complete but is not", end_without_finish=True))
    client, _ = make_client(llm_server)
    with pytest.raises(IncompleteResponse, match="no finish_reason"):
        client.complete(HELLO)


def test_output_limit_is_an_error(llm_server):
    llm_server.enqueue_text("# Notes\n\n## Part one", finish_reason="length")
    client, _ = make_client(llm_server)
    with pytest.raises(IncompleteResponse, match="output limit"):
        client.complete(HELLO)


def test_a_hang_times_out_after_retries(llm_server):
    llm_server.enqueue_hang()
    llm_server.enqueue_hang()
    client, sleeps = make_client(llm_server, timeout_s=0.3, max_retries=1)
    began = time.monotonic()
    with pytest.raises(LLMTimeout, match="sent nothing for 0.3 s"):
        client.complete(HELLO)
    assert time.monotonic() - began < 3.0
    assert len(llm_server.requests) == 2 and len(sleeps.delays) == 1


def test_a_server_that_is_not_there(tmp_path):
    settings = LLMSettings(base_url="http://127.0.0.1:9", model="m", max_retries=1, timeout_s=2.0)
    delays: list[float] = []
    client = LLMClient(settings, KEY, sleep=delays.append)
    with pytest.raises(ConnectionFailed, match="cannot reach http://127.0.0.1:9"):
        client.complete(HELLO)
    assert len(delays) == 1


@pytest.mark.parametrize("after_chunks", [0, 2])
def test_abort_ends_a_hanging_request_at_once(llm_server, after_chunks):
    client, _ = make_client(llm_server, timeout_s=30.0)
    client.complete(HELLO)  # warm up: the first request imports openai, which takes a while
    llm_server.enqueue_hang(after_chunks=after_chunks)
    got: list[str] = []
    threading.Timer(0.3, client.abort).start()
    began = time.monotonic()
    with pytest.raises(Cancelled):
        for token in client.stream(HELLO):
            got.append(token)
    assert time.monotonic() - began < 1.3
    assert len(got) == after_chunks
    # The client stays usable.
    assert "words" in client.complete(HELLO)


def test_abort_works_over_https(tmp_path, monkeypatch):
    """DeepSeek is HTTPS: TLS swaps the socket object, and abort must still reach the new one."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # how a user trusts a private CA, too
    server = LLMServer(tls=(str(cert), str(key)))
    try:
        client, _ = make_client(server, timeout_s=30.0)
        assert "words" in client.complete(HELLO)
        server.enqueue_hang(after_chunks=2)
        threading.Timer(0.3, client.abort).start()
        began = time.monotonic()
        with pytest.raises(Cancelled):
            client.complete(HELLO)
        assert time.monotonic() - began < 1.3
    finally:
        server.close()


def test_abort_while_the_connection_is_being_made_still_cancels(llm_server, monkeypatch):
    """abort() landing between the request's start and its socket's creation must not be lost."""
    original = LLMClient._on_request

    def abort_first(self, request):
        self.abort()  # the request has started; its connection does not exist yet
        original(self, request)

    monkeypatch.setattr(LLMClient, "_on_request", abort_first)
    llm_server.enqueue_hang()
    client, _ = make_client(llm_server, timeout_s=5.0)
    client._openai()  # built (and openai imported) before the clock starts
    began = time.monotonic()
    with pytest.raises(Cancelled):
        client.complete(HELLO)
    assert time.monotonic() - began < 1.0


def test_abort_interrupts_the_backoff_wait(llm_server):
    llm_server.enqueue_error(503, "busy", times=5)
    settings = LLMSettings(base_url=llm_server.url, model="m", max_retries=4)
    client = LLMClient(settings, KEY)  # the real, interruptible wait (1 s, 2 s, ...)
    import openai  # noqa: F401 - imported before the clock starts (it takes a while the first time)

    threading.Timer(0.3, client.abort).start()
    began = time.monotonic()
    with pytest.raises(Cancelled):
        client.complete(HELLO)
    assert time.monotonic() - began < 1.0


def test_the_key_never_reaches_logs_or_messages(llm_server, caplog):
    caplog.set_level(logging.DEBUG)
    # A careless server that echoes the key in its error message.
    llm_server.enqueue_error(500, f"internal error for key {KEY}")
    llm_server.enqueue_error(401, f"Incorrect API key provided: {KEY}")
    client, _ = make_client(llm_server)
    with pytest.raises(AuthError) as info:
        client.complete(HELLO)
    llm_server.enqueue_error(400, f"bad key {KEY}")
    with pytest.raises(BadRequest) as bad:
        client.complete(HELLO)
    client.complete(HELLO)
    assert caplog.records  # the retry was logged, and so were the HTTP requests
    assert KEY not in caplog.text
    assert KEY not in str(info.value) and KEY not in str(bad.value)
    assert "***cdef" in str(bad.value)


def test_estimate_tokens_counts_latin_and_cjk():
    assert estimate_tokens("") == 0
    assert estimate_tokens("a" * 350) == 100
    assert estimate_tokens("线性代数" * 10) == 28
    assert estimate_tokens("the matrix 矩阵") == 5  # ceil(11 / 3.5 + 2 × 0.7)


def test_the_test_server_also_answers_plain_json(llm_server):
    """The scripted server is real HTTP: plain JSON answers work for any client, not only ours."""
    llm_server.enqueue_text("plain answer")
    body = json.dumps({"model": "m", "messages": HELLO}).encode()
    req = urllib.request.Request(llm_server.url + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        answer = json.load(resp)
    assert answer["choices"][0]["message"]["content"] == "plain answer"
    assert answer["choices"][0]["finish_reason"] == "stop"
