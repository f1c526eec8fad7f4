"""A thin provider layer over the ``openai`` client: settings, the API key, streaming with retries.

Any OpenAI-compatible chat-completions endpoint works (DeepSeek by default, OpenAI, Ollama, vLLM,
llama.cpp, Qwen, ...). ``errors`` holds what can go wrong, ``settings`` where the model is and the
key, ``client`` the requests themselves. ``openai`` is imported on the first request only.
"""

from live.errors import LLMError
from live.llm.client import (
    RETRY_AFTER_CAP_S,
    RETRY_BASE_S,
    RETRY_CAP_S,
    LLMClient,
    Message,
    Usage,
    client_factory,
    estimate_tokens,
)
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
from live.llm.settings import (
    DEEPSEEK_BASE_URL,
    DEEPSEEK_EXTRA_BODY,
    DEFAULT_MODEL,
    LLMSettings,
    key_hint,
    mask_key,
    resolve_api_key,
)

__all__ = [
    "DEEPSEEK_BASE_URL", "DEEPSEEK_EXTRA_BODY", "DEFAULT_MODEL", "RETRY_AFTER_CAP_S", "RETRY_BASE_S",
    "RETRY_CAP_S", "AuthError", "BadRequest", "BalanceError", "Cancelled", "ConnectionFailed",
    "IncompleteResponse", "LLMClient", "LLMError", "LLMSettings", "LLMTimeout", "Message", "NoAPIKey",
    "RateLimited", "ServerError", "Usage", "client_factory", "estimate_tokens", "key_hint", "mask_key",
    "resolve_api_key",
]
