"""The partial caption, the problem line and the status bar (the caption view has its own module)."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Input, Static

from live.captions import Caption
from live.events import Status
from live.timefmt import hms

BARS = " ▁▂▃▄▅▆▇█"


def level_meter(dbfs: float, width: int = 8) -> str:
    """A bar of ``width`` cells for -60..0 dBFS."""
    frac = min(1.0, max(0.0, (dbfs + 60.0) / 60.0))
    cells = frac * width
    full = int(cells)
    part = BARS[int((cells - full) * (len(BARS) - 1))] if full < width else ""
    return ("█" * full + part).ljust(width)


class PartialLine(Static):
    """The open segment's current guess, dimmed, replaced by each new partial."""

    def show(self, caption: Caption | None) -> None:
        self.update(f"… {caption.text}" if caption is not None and caption.text else "")


class StatusBar(Static):
    """Level meter, VAD state, engine and model, language, elapsed time, latency, overflows."""

    status: reactive[Status | None] = reactive(None, always_update=True)
    engine: reactive[str] = reactive("loading model…")
    language: reactive[str] = reactive("auto")

    def render(self) -> Text:
        # Most important first: a narrow terminal cuts from the right.
        s = self.status
        parts: list[tuple[str, str] | str] = []
        if s is None:
            parts.append(("○ starting", "dim"))
        else:
            if s.paused:
                parts.append(("⏸ paused", "bold yellow"))
            elif s.in_speech:
                parts.append(("● speech", "bold green"))
            else:
                parts.append(("○ quiet ", "dim"))
            parts += [" ", (level_meter(s.level_dbfs, 6), "green"), " │ ", hms(s.clock)]
            parts += [" │ lat ", f"{s.latency:.1f}s" if s.latency is not None else "–"]
            if s.behind:
                parts += [" │ ", (f"behind {s.behind_s:.0f}s", "bold red")]
            if s.shed:
                parts += [" │ ", (s.shed, "yellow")]
        parts += [" │ ", (self.engine, "cyan"), " │ ", self.language]
        if s is not None:
            parts += [" │ ovf ", (str(s.overflows), "bold red" if s.overflows else "")]
        return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")


class ProblemLine(Static):
    """What stopped (recognition, the microphone, saving), in one line that stays until it is fixed
    or the session ends: a student who looks up a minute later still sees it."""

    def show(self, text: str | None) -> None:
        self.update(text or "")
        self.display = bool(text)


class LineBox(Horizontal):
    """A one-line box above the status bar with one Input (search, a bookmark's note): hidden until
    opened; subclasses add their label and messages."""

    DEFAULT_CSS = """
    LineBox {
        display: none;
        height: 1;
        background: $panel;
    }
    LineBox.-open {
        display: block;
    }
    LineBox > Input, LineBox > Input:focus {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0;
        background: $panel;
    }
    """

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    def _reveal(self) -> None:
        self.add_class("-open")
        self.input.focus()

    def close(self) -> None:
        self.remove_class("-open")
