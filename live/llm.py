"""A thin provider layer over the ``openai`` client: settings, the API key, streaming with retries.

Any OpenAI-compatible chat-completions endpoint works (DeepSeek by default, OpenAI, Ollama, vLLM,
llama.cpp, Qwen, ...). What this layer adds over the bare client:

- errors a user can act on (``AuthError``, ``BalanceError``, ...), each a one-line message;
- retries of 429/5xx/timeouts/connection errors with exponential backoff and jitter, but never of
  401/402/400/422, and never once an answer has started to stream (the caller would see it twice);
- a stream cut halfway raises ``IncompleteResponse``, so a partial answer is never taken for a whole one;
- ``abort()`` from any thread ends a request in flight at once, even one blocked on a silent server
  (closing a socket does not wake a blocked ``recv`` on Linux; shutting it down does);
- the key never appears in a log line, an exception or a ``repr``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import stat
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from live.errors import ConfigError, LLMError

log = logging.getLogger("live.llm")

DEEPSEEK_BASE_URL = "https://api.deepseek.com"
DEFAULT_MODEL = "deepseek-flash"
# DeepSeek may think before answering unless told not to: minutes of latency for a summary.
DEEPSEEK_EXTRA_BODY: dict[str, Any] = {"thinking": {"type": "disabled"}}

Message = Mapping[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


# --- errors ---------------------------------------------------------------------------------


class NoAPIKey(LLMError):
    """No key in the environment or the key file."""


class AuthError(LLMError):
    """401/403: the key was rejected or lacks permission."""


class BalanceError(LLMError):
    """402: the account has no balance left."""


class BadRequest(LLMError):
    """400/404/422: the request itself is wrong (model name, base URL, provider options)."""


class RateLimited(LLMError):
    """429 after every retry."""


class ServerError(LLMError):
    """5xx after every retry."""


class LLMTimeout(LLMError):
    """No data from the server for ``timeout_s``, after every retry."""


class ConnectionFailed(LLMError):
    """The server could not be reached, after every retry."""


class IncompleteResponse(LLMError):
    """The answer stopped before the model finished it (a cut stream, an output limit, an empty answer)."""


class Cancelled(LLMError):
    """The request was cancelled by ``LLMClient.abort()`` (quit, or the user gave up on it)."""


# --- settings ---------------------------------------------------------------------------------


@dataclass
class LLMSettings:
    """How to reach the model and how to use it for notes.

    Attributes:
        base_url: an OpenAI-compatible endpoint; DeepSeek's has no ``/v1``, most others do.
        model: the model name the endpoint knows.
        api_key_file: a file holding the key, readable by its owner only (``chmod 600``).
        timeout_s: the longest wait for the next bytes from the server (connect, first token, each chunk).
        max_retries: retries after the first attempt for 429/5xx/timeouts/connection errors.
        extra_body: provider options merged into each request body; None means the provider's
            default (thinking disabled on DeepSeek, nothing elsewhere); ``{}`` sends nothing extra.
        interval_minutes: minutes between rolling note updates; 0 turns them off.
        notes_language: the language of the notes, e.g. "English"; None means the lecture's language.
        context_budget_tokens: the largest estimated request input (see ``estimate_tokens``);
            transcripts that would not fit are sent in chunks, never rejected.
        prompts_dir: a folder whose ``*.md`` files replace the built-in prompts of the same name.
    """

    base_url: str = DEEPSEEK_BASE_URL
    model: str = DEFAULT_MODEL
    api_key_file: Path | None = None
    timeout_s: float = 60.0
    max_retries: int = 4
    extra_body: dict[str, Any] | None = None
    interval_minutes: float = 5.0
    notes_language: str | None = None
    context_budget_tokens: int = 60_000
    prompts_dir: Path | None = None

    @property
    def is_deepseek(self) -> bool:
        host = (urlparse(self.base_url).hostname or "").lower()
        return host == "deepseek.com" or host.endswith(".deepseek.com")

    def request_extra_body(self) -> dict[str, Any]:
        """The provider options actually sent with each request."""
        if self.extra_body is not None:
            return dict(self.extra_body)
        return dict(DEEPSEEK_EXTRA_BODY) if self.is_deepseek else {}

    def validate(self) -> LLMSettings:
        parsed = urlparse(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"llm.base_url {self.base_url!r} is not an http(s) URL, e.g. {DEEPSEEK_BASE_URL}")
        if not self.model.strip():
            raise ConfigError("llm.model is empty; name a model, e.g. deepseek-flash")
        if not self.timeout_s > 0:
            raise ConfigError("llm.timeout_s must be more than 0 seconds")
        if self.max_retries < 0:
            raise ConfigError("llm.max_retries must be 0 or more")
        if self.interval_minutes < 0:
            raise ConfigError("llm.interval_minutes must be 0 (off) or more")
        if self.context_budget_tokens < 100:
            raise ConfigError("llm.context_budget_tokens must be at least 100")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base_dir: Path | None = None) -> LLMSettings:
        """Build settings from the ``[llm]`` table of a TOML config.

        Unknown keys raise ConfigError (a typo must not be ignored silently); relative paths are
        taken relative to ``base_dir`` (the config file's folder) when given.
        """
        known = {f.name for f in fields(cls)}
        if "api_key" in data:
            raise ConfigError(
                "llm.api_key is not read from config files; set LIVE_LLM_API_KEY or DEEPSEEK_API_KEY, "
                "or name a file with llm.api_key_file"
            )
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) in [llm]: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            values[name] = _coerce(name, value, base_dir)
        return cls(**values).validate()


def _coerce(name: str, value: Any, base_dir: Path | None) -> Any:
    bad = ConfigError(f"bad value for llm.{name}: {value!r}")
    if name in ("base_url", "model"):
        if not isinstance(value, str):
            raise bad
        return value.strip().rstrip("/") if name == "base_url" else value.strip()
    if name == "notes_language":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
            return None
        if not isinstance(value, str):
            raise bad
        return value.strip()
    if name in ("api_key_file", "prompts_dir"):
        if value is None or value == "":
            return None
        if not isinstance(value, (str, Path)):
            raise bad
        path = Path(value).expanduser()
        return base_dir / path if base_dir is not None and not path.is_absolute() else path
    if name == "extra_body":
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"llm.extra_body must be a table of provider options, not {value!r}")
        return None if value is None else dict(value)
    if name in ("max_retries", "context_budget_tokens"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad
        try:
            return int(value)
        except ValueError:
            raise bad from None
    # timeout_s, interval_minutes
    if isinstance(value, bool):
        raise bad
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise bad from None
    if not math.isfinite(result):
        raise bad
    return result


# --- the key ---------------------------------------------------------------------------------


def resolve_api_key(settings: LLMSettings, env: Mapping[str, str] = os.environ) -> str | None:
    """The API key, or None when none is set. Never from a flag or a config value.

    Order: ``LIVE_LLM_API_KEY`` (any provider), then ``DEEPSEEK_API_KEY`` but only when base_url is
    DeepSeek's (a DeepSeek key is never sent to another provider), then ``settings.api_key_file``,
    which must be readable by its owner only.
    """
    for var in ("LIVE_LLM_API_KEY", "DEEPSEEK_API_KEY"):
        if var == "DEEPSEEK_API_KEY" and not settings.is_deepseek:
            continue
        value = (env.get(var) or "").strip()
        if value:
            return value
    path = settings.api_key_file
    if path is None:
        return None
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise NoAPIKey(f"llm.api_key_file {path} does not exist; create it or unset it") from None
    except OSError as exc:
        raise NoAPIKey(f"cannot read llm.api_key_file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LLMError(f"key file {path} is readable by other users; run: chmod 600 {path}")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise NoAPIKey(f"cannot read llm.api_key_file {path}: {exc}") from None
    if not value:
        raise NoAPIKey(f"llm.api_key_file {path} is empty; put the API key in it")
    return value.splitlines()[0].strip()


def key_hint(settings: LLMSettings) -> str:
    """One line telling the user how to give a key."""
    if settings.is_deepseek:
        return "no API key: set DEEPSEEK_API_KEY or LIVE_LLM_API_KEY (or llm.api_key_file)"
    return f"no API key for {settings.base_url}: set LIVE_LLM_API_KEY (or llm.api_key_file)"


def client_factory(settings: LLMSettings, env: Mapping[str, str] = os.environ,
                   **client_kwargs: Any) -> Callable[[], LLMClient]:
    """A factory for ``NotesKeeper``: the key is looked up when the first request is made, and a
    missing key raises NoAPIKey with the hint, which the notes pane shows."""

    def make() -> LLMClient:
        key = resolve_api_key(settings, env)
        if key is None:
            raise NoAPIKey(key_hint(settings))
        return LLMClient(settings, key, **client_kwargs)

    return make


def mask_key(key: str) -> str:
    """What may be shown of a key: its last four characters at most."""
    return "***" + key[-4:] if len(key) >= 16 else "***"


# --- the client --------------------------------------------------------------------------------


@dataclass
class Usage:
    """Token counts of one request as the server reported them (None when it did not say)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None  # DeepSeek's prompt_cache_hit_tokens, or OpenAI's cached_tokens


@dataclass
class _Call:
    """Book-keeping of one request: what came back."""

    finish_reason: str | None = None
    usage: Usage | None = None
    chunks: list[str] = field(default_factory=list)


RETRY_BASE_S = 1.0
RETRY_CAP_S = 30.0
RETRY_AFTER_CAP_S = 60.0


class LLMClient:
    """Chat completions over one OpenAI-compatible endpoint, with retries and clean cancellation.

    ``sleep(seconds)`` and ``rng()`` are injectable so tests need not wait; the default sleep
    returns early when ``abort()`` is called. Safe to ``abort()`` from another thread; requests
    themselves are meant to run on one thread at a time.
    """

    def __init__(
        self,
        settings: LLMSettings,
        api_key: str,
        *,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not api_key:
            raise NoAPIKey(key_hint(settings))
        self.settings = settings
        self._key = api_key
        self._sleep = sleep
        self._rng = rng
        self._client: Any = None
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._generation = 0
        self._call_generation: int | None = None  # the generation of the request in flight
        self._wake = threading.Event()
        self.last_usage: Usage | None = None
        self.requests_sent = 0  # HTTP attempts, retries included

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.settings.base_url!r}, model={self.settings.model!r}, key={mask_key(self._key)!r})"

    # -- public ------------------------------------------------------------------------------

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """Yield the answer's text as it arrives; raise an LLMError unless it ends properly."""
        generation = self._generation
        call = _Call()
        for attempt in range(self.settings.max_retries + 1):
            try:
                yield from self._attempt(messages, call, generation)
                break
            except _Retryable as exc:
                if attempt >= self.settings.max_retries:
                    raise exc.final from None
                delay = self._backoff(attempt, exc.retry_after)
                log.info("%s; retrying in %.1f s (retry %d of %d)", exc.final, delay, attempt + 1,
                         self.settings.max_retries)
                self._pause(delay, generation)
        self.last_usage = call.usage
        if call.finish_reason == "length":
            raise IncompleteResponse(
                "the answer was cut at the model's output limit; raise max_tokens in llm.extra_body"
            )
        if call.finish_reason == "content_filter":
            raise IncompleteResponse("the provider's content filter stopped the answer")
        if not "".join(call.chunks).strip():
            raise IncompleteResponse(f"{self.settings.model} returned an empty answer; try again")

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole answer as one string.

        It streams underneath: ``timeout_s`` bounds the silence between chunks, so a long answer
        is not mistaken for a hung server.
        """
        return "".join(self.stream(messages))

    def abort(self) -> None:
        """End every request in flight on this client now (they raise Cancelled); later ones run."""
        with self._lock:
            self._generation += 1
            sockets = list(self._sockets)
        self._wake.set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("socket already closed while aborting")

    def close(self) -> None:
        self.abort()
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- internals ---------------------------------------------------------------------------

    def _openai(self) -> Any:
        if self._client is None:
            import httpx2
            import openai

            timeout = httpx2.Timeout(self.settings.timeout_s, connect=min(10.0, self.settings.timeout_s))
            http = openai.DefaultHttpxClient(timeout=timeout, event_hooks={"request": [self._on_request]})
            self._client = openai.OpenAI(
                api_key=self._key, base_url=self.settings.base_url, max_retries=0, timeout=timeout,
                http_client=http,
            )
        return self._client

    def _on_request(self, request: Any) -> None:
        # httpcore's documented "trace" extension hands us each new connection's socket, which
        # abort() shuts down to wake a thread blocked reading from a silent server.
        request.extensions["trace"] = self._trace

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        # TLS wraps the TCP socket into a new socket object (the old one is detached), so the
        # socket is taken again once TLS is up.
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with self._lock:
                    self._sockets.add(sock)
                    stale = self._call_generation not in (None, self._generation)
                if stale:  # abort() came while this connection was being made
                    sock.shutdown(socket.SHUT_RDWR)

    def _check(self, generation: int) -> None:
        if generation != self._generation:
            raise Cancelled("the request was cancelled")

    def _pause(self, delay: float, generation: int) -> None:
        self._check(generation)
        if self._sleep is not None:
            self._sleep(delay)
        else:
            self._wake.clear()
            if generation == self._generation:
                self._wake.wait(delay)
        self._check(generation)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt) * (0.5 + self._rng())
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP_S))
        return delay

    def _attempt(self, messages: Sequence[Message], call: _Call, generation: int) -> Iterator[str]:
        import openai

        client = self._openai()  # the first call imports openai: check for an abort after it
        self._check(generation)
        self.requests_sent += 1
        self._call_generation = generation
        stream = None
        try:
            stream = client.chat.completions.create(
                model=self.settings.model,
                messages=[dict(m) for m in messages],
                stream=True,
                stream_options={"include_usage": True},
                extra_body=self.settings.request_extra_body() or None,
            )
            for chunk in stream:
                self._check(generation)
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    call.usage = _usage(usage)
                for choice in chunk.choices or ():
                    text = getattr(choice.delta, "content", None) if choice.delta is not None else None
                    if text:
                        call.chunks.append(text)
                        yield text
                    if choice.finish_reason:
                        call.finish_reason = choice.finish_reason
        except openai.APIStatusError as exc:
            self._check(generation)
            raise self._status_error(exc, bool(call.chunks)) from None
        except openai.APITimeoutError:
            self._check(generation)
            error = LLMTimeout(
                f"{self.settings.base_url} sent nothing for {self.settings.timeout_s:g} s; "
                "try again, or raise llm.timeout_s"
            )
            if call.chunks:
                raise IncompleteResponse(f"the answer stopped halfway: {error}") from None
            raise _Retryable(error) from None
        except openai.APIConnectionError as exc:
            self._check(generation)
            if call.chunks:
                raise IncompleteResponse(
                    "the connection dropped halfway through the answer; the partial answer was discarded"
                ) from None
            detail = self._scrub(str(exc.__cause__ or exc))
            raise _Retryable(ConnectionFailed(f"cannot reach {self.settings.base_url}: {detail}")) from None
        except openai.APIError as exc:
            # An error event inside a stream that had started fine.
            self._check(generation)
            raise IncompleteResponse(f"the server broke off the answer: {self._scrub(exc.message)}") from None
        finally:
            self._call_generation = None
            if stream is not None:
                stream.close()
        if call.finish_reason is None:
            raise IncompleteResponse(
                "the answer ended before the model finished it (no finish_reason); it was discarded"
            )

    def _status_error(self, exc: Any, started: bool) -> LLMError | _Retryable:
        status = exc.status_code
        detail = self._scrub(_error_message(exc))
        where = self.settings.base_url
        if status == 401:
            return AuthError(f"{where} rejected the API key; check LIVE_LLM_API_KEY / DEEPSEEK_API_KEY")
        if status == 403:
            return AuthError(f"{where} refused: the key may not use model {self.settings.model} ({detail})")
        if status == 402:
            return BalanceError(f"{where}: insufficient balance; top up the account, then try again")
        if status == 404:
            return BadRequest(f"{where} has no model {self.settings.model!r} or no such endpoint; check "
                              f"llm.model and llm.base_url ({detail})")
        if status in (400, 422):
            return BadRequest(f"{where} rejected the request ({status}): {detail}; check llm.model and "
                              "llm.extra_body")
        retry_after = _retry_after(exc)
        if status == 429:
            return _Retryable(RateLimited(f"{where} is rate limiting (429): {detail}; wait a minute and retry"),
                              retry_after)
        if status >= 500:
            return _Retryable(ServerError(f"{where} failed ({status}): {detail}; try again later"), retry_after)
        return BadRequest(f"{where} answered {status}: {detail}")

    def _scrub(self, text: str) -> str:
        """One line, bounded, without the key even if a server echoed it."""
        text = " ".join(str(text).split())
        if self._key and self._key in text:
            text = text.replace(self._key, mask_key(self._key))
        return text[:300]


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying; ``final`` is raised when retries run out."""

    def __init__(self, final: LLMError, retry_after: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after = retry_after


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    return getattr(exc, "message", None) or str(exc)


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _usage(usage: Any) -> Usage:
    extra = getattr(usage, "model_extra", None) or {}
    cached = extra.get("prompt_cache_hit_tokens")
    details = getattr(usage, "prompt_tokens_details", None)
    if cached is None and details is not None:
        cached = getattr(details, "cached_tokens", None)
    return Usage(
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        total_tokens=getattr(usage, "total_tokens", None),
        cached_tokens=cached,
    )


def estimate_tokens(text: str) -> int:
    """A cheap, deliberately generous token estimate for budgeting (no tokenizer download).

    ASCII text runs at about 3.5 characters a token on DeepSeek's and OpenAI's tokenizers; CJK and
    other scripts at about 0.6 tokens a character, counted here as 0.7 to stay on the safe side.
    """
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 3.5 + (len(text) - ascii_chars) * 0.7)
