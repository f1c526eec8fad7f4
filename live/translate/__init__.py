"""Bilingual captions: each final translated by the LLM (``--translate LANG``), shown under its caption,
saved as its own line in transcript.jsonl and rendered into ``transcript.LANG.srt``/``.vtt``.

``queue`` is the batching policy (no thread, no clock), ``prompt`` what a request says and how its
answer is read (the glossary that keeps the course's terms consistent), ``service`` the thread that
sends the requests; the translated subtitles are the transcript's (``live.transcript.render``).
``translator_for`` builds one from settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from live.llm import LLMSettings
from live.translate.prompt import Glossary, parse_answer, target_name
from live.translate.queue import FILE_OPTIONS, Pending, TranslateOptions, TranslationQueue
from live.translate.service import TranslateStats, Translator


def translator_for(llm: LLMSettings, target: str, *, terms: Sequence[str] = (),
                   notify: Callable | None = None, options: TranslateOptions | None = None) -> Translator:
    """A Translator on the configured provider (``llm.translate_model`` if set, else ``llm.model``), with
    a shorter timeout and fewer retries than the notes: a translation is only worth having soon."""
    from live.llm import client_factory
    from live.notes.prompts import Prompts

    options = options or TranslateOptions()
    settings = replace(llm, model=llm.translate_model or llm.model, timeout_s=min(llm.timeout_s, options.request_timeout_s),
                       max_retries=min(llm.max_retries, options.max_retries))
    return Translator(client_factory(settings), target, options=options, terms=list(terms),
                      prompts=Prompts(settings.prompts_dir), notify=notify)


__all__ = [
    "FILE_OPTIONS", "Glossary", "Pending", "TranslateOptions", "TranslateStats", "TranslationQueue", "Translator",
    "parse_answer", "target_name", "translator_for",
]
