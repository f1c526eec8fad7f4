"""``Translator``: finals translated by the LLM on one thread of its own, never in the captions' way.

``add`` takes a final and returns at once (the session's worker calls it for every final, after the
final is saved). The thread sends rolling batches (``live.translate.queue``) and hands each translation
to ``deliver`` — the worker's ``append``, so the worker writes it to transcript.jsonl and shows it; this
thread never touches the session folder. A model that is slow only makes the translations later; one
that fails is retried after a while, and finals it never translates are given up with a notice; one
that cannot work at all (no key, a rejected key, no balance, a wrong model name) turns translation off
for the session with one notice. At the end the worker calls ``settle``, which waits a bounded time
for what is still pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from live.captions import Caption
from live.errors import LiveError
from live.llm import AuthError, BadRequest, BalanceError, Cancelled, LLMClient, NoAPIKey, estimate_tokens
from live.notes.prompts import Prompts
from live.events import Notice, Translation
from live.language import check_target
from live.translate.prompt import Glossary, messages, parse_answer
from live.translate.queue import Pending, TranslateOptions, TranslationQueue

log = logging.getLogger("live.translate")

FATAL = (NoAPIKey, AuthError, BalanceError, BadRequest)  # no retry can help: translation is turned off
LOST_NOTICE_EVERY_S = 30.0  # captions given up are told at most this often (with how many since)
ClientSource = LLMClient | Callable[[], LLMClient]


@dataclass
class TranslateStats:
    """What translation cost, for the figures: requests, finals, tokens (estimated from the text sent
    and received with ``live.llm.estimate_tokens``, and as the server reported them)."""

    requests: int = 0
    failed_requests: int = 0
    finals_sent: int = 0
    translated: int = 0
    given_up: int = 0
    prompt_tokens_est: int = 0
    completion_tokens_est: int = 0
    prompt_tokens: int = 0  # the server's usage, summed (0 where it reported none)
    completion_tokens: int = 0
    cached_tokens: int = 0
    seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class Translator:
    """Translates a session's finals into ``target`` on one thread. ``connect(deliver)`` before the first
    final; ``notify`` gets notices for the user (from this thread)."""

    def __init__(self, client: ClientSource, target: str, *, options: TranslateOptions | None = None,
                 terms: list[str] | tuple[str, ...] = (), prompts: Prompts | None = None,
                 notify: Callable[[Notice], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target = check_target(target)
        self.options = options or TranslateOptions()
        self.glossary = Glossary(terms, self.options.glossary_max)
        self.prompts = prompts or Prompts()
        self.stats = TranslateStats()
        self.off: str | None = None  # why translation was turned off
        self._client: LLMClient | None = client if hasattr(client, "stream") else None  # type: ignore[assignment]
        self._factory = None if self._client is not None else client
        self._notify = notify
        self._clock = clock
        self._deliver: Callable[[Translation], None] | None = None
        self._queue = TranslationQueue(self.options)
        self._cond = threading.Condition()
        self._flushing = False
        self._closed = False
        self._failing: str | None = None  # the error of the current failure streak, said once
        self._lost_unsaid = 0  # captions given up since the last notice about them
        self._lost_said_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="live-translate", daemon=True)
        self._thread.start()

    # -- the session's side -------------------------------------------------------------------------

    def connect(self, deliver: Callable[[Translation], None], notify: Callable[[Notice], None] | None = None) -> None:
        """Where translations go: the worker's ``append`` (it writes them, then shows them); ``notify``
        replaces where notices go."""
        self._deliver = deliver
        if notify is not None:
            self._notify = notify

    @property
    def pending(self) -> int:
        with self._cond:
            return self._queue.pending

    def add(self, caption: Caption) -> None:
        """Take a saved final (anything else is ignored); returns at once."""
        if caption.kind != "final" or not caption.text.strip() or self._closed:
            return
        if caption.language == self.target:  # said in the target language already: nothing to translate
            self._hand_over([Translation(caption.index, self.target, caption.text, caption.start)])
            return
        with self._cond:
            if self._closed or self.off is not None:
                return
            dropped = self._queue.add(Pending(caption.index, caption.text, caption.start, caption.language))
            self._cond.notify_all()
        if dropped:
            self._say("warning", f"translation is far behind: {dropped} older captions will not be translated")

    def settle(self, serve: Callable[[], None]) -> None:
        """The session is ending: send what is pending now and wait for it, at most ``finish_timeout_s``,
        calling ``serve`` (the worker's command loop) as translations arrive; then give up the rest."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            waiting = self._queue.pending
        if waiting:
            self._say("information", f"waiting up to {self.options.finish_timeout_s:g} s for the translation "
                                     f"of {waiting} caption{'s' if waiting != 1 else ''}…")
        deadline = time.monotonic() + self.options.finish_timeout_s
        with self._cond:
            while self._queue.pending and not self._closed and self.off is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
                self._cond.release()
                try:
                    serve()
                finally:
                    self._cond.acquire()
            left_over = self._queue.pending if self.off is None else 0
        if left_over:
            self.cancel()
            self._say("warning", f"{left_over} caption{'s' if left_over != 1 else ''} not translated before the "
                                 "end (the model was too slow); every caption is saved")
        if self._lost_unsaid:
            self._lost(0, self._failing, now=True)
        self._close_thread()
        serve()  # the last translations handed over

    def cancel(self) -> None:
        """Give up what is pending and cancel the request in flight."""
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()
        if self._client is not None:
            self._client.abort()

    def close(self, timeout: float = 2.0) -> bool:
        """Stop the thread (a request in flight is cancelled); True when it has ended within ``timeout``."""
        self._close_thread()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            if self._client is not None:
                self._client.abort()
            self._thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
        with self._cond:
            self.stats.given_up = self._queue.given_up
        return not self._thread.is_alive()

    def _close_thread(self) -> None:
        with self._cond:
            self._closed = True
            self.stats.given_up = self._queue.given_up
            self._cond.notify_all()

    # -- the thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    wait = self._queue.due(self._clock(), flushing=self._flushing)
                    if wait == 0.0:
                        break
                    self._cond.wait(wait)
                batch = self._queue.take(self._clock())
                context = self._queue.context()
                request = messages(self.prompts, self.target, self.glossary, batch, context)
            results = self._request(request, batch)
            with self._cond:
                if results is None:
                    lost = self._queue.failed(self._clock()) if self.off is None else []
                    if self.off is not None:
                        self._queue.clear()
                else:
                    lost = self._queue.done(results)
                self.stats.given_up = self._queue.given_up
                self._cond.notify_all()
            if lost and self.off is None:
                self._lost(len(lost), self._failing)

    def _lost(self, count: int, why: str | None, *, now: bool = False) -> None:
        """Tell the user about captions given up, at most every LOST_NOTICE_EVERY_S (how many since);
        ``why`` None: the model's answers left them out."""
        self._lost_unsaid += count
        at = time.monotonic()
        if not self._lost_unsaid or not (now or self._lost_said_at is None
                                         or at - self._lost_said_at >= LOST_NOTICE_EVERY_S):
            return
        count, self._lost_unsaid, self._lost_said_at = self._lost_unsaid, 0, at
        why = why or f"the answer left {'it' if count == 1 else 'them'} out"
        self._say("warning", f"{count} caption{'s' if count != 1 else ''} could not be translated ({why}); "
                             "captions go on")

    def _request(self, request: list[dict[str, str]], batch: list[Pending]) -> dict[int, str] | None:
        """One request; the translations it brought (handed over already), or None when it failed."""
        stats = self.stats
        stats.requests += 1
        stats.finals_sent += len(batch)
        stats.batch_sizes.append(len(batch))
        stats.prompt_tokens_est += sum(estimate_tokens(m["content"]) for m in request)
        began = time.monotonic()
        try:
            client = self._client_now()
            answer = client.complete(request)
        except Cancelled:
            stats.failed_requests += 1
            return None
        except FATAL as exc:
            stats.failed_requests += 1
            self.off = str(exc)
            self._say("warning", f"translation off: {exc}; captions go on")
            return None
        except LiveError as exc:
            stats.failed_requests += 1
            if self._failing is None:
                self._say("warning", f"translation delayed: {exc}; captions go on, retrying in "
                                     f"{self.options.retry_after_s:g} s")
            self._failing = str(exc)
            return None
        except Exception as exc:  # a bug: keep the thread, say so once, keep the traceback in the log
            log.exception("a translation request failed unexpectedly")
            stats.failed_requests += 1
            if self._failing is None:
                self._say("warning", f"translation failed: internal error {type(exc).__name__}; see the log")
            self._failing = type(exc).__name__
            return None
        finally:
            stats.seconds += time.monotonic() - began
        usage = client.last_usage
        if usage is not None:
            stats.prompt_tokens += usage.prompt_tokens or 0
            stats.completion_tokens += usage.completion_tokens or 0
            stats.cached_tokens += usage.cached_tokens or 0
        stats.completion_tokens_est += estimate_tokens(answer)
        results, entries = parse_answer(answer, [p.index for p in batch])
        self.glossary.learn(entries)
        stats.translated += len(results)
        if self._failing is not None:
            self._failing = None
            self._say("information", "translation is back; the captions it missed meanwhile follow")
        self._hand_over([Translation(p.index, self.target, results[p.index], p.start)
                         for p in batch if p.index in results])
        return results

    def _client_now(self) -> LLMClient:
        if self._client is None:
            assert self._factory is not None
            self._client = self._factory()  # NoAPIKey when there is none: translation off, with the hint
        return self._client

    def _hand_over(self, translations: list[Translation]) -> None:
        if self._deliver is None:
            log.warning("translator not connected: %d translations dropped", len(translations))
            return
        for translation in translations:
            self._deliver(translation)

    def _say(self, level: str, message: str) -> None:
        log.log(logging.INFO if level == "information" else logging.WARNING, "translation: %s", message)
        if self._notify is not None:
            try:
                self._notify(Notice(level, message))  # type: ignore[arg-type]
            except Exception:  # the receiver's bug must not stop the translations; the log keeps it
                log.exception("a front end failed on a translation notice")
