"""``live --headless``: captions on stdout for scripts and benchmarks, messages on stderr.

Text mode prints each final as ``[hh:mm:ss] text``. ``--json`` prints one JSON object a line, in the
stable format of ``Caption.to_json`` (``type``, ``start``, ``end``, ``text``, ``language``, ``emotion``,
``events``, ``emitted``, ``index``); ``--partials`` adds the partials.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from live.captions import Caption
from live.pipeline import EngineState, Finished, Notice
from live.timefmt import hms


class HeadlessPrinter:
    """The sink of a headless pipeline."""

    def __init__(self, *, as_json: bool, partials: bool, out: TextIO | None = None, err: TextIO | None = None):
        self.as_json = as_json
        self.partials = partials and as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.finished: Finished | None = None

    def __call__(self, event: object) -> None:
        if isinstance(event, Caption):
            self._caption(event)
        elif isinstance(event, EngineState):
            if event.state != "loading" or event.message.startswith("download"):
                print(f"live: {event.message}", file=self.err, flush=True)
        elif isinstance(event, Notice):
            print(f"live: {event.message}", file=self.err, flush=True)
        elif isinstance(event, Finished):
            self.finished = event

    def _caption(self, caption: Caption) -> None:
        if caption.kind == "partial" and not self.partials:
            return
        if not caption.text:
            return
        if self.as_json:
            line = json.dumps(caption.to_json(), ensure_ascii=False)
        else:
            line = f"[{hms(caption.start)}] {caption.text}"
        print(line, file=self.out, flush=True)
