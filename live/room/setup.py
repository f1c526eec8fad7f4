"""The room a front end opens for ``--share``: here (``live.room.process.SharedRoom``, a web server in a
process of its own) or, with ``--server``, on the classroom server (``live.room.client.ServerRoom``).
Both look the same to the front end (``Share``); ``announce`` is what it prints when one opens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from live.errors import ConfigError
from live.events import Notice
from live.room.codes import AccessOptions
from live.room.room import RoomOptions

if TYPE_CHECKING:
    from live.config import Settings
    from live.room.share import ShareOptions


class Share(Protocol):
    """What a front end does with its room."""

    @property
    def url(self) -> str: ...

    @property
    def pretty_code(self) -> str: ...

    @property
    def viewers(self) -> int: ...

    def start(self, timeout: float = 30.0) -> str: ...

    def publish(self, event: object) -> None: ...

    def rotate(self) -> str: ...

    def close(self, why: str = "closed") -> None: ...

    def finish(self, error: str | None = None, timeout: float = 5.0) -> bool: ...


def share_options(settings: Settings) -> ShareOptions:
    """Where the room's web server listens; ConfigError (one line) for a bad address or TLS pair."""
    from live.room.share import ShareOptions

    return ShareOptions(host=settings.share_host, port=settings.share_port, tls_cert=settings.tls_cert,
                        tls_key=settings.tls_key, insecure=settings.insecure, access=AccessOptions())


def check_share(settings: Settings) -> None:
    """``--share``'s options, checked before any UI."""
    if settings.server:
        if settings.share_host != "127.0.0.1" or settings.tls_cert or settings.insecure:
            raise ConfigError("with --server the room is on the server, at its address: --share-host, --tls-cert "
                              "and --insecure are the server's (`live serve --host/--tls-cert`)")
        return
    share_options(settings)


def room_options(settings: Settings) -> RoomOptions:
    return RoomOptions(title=settings.share_title or "Live captions", languages=settings.share_language_list)


def room_for(settings: Settings, *, notify: Callable[[Notice], None] | None = None,
             terms: Sequence[str] = ()) -> Share:
    """The room ``settings`` asks for (not started). Translations use ``settings.llm`` and the course's
    ``terms``; the session's own ``--translate`` language comes with its events."""
    llm = settings.llm if settings.share_language_list else None
    if settings.server:
        from live.room.client import ServerRoom

        return ServerRoom(settings.server, settings.api_key_file, room_options(settings), llm=llm, terms=terms,
                          provided=settings.translate, notify=notify)
    from live.room.process import SharedRoom

    return SharedRoom(share_options(settings), room_options(settings), llm=llm, terms=terms,
                      provided=settings.translate, notify=notify)


def announce(share: Share, *, qr: bool) -> list[str]:
    """The lines a front end prints when its room opens: the link, the code, and the QR code."""
    from live.room.qr import qr_ansi

    lines = [f"share: {share.url}", f"room code: {share.pretty_code} (viewers can also open "
                                    f"{share.url.rsplit('/r/', 1)[0]}/ and type it)"]
    if qr:
        lines.append(qr_ansi(share.url))
    return lines
