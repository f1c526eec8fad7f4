"""Helpers for the translation tests: finals, and a stand-in model on the local server that reads the
request and translates each caption it asks for (``llm_server.responder = translating``)."""

from __future__ import annotations

import re

from live.captions import Caption

KEY = "sk-test-translate-0123456789"


def final(index: int, text: str, start: float | None = None, language: str | None = "en") -> Caption:
    start = float(index * 3) if start is None else start
    return Caption("final", start, start + 2.5, text, language=language, index=index, emitted=start + 3.0)


def asked(body: dict) -> list[tuple[int, str]]:
    """The captions a translation request asks for: (index, text), in the request's order."""
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    return [(int(n), t) for n, t in re.findall(r"^\[(\d+)\] (.*)$", user.split("Translate into", 1)[1], re.M)]


def translating(body: dict) -> str:
    """A stand-in model: each caption back as ``译N：TEXT``, and one glossary entry."""
    lines = [f"[{n}] 译{n}：{text}" for n, text in asked(body)]
    return "\n".join(lines) + "\n= Laplacian => 拉普拉斯算子\n"
