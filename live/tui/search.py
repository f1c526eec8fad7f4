"""Search in the captions of this session: ``/`` opens a one-line box above the status bar.

Typing searches every row of the session (case-insensitive; any substring, Chinese too), marks the
matches in the caption view and goes to the first hit at or below the top of the view, wrapping to
the oldest; Enter or Down goes to the next hit, Up to the previous one, Esc closes the box and leaves
the view where it is. Rows older than the view's window are read from transcript.jsonl, so a hit from
the first minute of a three-hour lecture is found and jumped to like any other.
"""

from __future__ import annotations

import re
from bisect import bisect_left

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from live.tui.caption_view import CaptionView
from live.tui.widgets import LineBox


def pattern_for(query: str) -> re.Pattern[str] | None:
    """What a typed query matches: its words as typed, any case, runs of spaces as one; None if empty."""
    words = " ".join(query.split())
    return re.compile(re.escape(words), re.IGNORECASE) if words else None


class Search:
    """The hits of one query over a caption view, and which of them the view is on."""

    def __init__(self, view: CaptionView) -> None:
        self.view = view
        self.pattern: re.Pattern[str] | None = None
        self.hits: list[int] = []  # ordinals of the rows that match, oldest first
        self.index: int | None = None  # which hit the view is on
        self._seen = -1  # view.total when the hits were found

    def find(self, query: str) -> None:
        """Search for ``query`` and go to the first hit at or below the top of the view (else the first)."""
        self.pattern = pattern_for(query)
        self._refresh()
        if not self.hits:
            self.index = None
        else:
            i = bisect_left(self.hits, self.view.top_ordinal())
            self.index = i if i < len(self.hits) else 0
        self._show()

    def step(self, by: int) -> None:
        """Go to the next (``by`` 1) or previous (-1) hit, wrapping around; rows added since count too."""
        if self.pattern is None:
            return
        current = self.hits[self.index] if self.index is not None else None
        if self.view.total != self._seen:
            self._refresh()
        if not self.hits:
            self.index = None
        elif current is None:
            self.index = 0 if by > 0 else len(self.hits) - 1
        else:
            i = bisect_left(self.hits, current)
            if by > 0:
                i += 1 if i < len(self.hits) and self.hits[i] == current else 0
            else:
                i -= 1
            self.index = i % len(self.hits)
        self._show()

    def clear(self) -> None:
        self.pattern, self.hits, self.index = None, [], None
        self.view.set_highlight(None)

    @property
    def current(self) -> int | None:
        return self.hits[self.index] if self.index is not None else None

    def describe(self) -> str:
        if self.pattern is None:
            return ""
        if not self.hits:
            return "no match"
        return f"{(self.index or 0) + 1}/{len(self.hits)}"

    def _refresh(self) -> None:
        pattern = self.pattern
        self._seen = self.view.total
        self.hits = [] if pattern is None else [
            n for n, row in self.view.session_rows() if pattern.search(" ".join(row.text.split()))
        ]

    def _show(self) -> None:
        self.view.set_highlight(self.pattern, self.current)
        if self.current is not None:
            self.view.jump_to(self.current)


class SearchBox(LineBox):
    """The one-line search box; it tells the app what was typed and which way to go."""

    DEFAULT_CSS = """
    SearchBox > #search-label {
        width: auto;
        padding: 0 1;
        text-style: bold;
    }
    SearchBox > #search-count {
        width: auto;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("down", "step(1)", "next hit", show=False),
        Binding("up", "step(-1)", "previous hit", show=False),
        Binding("escape", "close", "close", show=False),
    ]

    class Changed(Message):
        """The query is now ``query``."""

        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class Step(Message):
        """Go to the next (``by`` 1) or the previous (-1) hit."""

        def __init__(self, by: int) -> None:
            super().__init__()
            self.by = by

    class Closed(Message):
        """Esc: the box is closed."""

    def compose(self) -> ComposeResult:
        yield Static("/", id="search-label")
        yield Input(placeholder="search this lecture — Enter/↓ next, ↑ previous, Esc closes", id="search-input")
        yield Static("", id="search-count", markup=False)

    def open(self) -> None:
        self._reveal()

    def show_count(self, text: str) -> None:
        self.query_one("#search-count", Static).update(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Step(1))

    def action_step(self, by: int) -> None:
        self.post_message(self.Step(by))

    def action_close(self) -> None:
        self.post_message(self.Closed())
