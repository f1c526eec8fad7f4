"""Chat completions over an OpenAI-compatible endpoint, with retries and clean cancellation.

What this adds over the bare ``openai`` client (imported on the first request, not before):

- errors a user can act on (``live.llm.errors``), each a one-line message;
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
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from live.errors import LLMError
from live.llm.errors import (
    AuthError,
    BadRequest,
    BalanceError,
    Cancelled,
    ConnectionFailed,
    IncompleteResponse,
    LLMTimeout,
    NoAPIKey,
    RateLimited,
    ServerError,
)
from live.llm.settings import LLMSettings, key_hint, mask_key, resolve_api_key

log = logging.getLogger("live.llm")  # the name it had before the split, so log filters still match

Message = Mapping[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


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
