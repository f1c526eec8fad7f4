"""Where the model is and how to reach it: ``LLMSettings`` from the ``[llm]`` table, and the API key.

The key is never read from a flag or a config value, only from the environment or a file readable by
its owner alone, and never shown beyond its last four characters.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from live.errors import ConfigError, LLMError
from live.files import read_key_file
from live.llm.errors import NoAPIKey

DEEPSEEK_BASE_URL = "https://api.deepseek.com"
DEFAULT_MODEL = "deepseek-flash"
# DeepSeek may think before answering unless told not to: minutes of latency for a summary.
DEEPSEEK_EXTRA_BODY: dict[str, Any] = {"thinking": {"type": "disabled"}}


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
        translate_model: the model for ``--translate`` (same endpoint and key); None means ``model``.
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
    translate_model: str | None = None

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
    if name == "translate_model":
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise bad
        return value.strip()
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
    if settings.api_key_file is None:
        return None
    return read_key_file(settings.api_key_file, "llm.api_key_file", error=NoAPIKey, unsafe=LLMError,
                         hint="put the API key in it")


def key_hint(settings: LLMSettings) -> str:
    """One line telling the user how to give a key."""
    if settings.is_deepseek:
        return "no API key: set DEEPSEEK_API_KEY or LIVE_LLM_API_KEY (or llm.api_key_file)"
    return f"no API key for {settings.base_url}: set LIVE_LLM_API_KEY (or llm.api_key_file)"


def mask_key(key: str) -> str:
    """What may be shown of a key: its last four characters at most."""
    return "***" + key[-4:] if len(key) >= 16 else "***"
