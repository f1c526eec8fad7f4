"""The lag governor: when captions fall behind the speech, shed work in steps; take it back once caught up.

The session knows its lag — how long the oldest speech not yet captioned has waited since it was said
(or audio not yet through the VAD) — and the governor turns it into a level of service, one step at a
time, each said on the status bar:

    0 full          partials as fast as the decoder allows
    1 slower        a partial only after a second of new speech
    2 tail          partials decode only the last few seconds of the open segment
    3 finals only   no partials: every decode goes to a final
    4 shorter       segments cut at 8 s instead of 15: a final decodes in about half the time, and
                    a run-on speaker's words wait less for their cut (at some cost in accuracy:
                    on the three IBM talks, WER 7.4 % with 15 s segments, 8.1 % with 10, 11.3 % with 8)
    5 faster engine a faster engine for the session's language, where one exists (tiny.en for English)

A step down is taken when the lag passes ``shed_s``; a step back up once it has stayed under
``restore_s`` for ``calm_s`` (longer before the engine comes back: ``engine_calm_s``). After any change
the governor waits ``settle_s`` for it to show. A step that has to be shed again soon after it came
back waits twice as long the next time (up to ``max_backoff`` times), so a machine on the edge does not
flap between two levels. Finals are never shed: the captions only get late.

A plain object with no thread and no clock of its own: feed it ``observe(now, lag)`` (stream seconds)
and apply what it returns, as the worker does; tests drive it with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from live.captions import CaptionOptions
from live.errors import ConfigError

LEVELS = ("full", "slower partials", "partials at the end only", "finals only", "shorter segments",
          "faster engine")
FULL, SLOWER, TAIL, FINALS_ONLY, SHORTER, FASTER_ENGINE = range(len(LEVELS))


@dataclass(frozen=True)
class GovernorOptions:
    """When to shed work and when to take it back.

    Attributes:
        shed_s: lag (seconds) past which the next step is shed.
        restore_s: lag under which the calm counts ...
        calm_s: ... and how long it must last before a step comes back.
        engine_calm_s: the same, before a faster engine gives way to the session's own again.
        settle_s: after any change, how long to wait before judging again (the change takes that to show).
        slower_growth_s: at "slower partials", new speech a partial waits for.
        tail_window_s: at "partials at the end only", the seconds of the open segment a partial decodes.
        short_segment_s: at "shorter segments", the longest segment.
        max_backoff: the most the calm before a step comes back grows when that step keeps being shed.
    """

    shed_s: float = 1.5
    restore_s: float = 0.8
    calm_s: float = 6.0
    engine_calm_s: float = 60.0
    settle_s: float = 2.0
    slower_growth_s: float = 1.0
    tail_window_s: float = 4.0
    short_segment_s: float = 8.0
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.restore_s < self.shed_s or min(self.calm_s, self.engine_calm_s, self.settle_s) < 0:
            raise ConfigError("governor: 0 < restore_s < shed_s, and calm_s, engine_calm_s, settle_s >= 0")
        if self.short_segment_s < 2.0:
            raise ConfigError("governor: short_segment_s must be at least 2 s")


@dataclass(frozen=True)
class Change:
    """A step taken: the new level, its name for the status bar, whether it sheds or restores, and the
    level it left."""

    level: int
    shed: bool
    previous: int = FULL

    @property
    def name(self) -> str:
        return LEVELS[self.level]

    def describe(self, lag_s: float) -> str:
        if self.shed:
            return f"captions {lag_s:.1f} s behind: {self.name} until caught up"
        return f"caught up: {LEVELS[self.previous]} → {self.name}"


class LagGovernor:
    """Levels of service from the lag. ``faster_engine``: whether a faster engine exists to step to;
    ``shorter_segments``: whether shorter segments would make finals sooner (not for an engine whose
    decode costs about the same whatever the length: Whisper decodes at least a 15 s window, and
    shorter segments only made it more decodes — the Mandarin demo on a busy core, p95 2.0 → 2.5 s)."""

    def __init__(self, options: GovernorOptions | None = None, *, faster_engine: bool = False,
                 shorter_segments: bool = True) -> None:
        self.options = options or GovernorOptions()
        self.faster_engine = faster_engine
        self.shorter_segments = shorter_segments
        self.level = FULL
        self.deepest = FULL  # the lowest level reached (for the session's stats)
        self.steps = 0  # changes made, both ways
        self._changed_at: float | None = None
        self._calm_since: float | None = None
        self._restored_at: float | None = None
        self.backoff = 1.0  # how many times calm_s a step now waits before it comes back

    @property
    def name(self) -> str:
        return LEVELS[self.level]

    @property
    def deepest_name(self) -> str | None:
        return None if self.deepest == FULL else LEVELS[self.deepest]

    @property
    def shed(self) -> str | None:
        """What is shed now, for the status bar (None: nothing)."""
        return None if self.level == FULL else LEVELS[self.level]

    @property
    def usable(self) -> list[int]:
        """The levels there are to step through now, in order."""
        return [FULL, SLOWER, TAIL, FINALS_ONLY] + [SHORTER] * self.shorter_segments \
            + [FASTER_ENGINE] * self.faster_engine

    @property
    def floor(self) -> int:
        return self.usable[-1]

    def observe(self, now: float, lag_s: float) -> Change | None:
        """Take the lag at stream time ``now``; the change to apply, if one is due."""
        o = self.options
        if lag_s >= o.restore_s:
            self._calm_since = None
        elif self._calm_since is None:
            self._calm_since = now
        if self._changed_at is not None and now - self._changed_at < o.settle_s:
            return None
        if lag_s > o.shed_s and self.level < self.floor:
            return self._step(now, min(x for x in self.usable if x > self.level), shed=True)
        if self._calm_since is not None:
            calm = (o.engine_calm_s if self.level == FASTER_ENGINE else o.calm_s) * self.backoff
            if self.level > FULL and now - self._calm_since >= calm:
                return self._step(now, max(x for x in self.usable if x < self.level), shed=False)
            if self.level == FULL and now - self._calm_since >= o.engine_calm_s:
                self.backoff = 1.0  # a long calm at full service: the machine has room again
        return None

    def _step(self, now: float, level: int, *, shed: bool) -> Change:
        if shed and self._restored_at is not None and now - self._restored_at < 2 * self.options.calm_s * self.backoff:
            self.backoff = min(self.options.max_backoff, self.backoff * 2)  # it came back too soon
        if not shed:
            self._restored_at = now
        previous, self.level = self.level, level
        self.deepest = max(self.deepest, level)
        self.steps += 1
        self._changed_at = now
        self._calm_since = None  # the new level earns its own calm
        return Change(level, shed, previous)

    def max_segment_s(self, own: float, level: int | None = None) -> float:
        """The longest segment at this level (or ``level``), from the session's own."""
        level = self.level if level is None else level
        return min(own, self.options.short_segment_s) if level >= SHORTER else own

    def captions(self, base: CaptionOptions, level: int | None = None) -> CaptionOptions:
        """The captioner's options at this level (or ``level``), from the session's own ``base``."""
        level = self.level if level is None else level
        if level == FULL:
            return base
        base = replace(base, speculate_cuts=False)  # a cut decoded ahead may be thrown away: shed first
        if not base.partials:
            return base
        if level == SLOWER:
            return replace(base, min_growth_s=max(base.min_growth_s, self.options.slower_growth_s))
        if level == TAIL:
            window = self.options.tail_window_s if base.partial_window_s <= 0 else \
                min(base.partial_window_s, self.options.tail_window_s)
            return replace(base, min_growth_s=max(base.min_growth_s, self.options.slower_growth_s),
                           partial_window_s=window)
        return replace(base, partials=False)
