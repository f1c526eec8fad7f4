"""What can go wrong talking to the model, one class per thing the user would do about it.

Every class is an ``LLMError`` (``live/errors.py``), so the CLI and the notes pane show its
one-line message as they show any other user-facing error.
"""

from __future__ import annotations

from live.errors import LLMError


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
