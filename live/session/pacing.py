"""The lag governor applied to one session: the captioner's options shed or restored, and a faster
engine standing in for the session's own while the captions catch up (``live.session.governor``
decides; this carries it out, between two decodes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from live.events import EngineState, Notice
from live.session.governor import FASTER_ENGINE, GovernorOptions, LagGovernor

if TYPE_CHECKING:
    from live.asr.base import Engine
    from live.captions import Captioner
    from live.session.loading import EngineLoader

# (the running engine, the session language) -> the loader of a faster engine for it, or None
FasterEngine = Callable[["Engine", "str | None"], "EngineLoader | None"]


class Pacer:
    """``tick`` each status round: the events to show and, at the last step, a loader to start."""

    def __init__(self, captioner: Captioner, options: GovernorOptions | None = None,
                 faster_engine: FasterEngine | None = None) -> None:
        self.captioner = captioner
        self.governor = LagGovernor(options)
        self.own_captions = captioner.options  # what the governor sheds from and restores to
        self.own_engine: Engine | None = None  # the session's engine while a faster one stands in
        self._faster_engine = faster_engine

    def tick(self, now: float, lag: float) -> tuple[list[object], EngineLoader | None]:
        governor, engine = self.governor, self.captioner.engine
        faster = None
        if self._faster_engine is not None and engine is not None and governor.level >= FASTER_ENGINE - 1:
            faster = self._faster_engine(self.own_engine or engine, self.captioner.language)
        governor.faster_engine = faster is not None or self.own_engine is not None
        change = governor.observe(now, lag)
        if change is None:
            return [], None
        self.captioner.options = governor.captions(self.own_captions)
        segmenter = self.captioner.segmenter
        segmenter.limit(governor.max_segment_s(segmenter.options.max_segment_s))
        events: list[object] = [Notice("information", change.describe(lag))]
        if change.level == FASTER_ENGINE and faster is not None:
            self.own_engine = engine
            return events, faster
        if change.level == FASTER_ENGINE - 1 and self.own_engine is not None:
            own, self.own_engine = self.own_engine, None
            self.captioner.engine = own
            events.append(EngineState("ready", f"back to {own.model}", own.name, own.model))
        return events, None

    @property
    def standing_in(self) -> bool:
        """Whether a faster engine is wanted in place of the session's own right now."""
        return self.own_engine is not None
