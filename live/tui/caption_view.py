"""The caption view: finals with their times, wrapped at the width the view has now.

A RichLog keeps each line at the width of the moment it was written; this view keeps the captions
as rows of text and wraps them when it draws (Textual's line API), so opening the notes pane or
resizing the terminal re-wraps every caption. CJK text wraps by display width, a character at a
time, and never starts a line with closing punctuation.

Memory stays flat over a lecture of any length: the view holds a window of rows — the most recent
ones while it follows the captions — and when the reader scrolls past the top of the window, older
rows are read back from transcript.jsonl (the worker writes each row there before it is shown).
Search reads every row the same way (``session_rows``), highlights what matches, and ``jump_to``
brings any row of the session into the window.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from live.captions import Caption
from live.events import Marker, SpeakerLabel, Translation
from live.text import CJK
from live.timefmt import hms
from live.transcript import read_lines

KEEP_ROWS = 300  # rows kept while following the captions
PAGE_ROWS = 200  # rows read back from disk at a time
MAX_ROWS = 1000  # the most rows held while reading back

_TOKEN = re.compile(rf"\s+|[{CJK}]|[^\s{CJK}]+")
_NO_LINE_START = set("，。、；：！？）」』】》〉,.;:!?)%")
_MARKS = {"bookmark": "★ bookmark", "pause": "⏸ paused", "resume": "▶ resumed", "gap": "⏭"}


@dataclass
class Row:
    """One entry of the view: a final caption, or a marker (bookmark, pause, resume)."""

    at: float
    text: str
    kind: str = "final"
    index: int | None = None  # the final's index (a translation attaches to it)
    sub: str | None = None  # a line shown dimmed under the caption (its translation)
    asked: bool = False  # said by someone in the audience (a question from the room), not the lecturer

    @classmethod
    def of(cls, event: object) -> Row | None:
        """The row of a final with words or a marker, shown live or read back from the transcript."""
        if isinstance(event, Caption):
            shown = event.kind == "final" and event.text.strip()
            return cls(event.start, event.text, index=event.index) if shown else None
        if isinstance(event, Marker):
            return cls(event.at, event.note, kind=event.kind)
        return None


_HIT = Style(bgcolor="yellow", color="black")
_CURRENT = Style(bgcolor="dark_orange", color="black", bold=True)


def _marked(line: str, offset: int, spans: list[tuple[int, int]], style: Style, hit: Style) -> list[Segment]:
    """``line`` (at ``offset`` of its row's text) as segments, the parts inside ``spans`` in ``hit``."""
    segments, pos = [], 0
    for start, end in spans:
        a, b = max(start - offset, pos), min(end - offset, len(line))
        if a >= b:
            continue
        if a > pos:
            segments.append(Segment(line[pos:a], style))
        segments.append(Segment(line[a:b], style + hit))
        pos = b
    if pos < len(line) or not segments:
        segments.append(Segment(line[pos:], style))
    return segments


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` cells: at spaces, or between CJK characters; a word longer than a
    line is cut; closing punctuation stays on the line before."""
    width = max(1, width)
    lines: list[str] = []
    line, used = "", 0
    for token in _TOKEN.findall(text):
        size = cell_len(token)
        if token.isspace():
            if line:
                line, used = line + " ", used + 1
            continue
        if used + size > width and line.strip():
            carried = ""
            if token[0] in _NO_LINE_START and len(line.rstrip()) > 1 and not line.endswith(" "):
                carried, line = line[-1], line[:-1]  # keep "。" off the start of a line
            lines.append(line.rstrip())
            line, used = carried, cell_len(carried)
        while size > width:  # a single token wider than the line: cut it by cells
            cut = ""
            for ch in token:
                if cell_len(cut + ch) + used > width:
                    break
                cut += ch
            if not cut and not line:
                cut = token[0]  # a wide glyph in a one-cell view
            lines.append(line + cut)
            line, used = "", 0
            token = token[len(cut):]
            size = cell_len(token)
        line, used = line + token, used + size
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


class CaptionView(ScrollView, can_focus=True):
    """Final captions and markers; follows new ones unless the reader has scrolled back."""

    DEFAULT_CSS = """
    CaptionView { overflow-x: hidden; }
    """

    def __init__(self, transcript: Path | None = None, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.transcript = transcript  # where older rows are read back from
        self.rows: deque[Row] = deque()
        self.first = 0  # ordinal of rows[0] among every row of the session
        self.total = 0  # rows of the session so far (in memory or on disk only)
        self._width = 0
        self._lines: list[list[Strip]] = []  # wrapped strips per row, at _width
        self._starts: list[int] = []  # first line of each row
        self._loading = False
        self._following = True  # at the end, following new captions (until the reader scrolls up)
        self.highlight: re.Pattern[str] | None = None  # what search marks in every row
        self.current_hit: int | None = None  # the ordinal of the row search is on

    # -- what the app calls ------------------------------------------------------------------

    def add(self, event: object) -> None:
        """Show a final or a marker (anything else is ignored)."""
        row = Row.of(event)
        if row is None:
            return
        follow = self._following
        self.total += 1
        if self.first + len(self.rows) != self.total - 1:
            return  # reading back far up: the new row is on disk and comes back on the way down
        self.rows.append(row)
        if follow and len(self.rows) > KEEP_ROWS:
            self._drop_front(len(self.rows) - KEEP_ROWS)
        # Only the new row is wrapped when the width holds: re-wrapping the window per final cost
        # O(rows) each (23 s for a thousand finals).
        if self._width == self._content_width() and len(self._lines) == len(self.rows) - 1:
            self._lines.append(self._render_row(row, self._width, self.total - 1))
            self._restack()
        else:
            self._relayout()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def attach(self, index: int, text: str | None = None, *, asked: bool | None = None) -> None:
        """Put ``text`` (a translation) under the final of ``index``, or mark it as the audience's
        (``asked``: its speaker label), if that final is in view."""
        for row in reversed(self.rows):
            if row.kind == "final" and row.index == index:
                row.sub, row.asked = (text if text is not None else row.sub), (asked if asked is not None else row.asked)
                self._relayout()
                return

    def text_lines(self) -> list[str]:
        """Every wrapped line held now, as plain text (what the view draws, at its width)."""
        self._ensure_width()
        return [strip.text.rstrip() for strips in self._lines for strip in strips]

    def visible_lines(self) -> list[str]:
        return [self.render_line(y).text.rstrip() for y in range(self.scrollable_content_region.height)]

    def session_rows(self) -> Iterator[tuple[int, Row]]:
        """(ordinal, row) for every row of the session, oldest first: those outside the window are read
        from transcript.jsonl one at a time, so a search holds no more rows than the view does."""
        n = 0
        for line in read_lines(self.transcript) if self.transcript is not None else ():
            row = Row.of(line)
            if row is None:
                continue
            yield n, self.rows[n - self.first] if self.first <= n < self.first + len(self.rows) else row
            n += 1
        for i in range(max(0, n - self.first), len(self.rows)):  # held but not on disk (no folder, a full disk)
            yield self.first + i, self.rows[i]

    def set_highlight(self, pattern: re.Pattern[str] | None, current: int | None = None) -> None:
        """Mark what ``pattern`` matches in every row, the row ``current`` (an ordinal) most."""
        self.highlight, self.current_hit = pattern, current
        self._relayout()

    def top_ordinal(self) -> int:
        """The ordinal of the row at the top of the view."""
        return self.first + (self._row_at(int(self.scroll_y)) or 0)

    def jump_to(self, ordinal: int) -> bool:
        """Scroll row ``ordinal`` of the session into view, a third of the way down; a row outside the
        window is read back from transcript.jsonl with the rows around it. False: no such row."""
        if not self.first <= ordinal < self.first + len(self.rows):
            rows = self.saved_rows()
            if not 0 <= ordinal < len(rows):
                return False
            lo = max(0, min(ordinal - PAGE_ROWS // 2, len(rows) - PAGE_ROWS))
            self.rows = deque(rows[lo:lo + PAGE_ROWS])
            self.first = lo  # ``total`` stays: rows on disk and not shown yet are still to be added
            self._relayout()
        self._ensure_width()
        y = self._starts[ordinal - self.first] - self.scrollable_content_region.height // 3
        self._loading = True  # no read-back while jumping: the window is where it should be
        try:
            self.scroll_to(y=max(0, y), animate=False, immediate=True, force=True)
        finally:
            self._loading = False
        return True

    # -- layout ----------------------------------------------------------------------------------

    def _content_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _ensure_width(self) -> None:
        if self._content_width() != self._width or len(self._lines) != len(self.rows):
            # The width changed under us (a scroll bar came, the layout settled): a view that was
            # following the captions must still be at the end once the lines are wrapped again.
            follow = self._following
            self._relayout()
            if follow:
                self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _relayout(self) -> None:
        self._width = self._content_width()
        self._lines = [self._render_row(row, self._width, self.first + i) for i, row in enumerate(self.rows)]
        self._restack()

    def _restack(self) -> None:
        """Where each row's lines start, from the wrapped lines held now."""
        self._starts, n = [], 0
        for strips in self._lines:
            self._starts.append(n)
            n += len(strips)
        self.virtual_size = Size(self._width, n)
        self.refresh()

    def _render_row(self, row: Row, width: int, ordinal: int) -> list[Strip]:
        stamp = f"{hms(row.at)} "
        indent = len(stamp) if width >= len(stamp) + 12 else 0
        dim, base = Style(dim=True), self.rich_style
        if row.kind == "final":  # the audience's speech is marked and coloured; search skips the mark
            mark = "❓ " if row.asked else ""
            body, style, own = mark + " ".join(row.text.split()), Style(color="cyan") if row.asked else Style(), len(mark)
        else:
            mark, note = _MARKS.get(row.kind, row.kind), " ".join(row.text.split())
            mark += (" — " if row.kind == "bookmark" else " ") if note else ""  # a student's note set apart
            body, style, own = mark + note, Style(bold=True, color="yellow"), len(mark)
        spans = [m.span() for m in self.highlight.finditer(body, own)] if self.highlight is not None else []
        hit = base + (_CURRENT if ordinal == self.current_hit else _HIT)
        strips, pos = [], 0
        for i, line in enumerate(wrap(body, width - indent)):
            lead = (stamp if i == 0 else " " * indent) if indent else ""
            at = body.find(line, pos)  # each wrapped line is a piece of the body, in order
            at = pos if at < 0 else at
            pos = at + len(line)
            segments = [Segment(lead, base + dim), *_marked(line, at, spans, base + style, hit)]
            strips.append(Strip(segments).extend_cell_length(width, base))
        if row.sub:
            for line in wrap(row.sub, width - indent):
                segments = [Segment(" " * indent, base), Segment(line, base + Style(dim=True, italic=True))]
                strips.append(Strip(segments).extend_cell_length(width, base))
        return strips

    def on_resize(self) -> None:
        top = self._row_at(int(self.scroll_y))
        follow = self._following
        self._relayout()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        elif top is not None and top < len(self._starts):
            self.scroll_to(y=self._starts[top], animate=False, immediate=True, force=True)

    def _row_at(self, line: int) -> int | None:
        if not self._starts:
            return None
        return max(0, bisect_right(self._starts, line) - 1)

    def render_line(self, y: int) -> Strip:
        self._ensure_width()
        line = int(self.scroll_y) + y
        row = self._row_at(line)
        if row is None or row >= len(self._lines):
            return Strip.blank(self._width, self.rich_style)
        strips = self._lines[row]
        offset = line - self._starts[row]
        return strips[offset] if 0 <= offset < len(strips) else Strip.blank(self._width, self.rich_style)

    # -- reading back -----------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Following or not is where the reader left the view, not where a resize left the offset:
        # the partial line growing under the view must not make it stop following.
        self._following = new_value >= self.max_scroll_y - 0.5
        if self._loading:
            return
        if new_value <= 0 and self.first > 0:
            self._load_before()
        elif new_value >= self.max_scroll_y and self.first + len(self.rows) < self.total:
            self._load_after()

    def saved_rows(self) -> list[Row]:
        """Every row of the session as transcript.jsonl holds it, each translation under its caption."""
        if self.transcript is None:
            return []
        rows: list[Row] = []
        finals: dict[object, Row] = {}
        for line in read_lines(self.transcript):
            if isinstance(line, Translation) and line.index in finals:
                finals[line.index].sub = line.text or None  # read back under its caption
            elif isinstance(line, SpeakerLabel) and line.index in finals:
                finals[line.index].asked = line.speaker == "audience"
            elif (row := Row.of(line)) is not None:
                rows.append(row)
                if row.kind == "final":
                    finals[row.index] = row
        return rows

    def _load_before(self) -> None:
        rows = self.saved_rows()
        lo = max(0, self.first - PAGE_ROWS)
        older = rows[lo:self.first]
        if not older:
            return
        self._loading = True
        try:
            anchor = self._starts[0] if self._starts else 0
            for row in reversed(older):
                self.rows.appendleft(row)
            self.first = lo
            if len(self.rows) > MAX_ROWS:
                for _ in range(len(self.rows) - MAX_ROWS):
                    self.rows.pop()
            self._relayout()
            # The line that was on top stays on top.
            self.scroll_to(y=self._starts[len(older)] - anchor, animate=False, immediate=True, force=True)
        finally:
            self._loading = False

    def _load_after(self) -> None:
        rows = self.saved_rows()
        hi = self.first + len(self.rows)
        newer = rows[hi:hi + PAGE_ROWS]
        self._loading = True
        try:
            top_line = int(self.scroll_y)
            self.rows.extend(newer)
            if hi + len(newer) >= len(rows):
                self.total = max(self.total, len(rows))
            dropped = self._drop_front(max(0, len(self.rows) - MAX_ROWS))
            self._relayout()
            self.scroll_to(y=max(0, top_line - dropped), animate=False, immediate=True, force=True)
        finally:
            self._loading = False

    def _drop_front(self, count: int) -> int:
        """Drop the oldest ``count`` rows; returns how many lines they took."""
        lines = 0
        for _ in range(min(count, len(self.rows))):
            self.rows.popleft()
            if self._lines:
                lines += len(self._lines.pop(0))
            self.first += 1
        return lines

    def load_saved(self) -> None:
        """Show what the session's transcript already holds (a resumed session), its last rows only."""
        rows = self.saved_rows()
        self.total = len(rows)
        self.first = max(0, len(rows) - KEEP_ROWS)
        self.rows = deque(rows[self.first:])
        self._relayout()
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
