"""Who said each final: the lecturer, or someone in the room — labelled online, revised as it learns.

Policy. Every final's voice is embedded (``encoder``) and joins the nearest known voice when close
enough, else it starts a new one; a voice's centre is the duration-weighted mean of what it said.
Roles follow from the voices:

- the lecturer is the voice that has spoken most so far — the first voice heard, until another has
  said half as much again: enrolled by itself over the first minutes, refined as the lecture goes on;
- a second long-speaking voice (a guest lecturer) is a lecturer too: one that has spoken
  ``guest_min_s`` and at least ``guest_share`` of what the main voice has, or ``guest_run_s`` without
  another voice between. Questions are short, so even a keen asker stays audience;
- ``enroll(audio)`` (the L key: "the voice speaking now is the lecturer") pins that voice as
  lecturer; from then on dominance alone no longer makes one (a voice that opened the session with a
  short announcement stops being the lecturer), the long-run rule still does;
- every other voice is audience, numbered 1, 2, … in the order they were first heard as audience.

A final that holds two voices (a question and the start of its answer) goes to the voice most of its
1.6 s partials are nearest to. A final too short to embed well joins its nearest voice and teaches
it nothing. Two voices that drift together merge.

Each ``feed`` returns the new final's label and any earlier label that changed (a role that moved
when the dominant voice changed, voices that merged): a later label for an index replaces the earlier
one. ``RoleLabeller`` is a plain object (no thread, no clock): the session runs it on its own thread,
a test replays a file through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from live.errors import ConfigError
from live.events import SpeakerLabel  # the label is also a session event and a transcript line: defined there
from live.speakers.encoder import SAMPLE_RATE, Partials

log = logging.getLogger("live.speakers")

LECTURER = "lecturer"
AUDIENCE = "audience"


@dataclass
class RoleOptions:
    """How voices are told apart and given roles.

    Attributes:
        same_voice: cosine (final's embedding to a voice's centre) at or above which the final is that
            voice. Measured on real clips: the lecturer's finals 0.85-0.98 to their centre, other
            voices 0.45-0.68.
        early_slack: how much lower ``same_voice`` (and ``partial_same_voice``) is for a voice just heard,
            shrinking to nothing once it has said ``settle_s``: a centre drawn from a few short
            utterances matches that voice's next ones at 0.55-0.85 (measured on single-speaker clips).
        settle_s: speech after which a voice's centre is trusted as it is.
        short_margin: how much closer another voice must be than the main one to take a final shorter
            than ``min_embed_s`` (such a final never starts a voice of its own).
        partial_same_voice: the same, for one 1.6 s partial of a longer final (the lecturer's partials
            0.74 or more to their centre in 99 % of cases, other voices' 0.66 at most).
        merge_voices: two voices whose centres come this close become one.
        min_embed_s: finals with less voiced audio than this join a voice but never change its centre.
        takeover: how many times the lecturer's speech another voice must have said to become the main
            voice (more than 1, so a long early question does not take the lecture).
        guest_min_s: speech that, with ``guest_share``, makes a voice a lecturer too.
        guest_share: share of the main voice's speech a guest lecturer must reach.
        guest_run_s: speech by one voice, with no other voice between, that makes it a lecturer too.
        mixed_share: share of a final's partials that must point to one known voice for that voice to
            take the final, when the final as a whole points elsewhere.
    """

    same_voice: float = 0.75
    early_slack: float = 0.12
    settle_s: float = 30.0
    short_margin: float = 0.05
    partial_same_voice: float = 0.70
    merge_voices: float = 0.86
    min_embed_s: float = 1.5
    takeover: float = 1.5
    guest_min_s: float = 60.0
    guest_share: float = 0.3
    guest_run_s: float = 40.0
    mixed_share: float = 0.5

    def __post_init__(self) -> None:
        for name in ("same_voice", "partial_same_voice", "merge_voices"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"speakers {name} must be between 0 and 1 (got {getattr(self, name)})")
        if self.merge_voices < self.same_voice:
            raise ConfigError("speakers merge_voices must be at least same_voice")
        if not 0.0 <= self.min_embed_s <= 10.0:
            raise ConfigError(f"speakers min_embed_s must be between 0 and 10 (got {self.min_embed_s})")
        if not 1.0 <= self.takeover <= 10.0:
            raise ConfigError(f"speakers takeover must be between 1 and 10 (got {self.takeover})")
        if not 0.0 < self.guest_share <= 1.0 or self.guest_min_s < 0:
            raise ConfigError("speakers guest_share must be in (0, 1] and guest_min_s not negative")
        if not 5.0 <= self.guest_run_s <= 3600.0:
            raise ConfigError(f"speakers guest_run_s must be between 5 and 3600 (got {self.guest_run_s})")
        if not 0.0 <= self.early_slack < self.partial_same_voice or self.settle_s <= 0:
            raise ConfigError("speakers early_slack must be between 0 and partial_same_voice, settle_s positive")
        if not 0.0 <= self.short_margin <= 0.5:
            raise ConfigError(f"speakers short_margin must be between 0 and 0.5 (got {self.short_margin})")
        if not 0.5 <= self.mixed_share <= 1.0:
            raise ConfigError(f"speakers mixed_share must be between 0.5 and 1 (got {self.mixed_share})")


@dataclass
class Voice:
    """One voice heard: the weighted sum of its embeddings, how long it spoke, its longest run."""

    key: int
    total: np.ndarray
    seconds: float = 0.0
    longest_run: float = 0.0
    pinned: bool = False
    number: int | None = None  # its audience number, once it has been audience

    @property
    def centre(self) -> np.ndarray:
        return self.total / max(float(np.linalg.norm(self.total)), 1e-12)


@dataclass
class _Final:
    index: int
    seconds: float
    voice: int


def nearest_voice(partials: Partials, centres: np.ndarray, options: RoleOptions, main: int | None = None,
                  heard: np.ndarray | None = None) -> tuple[int | None, np.ndarray]:
    """Which of ``centres`` (k, 256) a final is (None: none is close enough), and the vector it adds.

    ``heard``: seconds each voice has said. A voice heard for less than ``settle_s`` has a centre drawn
    from a few utterances, which its own next ones match less well: it is joined more easily.

    A final too short to embed well never starts a voice: it is the main voice's (index ``main``, the
    lecturer's) unless another is clearly closer — half a second says little, a shout ("Ask not!")
    sounds like no one, and in a lecture most short finals are the lecturer's.

    A final long enough to hold two voices (three partials or more) is decided by its partials when
    most of them agree on something other than the final as a whole: each partial votes for its
    nearest voice, or for a new one when none is within ``partial_same_voice``.
    """
    if len(centres) == 0:
        return None, partials.embedding
    whole = centres @ partials.embedding
    best = int(np.argmax(whole))
    young = options.early_slack * np.clip(1.0 - (heard if heard is not None else np.full(len(centres), 1e9))
                                          / options.settle_s, 0.0, 1.0)
    threshold = options.same_voice - young  # per voice
    if partials.voiced < options.min_embed_s:  # too short to found a voice of its own: the main voice unless another is clearly closer
        near_main = main is not None and whole[main] >= whole[best] - options.short_margin
        return (main if near_main else best), partials.embedding
    if len(partials.vectors) >= 3:
        close = centres @ partials.vectors.T
        nearest = np.argmax(close, axis=0)
        nearest = np.where(close.max(axis=0) >= options.partial_same_voice - young[nearest], nearest, len(centres))
        weights = np.diff(partials.spans, axis=1)[:, 0]
        shares = np.bincount(nearest, weights=weights, minlength=len(centres) + 1) / max(float(weights.sum()), 1e-9)
        top = int(np.argmax(shares))
        if shares[top] >= options.mixed_share and (top != best or whole[best] < threshold[best]):
            mine = partials.vectors[nearest == top].mean(axis=0)
            mine = mine / np.linalg.norm(mine)
            if top == len(centres):  # mostly a voice not heard before
                return None, mine
            if float(centres[top] @ mine) >= threshold[top]:
                return top, mine
    return (best if whole[best] >= threshold[best] else None), partials.embedding


def lecturer_keys(voices: list[Voice], main: Voice, options: RoleOptions) -> set[int]:
    """The lecturers among ``voices``, ``main`` being the dominant one (see the module's policy)."""
    floor = max(options.guest_min_s, options.guest_share * main.seconds)
    chosen = {v.key for v in voices if v.pinned or v.longest_run >= options.guest_run_s or v.seconds >= floor}
    if not any(v.pinned for v in voices):
        chosen.add(main.key)
    return chosen


class RoleLabeller:
    """Labels finals by voice and role; ``embed`` maps 16 kHz audio to its ``Partials`` (without it,
    only ``feed_partials`` can be used)."""

    def __init__(self, embed: Callable[[np.ndarray], Partials] | None = None,
                 options: RoleOptions | None = None) -> None:
        self.options = options or RoleOptions()
        self._embed = embed
        self._voices: dict[int, Voice] = {}
        self._finals: list[_Final] = []
        self._shown: dict[int, SpeakerLabel] = {}
        self._next_key = 0
        self._next_number = 1
        self._main: int | None = None  # the dominant voice
        self._run_voice: int | None = None
        self._run_seconds = 0.0

    # ------------------------------------------------------------------------------------ input

    def feed(self, index: int, audio: np.ndarray) -> list[SpeakerLabel]:
        """Label final ``index`` from its audio; returns its label and earlier ones that changed."""
        if len(audio) < SAMPLE_RATE // 10 and self._finals:  # a click: nothing to embed, goes with the last
            self._finals.append(_Final(index, 0.0, self._finals[-1].voice))
            return self._relabel()
        return self.feed_partials(index, self._embedded(audio))

    def feed_partials(self, index: int, partials: Partials) -> list[SpeakerLabel]:
        """``feed`` for a final already embedded."""
        key, vector = self._choose(partials)
        voice = self._voices[key]
        if partials.voiced >= self.options.min_embed_s or voice.seconds == 0.0:
            voice.total = voice.total + vector * partials.voiced
        voice.seconds += partials.voiced
        self._finals.append(_Final(index, partials.voiced, key))
        self._run_seconds = self._run_seconds + partials.voiced if key == self._run_voice else partials.voiced
        self._run_voice = key
        voice.longest_run = max(voice.longest_run, self._run_seconds)
        self._merge()
        return self._relabel()

    def enroll(self, audio: np.ndarray) -> list[SpeakerLabel]:
        """The voice in ``audio`` is the lecturer (the L key); returns the labels that changed."""
        if len(audio) < SAMPLE_RATE // 2:
            return []
        partials = self._embedded(audio)
        key, vector = self._choose(partials)
        voice = self._voices[key]
        voice.total = voice.total + vector * max(partials.voiced, 1.0)
        voice.pinned = True
        log.info("voice %d enrolled as lecturer", key)
        self._merge()
        return self._relabel()

    # ----------------------------------------------------------------------------------- output

    def labels(self) -> dict[int, SpeakerLabel]:
        """Every final's current label, by index."""
        return dict(self._shown)

    def label(self, index: int) -> SpeakerLabel | None:
        return self._shown.get(index)

    def assignments(self) -> list[tuple[int, int]]:
        """(final index, voice key) for every final, in the order fed (for the offline refinement)."""
        return [(final.index, final.voice) for final in self._finals]

    # --------------------------------------------------------------------------------- policy

    def _embedded(self, audio: np.ndarray) -> Partials:
        if self._embed is None:
            raise TypeError("this RoleLabeller has no encoder: use feed_partials")
        return self._embed(audio)

    def _choose(self, partials: Partials) -> tuple[int, np.ndarray]:
        """The voice a final belongs to (a new one when none is close) and the vector it adds."""
        keys = list(self._voices)
        centres = np.stack([self._voices[k].centre for k in keys]) if keys else np.zeros((0, 256), np.float32)
        main = keys.index(self._main) if self._main in keys else None
        heard = np.array([self._voices[k].seconds for k in keys])
        found, vector = nearest_voice(partials, centres, self.options, main, heard)
        if found is not None:
            return keys[found], vector
        key = self._next_key
        self._next_key += 1
        self._voices[key] = Voice(key, np.zeros_like(partials.embedding, dtype=np.float32))
        return key, vector

    def _merge(self) -> None:
        """Voices whose centres are within ``merge_voices`` become the older one."""
        while True:
            keys = [k for k, v in self._voices.items() if v.seconds >= self.options.min_embed_s]
            if len(keys) < 2:
                return
            centres = np.stack([self._voices[k].centre for k in keys])
            close = centres @ centres.T
            np.fill_diagonal(close, -1.0)
            i, j = np.unravel_index(int(np.argmax(close)), close.shape)
            if close[i, j] < self.options.merge_voices:
                return
            keep, gone = sorted((keys[i], keys[j]))
            a, b = self._voices[keep], self._voices.pop(gone)
            a.total, a.seconds = a.total + b.total, a.seconds + b.seconds
            a.longest_run, a.pinned = max(a.longest_run, b.longest_run), a.pinned or b.pinned
            a.number = min((n for n in (a.number, b.number) if n is not None), default=None)
            for final in self._finals:
                final.voice = keep if final.voice == gone else final.voice
            self._run_voice = keep if self._run_voice == gone else self._run_voice
            self._main = keep if self._main == gone else self._main
            log.info("voices %d and %d merged", keep, gone)

    def _lecturers(self) -> set[int]:
        voices = list(self._voices.values())
        top = max(voices, key=lambda v: (v.seconds, -v.key))
        main = self._voices.get(self._main) if self._main is not None else None
        if main is None or top.seconds > self.options.takeover * main.seconds:
            self._main, main = top.key, top
        return lecturer_keys(voices, main, self.options)

    def _relabel(self) -> list[SpeakerLabel]:
        lecturers = self._lecturers()
        changed = []
        for final in self._finals:
            voice = self._voices[final.voice]
            if final.voice in lecturers:
                label = SpeakerLabel(final.index, LECTURER)
            else:
                if voice.number is None:
                    voice.number = self._next_number
                    self._next_number += 1
                label = SpeakerLabel(final.index, AUDIENCE, voice.number)
            if self._shown.get(final.index) != label:
                self._shown[final.index] = label
                changed.append(label)
        return changed
