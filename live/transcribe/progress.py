"""Progress of ``live transcribe`` on stderr, and the warnings held for each file's own line."""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from typing import TextIO

from live.timefmt import mmss

# --- progress -------------------------------------------------------------------------------------


class Progress:
    """Progress of one file at a time on stderr: a redrawn bar on a terminal, else a line every ``step`` %.

    ``message`` prints a line without tearing the bar (it is redrawn below the line).
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None, step: int = 10,
                 clock: Callable[[], float] = time.monotonic, min_redraw_s: float = 0.1) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.step = step
        self._clock = clock
        self._min_redraw = min_redraw_s
        self._label = ""
        self._total: float | None = None
        self._t0 = 0.0
        self._next_mark = 0.0
        self._last_draw = -math.inf
        self._drawn = False
        self._done = 0.0

    def start(self, label: str, total_s: float | None) -> None:
        self._label, self._total = label, total_s if total_s and total_s > 0 else None
        self._t0 = self._clock()
        self._done = 0.0
        self._next_mark = self.step if self._total else 60.0
        self._last_draw = -math.inf
        if not self.tty:
            length = f" ({mmss(self._total)} of audio)" if self._total else ""
            self._line(f"live: {label}: transcribing{length}")
        else:
            self._draw()

    def update(self, done_s: float) -> None:
        # Two clocks report progress: the audio read, and the end of each final decoded after it. A
        # final lags the reading, so the bar only ever moves forward (it went 100 % then 96 %).
        if done_s < self._done:
            return
        self._done = done_s
        if self.tty:
            if self._clock() - self._last_draw >= self._min_redraw:
                self._draw()
            return
        elapsed = self._clock() - self._t0
        if self._total:
            percent = min(100.0, 100.0 * done_s / self._total)
            if percent + 1e-9 < self._next_mark or percent >= 100.0:
                return  # 100 % is said by the caller's closing line
            while self._next_mark <= percent + 1e-9:
                self._next_mark += self.step
            eta = elapsed * (self._total - done_s) / done_s if done_s > 0 else None
            eta_text = f", ETA {mmss(eta)}" if eta is not None else ""
            self._line(f"live: {self._label}: {int(percent)} % ({mmss(done_s)} of {mmss(self._total)}), "
                       f"{mmss(elapsed)} elapsed{eta_text}")
        elif done_s >= self._next_mark:
            self._next_mark = (done_s // 60 + 1) * 60
            self._line(f"live: {self._label}: {mmss(done_s)} of audio done, {mmss(elapsed)} elapsed")

    def message(self, line: str) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False
        self._line(line)
        if self.tty and self._label:
            self._draw()

    def finish(self) -> None:
        """Take the bar off the screen (on a terminal); the caller prints the closing line."""
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self._drawn = False
        self._label = ""

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def render_bar(self, width: int) -> str:
        """The bar line, shorter than ``width``: label, bar, percent, audio done, elapsed time, ETA.

        On a narrow terminal the label is shortened first, then the audio counts and the bar go;
        the percent, elapsed time and ETA stay.
        """
        elapsed = self._clock() - self._t0
        done, total = self._done, self._total
        room = max(1, width - 1)
        if not total:
            line = f"{self._label}  {mmss(done)} of audio  {mmss(elapsed)} elapsed"
            return line if len(line) <= room else line[-room:]
        fraction = min(1.0, done / total)
        eta = f"ETA {mmss(elapsed * (total - done) / done)}" if done > 0 else "ETA --:--"
        essential = f"{fraction * 100:3.0f}%  {mmss(elapsed)} elapsed  {eta}"
        full = f"{fraction * 100:3.0f}%  {mmss(done)}/{mmss(total)}  {mmss(elapsed)} elapsed  {eta}"

        def bar(n: int) -> str:
            filled = int(round(fraction * n))
            return "[" + "#" * filled + "." * (n - filled) + "]"

        short = _shorten_label(self._label, 16)
        for label, tail in ((self._label, full), (short, full), (short, essential), ("", essential)):
            free = room - len(tail) - (len(label) + 1 if label else 0) - 3  # brackets and a space
            if free >= 10:
                return f"{label} {bar(min(30, free))} {tail}".lstrip()
        return essential if len(essential) <= room else essential[:room]

    def _draw(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r\x1b[K" + self.render_bar(width))
        self.stream.flush()
        self._drawn = True
        self._last_draw = self._clock()


def _shorten_label(label: str, keep: int) -> str:
    return label if len(label) <= keep else "…" + label[-(keep - 1):]


class _HeldWarnings(logging.Handler):
    """live's warnings while files are transcribed: the audio stage's are held for the file's own
    line (a damaged file is reported once); the others are printed as they come."""

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.say = say
        self.held: list[str] = []
        self._said: set[str] = set()  # an engine may warn at every decode: once is enough

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "live.audio":
            self.held.append(message)
        elif message not in self._said:
            self._said.add(message)
            self.say(f"live: warning: {message}")


