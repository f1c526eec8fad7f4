"""How speech is found and cut into segments: the VAD's options, checked when made."""

from __future__ import annotations

from dataclasses import dataclass

from live.errors import ConfigError


@dataclass
class VadOptions:
    """How speech is found and cut into segments.

    Attributes:
        aggressiveness: webrtcvad mode, 0 (keeps most audio as speech) to 3 (rejects most noise).
        frame_ms: webrtcvad frame length: 10, 20 or 30 ms.
        start_ms: voiced audio (``start_ratio`` of this window) needed to open a segment.
        start_ratio: share of the frames in the ``start_ms`` window that must be voiced.
        preroll_ms: audio kept before the opening window, so the first syllable is not clipped.
        silence_ms: unvoiced audio that closes a segment.
        tail_ms: audio kept after the last voiced frame of a closed segment (at most ``silence_ms``).
        max_segment_s: longest segment; a longer stretch of speech is cut at its quietest frame.
        cut_search_s: how far back from ``max_segment_s`` that quietest frame is looked for.
        cut_ahead_s: when above 0, once the segment is ``max_segment_s - cut_search_s`` long, a frame
            that is the quietest of the ``cut_search_s`` window ending this long after it is cut then
            (the same choice, made sooner); at ``max_segment_s`` the quietest frame is cut as before.
        shrink_after_s: past this length the silence that closes a segment shrinks, linearly, to
            ``min_silence_ms`` at ``max_segment_s``: a lecturer who never stops for half a second still
            breathes, and closing there beats a forced cut (which lands seconds back and costs latency).
        min_silence_ms: the shortest closing silence, reached at ``max_segment_s``.
        min_segment_ms: shortest voiced span (first to last voiced frame) kept; shorter blips
            (a cough, a click) are dropped.
        energy_floor_dbfs: frames quieter than this are unvoiced whatever webrtcvad says (it
            calls faint steady noise speech); -100 disables the floor.
        adapt_floor_ms: when above 0, the closing silence adapts to the speaker: once enough pauses
            inside speech have been heard, it is their 90th percentile plus a margin, between this
            floor and ``silence_ms`` (a speaker who pauses briefly mid-sentence gets captions sooner).
    """

    aggressiveness: int = 2
    frame_ms: int = 30
    start_ms: int = 90
    start_ratio: float = 0.8
    preroll_ms: int = 300
    silence_ms: int = 500
    tail_ms: int = 150
    max_segment_s: float = 15.0
    # 1.5 s, not 3: on run-on talks (ibm_11) a forced cut's final came up to 2.8 s after the cut point;
    # searching half as far back put p95 at 0.9 s with the same WER (benchmarks/forced_cuts.py).
    cut_search_s: float = 1.5
    # Decided 0.5 s after its frame, not at max_segment_s: on the three IBM talks the same WER (72/974
    # words against a long-form decode) and a forced cut's close lag max 0.53 s instead of 1.39 s.
    cut_ahead_s: float = 0.5
    shrink_after_s: float = 6.0
    min_silence_ms: int = 180
    min_segment_ms: int = 250
    energy_floor_dbfs: float = -55.0
    adapt_floor_ms: int = 0

    def __post_init__(self) -> None:
        def bad(what: str) -> ConfigError:
            return ConfigError(f"VAD setting {what}; fix it in the config or on the command line")

        if self.aggressiveness not in (0, 1, 2, 3):
            raise bad(f"aggressiveness must be 0, 1, 2 or 3 (got {self.aggressiveness})")
        if self.frame_ms not in (10, 20, 30):
            raise bad(f"frame_ms must be 10, 20 or 30 (got {self.frame_ms})")
        if not self.frame_ms <= self.start_ms <= 2000:
            raise bad(f"start_ms must be between frame_ms and 2000 (got {self.start_ms})")
        if not 0.0 < self.start_ratio <= 1.0:
            raise bad(f"start_ratio must be in (0, 1] (got {self.start_ratio})")
        if not 0 <= self.preroll_ms <= 5000:
            raise bad(f"preroll_ms must be between 0 and 5000 (got {self.preroll_ms})")
        if not self.frame_ms <= self.silence_ms <= 10000:
            raise bad(f"silence_ms must be between frame_ms and 10000 (got {self.silence_ms})")
        if not 0 <= self.tail_ms <= self.silence_ms:
            raise bad(f"tail_ms must be between 0 and silence_ms (got {self.tail_ms})")
        if not 1.0 <= self.max_segment_s <= 600.0:
            raise bad(f"max_segment_s must be between 1 and 600 (got {self.max_segment_s})")
        if not 0.0 < self.cut_search_s:
            raise bad(f"cut_search_s must be positive (got {self.cut_search_s})")
        if not 0.0 <= self.cut_ahead_s < self.cut_search_s:
            raise bad(f"cut_ahead_s must be at least 0 and below cut_search_s (got {self.cut_ahead_s})")
        if not 0 <= self.min_segment_ms < self.max_segment_s * 1000:
            raise bad(f"min_segment_ms must be between 0 and max_segment_s (got {self.min_segment_ms})")
        if (self.preroll_ms + self.start_ms) * 2 > self.max_segment_s * 1000:
            raise bad(f"preroll_ms + start_ms must be at most half of max_segment_s (got {self.preroll_ms} + "
                      f"{self.start_ms} ms for {self.max_segment_s} s)")
        if not 0 <= self.adapt_floor_ms <= self.silence_ms:
            raise bad(f"adapt_floor_ms must be between 0 and silence_ms (got {self.adapt_floor_ms})")
        if not -100.0 <= self.energy_floor_dbfs <= 0.0:
            raise bad(f"energy_floor_dbfs must be between -100 and 0 (got {self.energy_floor_dbfs})")
