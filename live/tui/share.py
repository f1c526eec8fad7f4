"""``v``: the room's QR code, link and code, for the class to scan (``live --share``); ``V`` there (or
anywhere) gives the room a new code, and ``c`` twice closes it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from live.errors import LiveError
from live.tui.messages import PipelineEvent

if TYPE_CHECKING:
    from textual.app import App

    from live.config import Settings
    from live.room.setup import Share


def share_text(room: Share, closing: bool = False) -> Text:
    """The QR code (black on white, whatever the terminal's colours), the link, the code, who watches."""
    from live.room.qr import qr_lines

    text = Text()
    text.append("Captions for everyone in the room\n\n", style="bold")
    for line in qr_lines(room.url):
        text.append(line, style="black on white")
        text.append("\n")
    text.append("\n")
    text.append(room.url, style="bold cyan")
    text.append(f"\nroom code  {room.pretty_code}     watching  {room.viewers}\n\n")
    if closing:
        text.append("c again closes the room for good (viewers keep what they have) · any other key keeps it",
                    style="bold yellow")
    else:
        text.append("V new code (the old link stops working) · c close the room · Esc back", style="dim")
    return text


class ShareScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,v,q", "dismiss", "back"), Binding("V", "rotate", "new code"),
                Binding("c", "close_room", "close the room")]

    def __init__(self, room: Share) -> None:
        super().__init__()
        self.room = room
        self.closing = False

    def compose(self) -> ComposeResult:
        yield Static(share_text(self.room), id="share")

    def on_mount(self) -> None:
        self.set_interval(1.0, self.redraw)  # who is watching

    def redraw(self) -> None:
        self.query_one("#share", Static).update(share_text(self.room, self.closing))

    def on_key(self, event) -> None:
        if self.closing and event.key != "c":
            self.closing = False
            self.redraw()

    def action_rotate(self) -> None:
        self.app.action_rotate()
        self.redraw()

    def action_close_room(self) -> None:
        if not self.closing:
            self.closing = True
            self.redraw()
            return
        self.app.sharing.close()
        self.dismiss()


class Sharing:
    """The app's side of ``--share``: the room is opened on a worker thread once the screen is up (its
    process takes a second to start), every session event is handed to it, and it ends with the
    session (the viewers get every final and the end even while the screen stays open)."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.room: Share | None = None
        self.ready = False
        self._end: threading.Thread | None = None
        if settings.share:
            from live.room.setup import room_for

            self.room = room_for(settings, notify=lambda notice: app.post_message(PipelineEvent(notice)))

    def publish(self, event: object) -> None:
        room = self.room
        if room is not None:
            room.publish(event)

    def open(self) -> None:
        if self.room is not None:
            self.app.run_worker(self._start, thread=True)

    def _start(self) -> None:
        try:
            url = self.room.start()
        except LiveError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.ready = True
        self.app.call_from_thread(self.app.notify, f"sharing the captions: {url} — v shows the QR code",
                                  title="room", timeout=15)

    def _failed(self, why: str) -> None:
        self.room = None
        self.app.notify(f"the captions are not shared: {why}", severity="error", timeout=30)

    def end(self, error: str | None, wait: float = 0.0) -> None:
        """The session is over: finish the room on a thread; ``wait`` for it that long (quitting)."""
        if self.room is not None and self._end is None:
            self._end = threading.Thread(target=self.room.finish, args=(error,), name="live-room-finish", daemon=True)
            self._end.start()
        if wait and self._end is not None:
            self._end.join(wait)

    def show(self) -> None:
        if self.room is None or not self.ready:
            self.app.notify("not sharing: start live with --share" if self.room is None
                            else "the room is still opening…", timeout=4)
            return
        self.app.push_screen(ShareScreen(self.room))

    def rotate(self) -> None:
        if self.room is not None and self.ready:
            self.room.rotate()
            self.app.notify(f"new room code {self.room.pretty_code}: the old link no longer works", title="room",
                            timeout=8)

    def close(self) -> None:
        if self.room is not None:
            self.room.close()
            self.app.notify("the room is closed; the captions go on here", title="room", timeout=8)
