"""How an API key of ``live serve`` looks, and how it is kept out of every log on both ends."""

from __future__ import annotations

import logging
import re

KEY_IN_TEXT = re.compile(r"lv_[0-9a-f]{12}_[A-Za-z0-9_-]+")


class RedactKeys(logging.Filter):
    """Defence in depth: whatever logs a key by mistake (a client's URL with one in it, a library's
    debug dump of request headers), the secret never reaches a log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "lv_" in message and KEY_IN_TEXT.search(message):
            record.msg, record.args = KEY_IN_TEXT.sub("lv_<redacted>", message), None
        return True


_REDACTING = RedactKeys()


def protect_logs(handler: logging.Handler | None = None) -> None:
    """Redact keys in the loggers that see request headers (websockets logs them at DEBUG), and in
    ``handler`` (the server's own, which every logger reaches)."""
    for name in ("websockets.client", "websockets.server", "websockets.protocol", "uvicorn.error"):
        logger = logging.getLogger(name)
        if _REDACTING not in logger.filters:
            logger.addFilter(_REDACTING)
    if handler is not None and _REDACTING not in handler.filters:
        handler.addFilter(_REDACTING)
