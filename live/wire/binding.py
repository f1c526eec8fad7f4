"""Which addresses a web server of ours may listen on in clear: loopback only. Any other address wants
TLS (``--tls-cert``/``--tls-key``) or an explicit ``--insecure`` — one rule for ``live serve`` and for
``live --share``."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from live.errors import ConfigError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, tls_cert: Path | None, tls_key: Path | None, insecure: bool, *,
                  verb: str = "serve", exposed: str = "keys and audio") -> None:
    """ConfigError (one line) unless listening on ``host`` this way is allowed. ``verb`` and ``exposed``
    say what would be served and what would travel in clear."""
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("TLS needs both --tls-cert FILE and --tls-key FILE")
    for path in (tls_cert, tls_key):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{path}: no such file (given to --tls-cert/--tls-key)")
    if tls_cert is None and not is_loopback(host) and not insecure:
        raise ConfigError(f"refusing to {verb} on {host} without TLS: {exposed} would travel in clear; pass "
                          "--tls-cert FILE --tls-key FILE, or --insecure on a network you trust")
