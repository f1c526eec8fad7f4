"""The bookmark box: ``B`` marks the moment and asks for the student's own words ("exam!").

The moment is taken when B is pressed, not when Enter is: a note takes a few seconds to type, and the
bookmark belongs to what was being said when the student reacted. Enter saves (an empty note saves a
plain bookmark), Esc cancels: no bookmark at all.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from live.timefmt import hms
from live.tui.widgets import LineBox


class NoteBox(LineBox):
    """A one-line box for a bookmark's note; it posts ``Saved`` or ``Cancelled``."""

    DEFAULT_CSS = """
    NoteBox > #note-label {
        width: auto;
        padding: 0 1;
        color: yellow;
        text-style: bold;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "cancel", show=False)]

    class Saved(Message):
        """Enter: bookmark ``at`` (seconds of the session) with ``note``."""

        def __init__(self, at: float, note: str) -> None:
            super().__init__()
            self.at = at
            self.note = note

    class Cancelled(Message):
        """Esc: no bookmark."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.at: float | None = None

    def compose(self) -> ComposeResult:
        yield Static("★", id="note-label")
        yield Input(placeholder="your note for this bookmark — Enter saves, Esc cancels", id="note-input")

    def open(self, at: float) -> None:
        """Ask for the note of a bookmark at ``at``."""
        self.at = at
        self.query_one("#note-label", Static).update(f"★ {hms(at)}")
        self.input.clear()
        self._reveal()

    def close(self) -> None:
        super().close()
        self.at = None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.at is not None:
            self.post_message(self.Saved(self.at, " ".join(event.value.split())))

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())
