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
from dataclasses import dataclass, field

import numpy as np

from live.errors import ConfigError
from live.speakers.encoder import SAMPLE_RATE, Partials

log = logging.getLogger("live.speakers")

LECTURER = "lecturer"
AUDIENCE = "audience"


@dataclass(frozen=True)
class SpeakerLabel:
    """Who said final ``index``: ``speaker`` is "lecturer" or "audience"; ``voice`` numbers the
    distinct audience voices (None for the lecturer)."""

    index: int
    speaker: str
    voice: int | None = None

    def to_json(self) -> dict:
        return {"type": "speaker", "index": self.index, "speaker": self.speaker, "voice": self.voice}


@dataclass
class RoleOptions:
    """How voices are told apart and given roles.

    Attributes:
        same_voice: cosine (final's embedding to a voice's centre) at or above which the final is that
            voice. Measured on real clips: the lecturer's finals 0.85-0.98 to their centre, other
            voices 0.45-0.68.
        short_same_voice: the same, for finals shorter than ``min_embed_s`` (noisier).
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
    short_same_voice: float = 0.62
    merge_voices: float = 0.86
    min_embed_s: float = 1.2
    takeover: float = 1.5
    guest_min_s: float = 60.0
    guest_share: float = 0.3
    guest_run_s: float = 40.0
    mixed_share: float = 0.5

    def __post_init__(self) -> None:
        for name in ("same_voice", "short_same_voice", "merge_voices"):
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
    embedding: np.ndarray | None = field(default=None, repr=False)


class RoleLabeller:
    """Labels finals by voice and role; ``embed`` maps 16 kHz audio to its ``Partials``."""

    def __init__(self, embed: Callable[[np.ndarray], Partials], options: RoleOptions | None = None) -> None:
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
        partials = self._embed(audio)
        seconds = partials.voiced
        key, vector = self._choose(partials, seconds)
        if seconds >= self.options.min_embed_s or self._voices[key].seconds == 0.0:
            self._voices[key].total = self._voices[key].total + vector * seconds
        self._voices[key].seconds += seconds
        self._finals.append(_Final(index, seconds, key, partials.embedding))
        self._track_run(key, seconds)
        self._merge()
        return self._relabel()

    def enroll(self, audio: np.ndarray) -> list[SpeakerLabel]:
        """The voice in ``audio`` is the lecturer (the L key); returns the labels that changed."""
        if len(audio) < SAMPLE_RATE // 2:
            return []
        partials = self._embed(audio)
        key, vector = self._choose(partials, self.options.min_embed_s)
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

    # --------------------------------------------------------------------------------- policy

    def _choose(self, partials: Partials, seconds: float) -> tuple[int, np.ndarray]:
        """The voice a final belongs to (a new one when none is close) and the vector it adds."""
        if not self._voices:
            return self._new_voice(partials.embedding), partials.embedding
        keys = list(self._voices)
        centres = np.stack([self._voices[k].centre for k in keys])
        whole = centres @ partials.embedding
        best = int(np.argmax(whole))
        short = seconds < self.options.min_embed_s
        threshold = self.options.short_same_voice if short else self.options.same_voice
        if len(partials.vectors) >= 3:  # long enough to hold two voices: its partials vote
            nearest = np.argmax(centres @ partials.vectors.T, axis=0)
            weights = np.diff(partials.spans, axis=1)[:, 0]
            shares = np.bincount(nearest, weights=weights, minlength=len(keys)) / max(weights.sum(), 1e-9)
            top = int(np.argmax(shares))
            if top != best and shares[top] >= self.options.mixed_share:
                mine = partials.vectors[nearest == top].mean(axis=0)
                if float(centres[top] @ (mine / np.linalg.norm(mine))) >= threshold:
                    return keys[top], mine / np.linalg.norm(mine)
        if whole[best] >= threshold:
            return keys[best], partials.embedding
        return self._new_voice(partials.embedding), partials.embedding

    def _new_voice(self, embedding: np.ndarray) -> int:
        key = self._next_key
        self._next_key += 1
        self._voices[key] = Voice(key, np.zeros_like(embedding, dtype=np.float32))
        return key

    def _track_run(self, key: int, seconds: float) -> None:
        self._run_seconds = self._run_seconds + seconds if key == self._run_voice else seconds
        self._run_voice = key
        voice = self._voices[key]
        voice.longest_run = max(voice.longest_run, self._run_seconds)

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
        opts = self.options
        voices = self._voices.values()
        top = max(voices, key=lambda v: (v.seconds, -v.key))
        main = self._voices.get(self._main) if self._main is not None else None
        if main is None or top.seconds > opts.takeover * main.seconds:
            self._main, main = top.key, top
        chosen = {v.key for v in voices if v.pinned or v.longest_run >= opts.guest_run_s
                  or v.seconds >= max(opts.guest_min_s, opts.guest_share * main.seconds)}
        if not any(v.pinned for v in voices):
            chosen.add(main.key)
        return chosen

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

