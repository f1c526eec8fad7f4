"""Captions in the viewers' languages: one translator per language, made on the sharing side the first
time a viewer chooses it, and shared by every viewer of that language.

Only the languages the sharer allows can be chosen. A translator starts with the finals said so far
(the newest ``TranslateOptions.max_backlog`` of them: a late choice still gets the lecture so far) and
then takes each new final; its translations go back into the room as ``Translation`` events, so a
language costs the same however many viewers read it. The language the session itself translates into
(``--translate``) comes with the session's own events and never gets a second translator.

Thread-safe: finals arrive on the web server's loop, languages are chosen from a worker thread (making
a translator may import the LLM client), translations come back on each translator's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from live.captions import Caption
from live.events import Notice, Translation
from live.language import check_target
from live.translate import Translator, target_name

log = logging.getLogger("live.room")

MakeTranslator = Callable[[str], Translator]


class RoomTranslations:
    """The translators of one room. ``feed`` every final; ``choose`` a language for a viewer."""

    def __init__(self, languages: Iterable[str], make: MakeTranslator | None,
                 deliver: Callable[[Translation], None], *, provided: str | None = None,
                 notify: Callable[[Notice], None] | None = None,
                 unavailable: Callable[[str, str], None] | None = None,
                 elsewhere: Callable[[str], None] | None = None) -> None:
        self.provided = check_target(provided) if provided else None
        self.languages = tuple(dict.fromkeys([check_target(lang) for lang in languages]
                                             + ([self.provided] if self.provided else [])))
        self._make = make
        self._deliver = deliver
        self._notify = notify
        self._unavailable = unavailable  # (lang, what its viewers are told) when a language stops working
        self._elsewhere = elsewhere  # a room on a server: the sharer translates; this asks it for a language
        self.wanted: set[str] = set()  # languages asked of ``elsewhere``
        self._lock = threading.Lock()
        self._finals: list[Caption] = []
        self._running: dict[str, Translator] = {}
        self._starting: set[str] = set()
        self._off: dict[str, str] = {}  # language → why it cannot be had
        self._closed = False

    def offered(self) -> list[dict]:
        """The languages viewers may choose, with their English names and whether they work."""
        return [{"code": lang, "name": target_name(lang), "off": lang in self._off} for lang in self.languages]

    def feed(self, caption: Caption) -> None:
        """A final the viewers saw: kept for languages chosen later, and sent to each translator."""
        if caption.kind != "final" or not caption.text.strip():
            return
        with self._lock:
            self._finals.append(caption)
            running = list(self._running.values())
        for translator in running:
            translator.add(caption)

    def choose(self, lang: str) -> str | None:
        """A viewer wants ``lang``: its translator is started if it is not yet. None when the
        translations will come; else why they will not (what the viewer is told)."""
        if lang not in self.languages:
            return "not offered in this room"
        if lang == self.provided:
            return None
        if self._elsewhere is not None:
            if lang not in self.wanted:
                self.wanted.add(lang)
                self._elsewhere(lang)
            return None
        with self._lock:
            if lang in self._off:
                return self._off[lang]
            if lang in self._running or lang in self._starting or self._closed:
                return None if not self._closed else "the room is closed"
            if self._make is None:
                self._off[lang] = "translation is not set up on the sharing side"
                return self._off[lang]
            self._starting.add(lang)
        try:  # outside the lock: making one may import the LLM client, and finals must not wait for that
            translator = self._make(lang)
        except Exception as exc:  # a bad LLM setting: the captions go on, the viewer is told
            log.warning("room: cannot translate into %s: %s", lang, exc)
            with self._lock:
                self._starting.discard(lang)
                self._off[lang] = "translation is not available"
            self._tell(Notice("warning", f"room: no translation into {lang}: {exc}"))
            return self._off[lang]
        translator.connect(self._deliver, notify=lambda notice, lang=lang: self._translator_notice(lang, notice))
        with self._lock:  # the finals so far and every later one: none missed, none twice
            finals = self._finals[-translator.options.max_backlog:]
            self._running[lang] = translator
            self._starting.discard(lang)
        log.info("room: translating into %s for its viewers (%d finals so far)", lang, len(finals))
        for caption in finals:
            translator.add(caption)
        return None

    def _translator_notice(self, lang: str, notice: Notice) -> None:
        translator = self._running.get(lang)
        self._tell(Notice(notice.level, f"room ({lang}): {notice.message}"))
        if translator is not None and translator.off is not None and lang not in self._off:
            self._off[lang] = "it stopped on the sharing side"
            if self._unavailable is not None:
                self._unavailable(lang, f"No more translation into {target_name(lang)}: {self._off[lang]}. "
                                        "The captions go on.")

    def _tell(self, notice: Notice) -> None:
        if self._notify is None:
            return
        try:
            self._notify(notice)
        except Exception:  # the front end's bug must not stop the room; the log keeps it
            log.exception("a front end failed on a room notice")

    def started(self, lang: str) -> bool:
        """``lang`` is being translated already (choosing it again costs nothing)."""
        return lang == self.provided or lang in self._running or lang in self.wanted

    @property
    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def settle(self, timeout: float) -> None:
        """The lecture is over: each translator sends what is pending at once; wait at most ``timeout``
        s in all (its own ``finish_timeout_s`` bounds each too)."""
        with self._lock:
            translators = list(self._running.values())
        threads = [threading.Thread(target=t.settle, args=(lambda: None,), name="live-room-settle", daemon=True)
                   for t in translators]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            translators, self._running = list(self._running.values()), {}
        for translator in translators:
            translator.close(timeout=1.0)
