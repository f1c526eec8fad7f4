"""``live --share``: one room served by a small web server in the sharer's own process.

``ShareServer`` runs uvicorn on a thread of its own beside the TUI or headless mode; the front end
tees the session's events to ``server.room.publish`` and calls ``close`` when the session is over
(every final reaches the viewers, then the server stops). It listens on 127.0.0.1 unless told an
address; a non-loopback address wants TLS (``tls_cert``/``tls_key``) or an explicit ``insecure``, the
rule ``live serve`` follows.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from live.errors import ConfigError, LiveError
from live.room.codes import AccessOptions, pretty
from live.room.room import Room, Rooms
from live.room.web import RoomWeb, create_app
from live.wire.binding import check_binding

log = logging.getLogger("live.room")

DEFAULT_PORT = 14613


@dataclass
class ShareOptions:
    """Where the room's web server listens.

    Attributes:
        host: the address to listen on (127.0.0.1: this machine only; a LAN address for the room).
        port: the port (0: any free one).
        tls_cert, tls_key: PEM files: serve https (a phone on the LAN then reads it privately).
        insecure: allow a non-loopback ``host`` without TLS (a network you trust).
        public_host: the host name put in the URL, if not ``host`` (e.g. a DNS name; with 0.0.0.0 the
            machine's LAN address is found).
        access: per-address and total connection limits.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False
    public_host: str | None = None
    access: AccessOptions = field(default_factory=AccessOptions)

    def __post_init__(self) -> None:
        check_binding(self.host, self.tls_cert, self.tls_key, self.insecure, verb="share the captions",
                      exposed="the captions (and anything viewers send)")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--share-port must be between 0 and 65535 (got {self.port})")


def lan_address() -> str:
    """This machine's address on its default route (no packet is sent); 127.0.0.1 when there is none."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def base_url(options: ShareOptions, port: int | None) -> str:
    """Where viewers reach the server: the public host, else the bound address (a LAN address for 0.0.0.0)."""
    host = options.public_host or (lan_address() if options.host in ("0.0.0.0", "::") else options.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{'https' if options.tls_cert else 'http'}://{host}:{port}"


class ShareServer:
    """The room and its web server. ``start`` returns the viewer URL; ``close`` ends the room."""

    def __init__(self, room: Room, options: ShareOptions | None = None) -> None:
        self.room = room
        self.options = options or ShareOptions()
        self.web = RoomWeb(Rooms([room]), self.options.access)
        self._server = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return base_url(self.options, self.port)

    @property
    def url(self) -> str:
        """The viewer URL of the room's current code (it changes when the code is rotated)."""
        return f"{self.base_url}/r/{self.room.code}"

    @property
    def code(self) -> str:
        return pretty(self.room.code)

    def start(self, timeout: float = 10.0) -> str:
        """Listen and serve; the viewer URL. ConfigError (one line) when the port cannot be had."""
        import uvicorn

        host = self.options.host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.create_server((host, self.options.port), family=family, backlog=512)
        except OSError as exc:
            raise ConfigError(f"cannot share on {self.options.host}:{self.options.port}: {exc.strerror or exc}; "
                              "pass --share-port N (0: any free port)") from None
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(
            create_app(self.web), log_config=None, access_log=False, lifespan="on", server_header=False,
            ssl_certfile=self.options.tls_cert, ssl_keyfile=self.options.tls_key, timeout_graceful_shutdown=2,
            backlog=512, limit_concurrency=None,
        ))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="live-share",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LiveError(f"the room's web server did not start on {self.options.host}:{self.port}")
            time.sleep(0.01)
        log.info("room: sharing on %s", self.base_url)
        return self.url

    def close(self, error: str | None = None, timeout: float = 5.0) -> bool:
        """End the room (every final reaches the viewers, at most ``timeout`` s), then stop the server.
        True when every viewer had the end."""
        viewers = self.room.viewers
        delivered = self.room.finish(error, timeout=timeout) if self._server is not None else True
        self.stop()
        log.info("room: closed; %d viewer%s %s", viewers, "" if viewers == 1 else "s",
                 "had every caption" if delivered else f"did not all read the end within {timeout:g} s")
        return delivered

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the web server now (the room stays as it is: ``start`` again resumes it, viewers too)."""
        if self._server is None or self._thread is None:
            return
        loop = self.web.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self.web.hang_up)  # streams end properly, so shutdown need not wait
            except RuntimeError:
                pass  # the loop has just closed
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(1.0)
        self._server = None
        self._thread = None
