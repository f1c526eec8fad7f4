"""Who said each final of a whole file, knowing all of it (``live transcribe``).

Offline labelling sees every final before it labels any, so it can do what the online labeller
cannot: the online pass (``RoleLabeller``, in the order spoken) finds the voices, then each final is
placed again with the voices' final centres, centres are recomputed, and close voices merged, until
nothing moves. Roles come from the whole file at once: the lecturer is the voice that spoke most,
guests as online (``roles.lecturer_keys``), audience voices numbered by first appearance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from live.speakers.encoder import Partials
from live.speakers.roles import (AUDIENCE, LECTURER, RoleLabeller, RoleOptions, SpeakerLabel, Voice, lecturer_keys,
                                 nearest_voice)

log = logging.getLogger("live.speakers")


def label_finals(finals: Sequence[tuple[int, np.ndarray]], embed: Callable[[np.ndarray], Partials],
                 options: RoleOptions | None = None, passes: int = 6,
                 progress: Callable[[int, int], None] | None = None) -> dict[int, SpeakerLabel]:
    """Labels for ``finals`` ((index, 16 kHz audio), in the order spoken), by index."""
    options = options or RoleOptions()
    parts: list[Partials] = []
    for done, (_, audio) in enumerate(finals):
        parts.append(embed(audio if len(audio) else np.zeros(160, np.float32)))
        if progress is not None:
            progress(done + 1, len(finals))
    return label_embedded([index for index, _ in finals], parts, options, passes)


def label_embedded(indices: list[int], parts: list[Partials], options: RoleOptions,
                   passes: int = 6) -> dict[int, SpeakerLabel]:
    """``label_finals`` once every final is embedded."""
    if not parts:
        return {}
    voice_of = cluster_voices(indices, parts, options, passes)
    return _roles(indices, voice_of, np.array([p.voiced for p in parts]), options)


def cluster_voices(indices: list[int], parts: list[Partials], options: RoleOptions, passes: int = 6) -> np.ndarray:
    """A voice key for each final: the online pass's voices, refined with the whole file in view."""
    online = RoleLabeller(options=options)
    for index, partials in zip(indices, parts):
        online.feed_partials(index, partials)
    voice_of = np.array([key for _, key in online.assignments()])
    seconds = np.array([p.voiced for p in parts])
    trusted = seconds >= options.min_embed_s
    for _ in range(passes):
        keys = sorted(set(voice_of.tolist()))
        centres = np.stack([_centre(parts, seconds, (voice_of == k) & trusted, voice_of == k) for k in keys])
        keys, centres = _merged(keys, centres, options.merge_voices)
        moved = voice_of.copy()
        spoken = [float(seconds[voice_of == k].sum()) for k in keys]
        main = int(np.argmax(spoken))
        for i, partials in enumerate(parts):
            found, _ = nearest_voice(partials, centres, options, main, np.array(spoken))
            if found is not None:
                moved[i] = keys[found]
            elif voice_of[i] not in keys:  # its voice merged away and it is near none: the nearest
                moved[i] = keys[int(np.argmax(centres @ partials.embedding))]
        if np.array_equal(moved, voice_of):
            break
        voice_of = moved
    return voice_of


def _centre(parts: list[Partials], seconds: np.ndarray, chosen: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    use = chosen if chosen.any() else fallback
    total = sum(parts[i].embedding * seconds[i] for i in np.flatnonzero(use))
    norm = float(np.linalg.norm(total))
    return total / norm if norm > 0 else parts[int(np.flatnonzero(use)[0])].embedding


def _merged(keys: list[int], centres: np.ndarray, threshold: float) -> tuple[list[int], np.ndarray]:
    """Voices closer than ``threshold`` kept as the first of them (their centres averaged)."""
    keys, centres = list(keys), list(centres)
    while len(keys) > 1:
        close = np.stack(centres) @ np.stack(centres).T
        np.fill_diagonal(close, -1.0)
        i, j = np.unravel_index(int(np.argmax(close)), close.shape)
        if close[i, j] < threshold:
            break
        i, j = min(i, j), max(i, j)
        mean = centres[i] + centres[j]
        centres[i] = mean / np.linalg.norm(mean)
        del keys[j], centres[j]
    return keys, np.stack(centres)


def _roles(indices: list[int], voice_of: np.ndarray, seconds: np.ndarray, options: RoleOptions) -> dict[int, SpeakerLabel]:
    voices: dict[int, Voice] = {}
    run_key, run = None, 0.0
    for key, secs in zip(voice_of.tolist(), seconds.tolist()):
        voice = voices.setdefault(key, Voice(key, np.zeros(0)))
        voice.seconds += secs
        run = run + secs if key == run_key else secs
        run_key = key
        voice.longest_run = max(voice.longest_run, run)
    main = max(voices.values(), key=lambda v: (v.seconds, -v.key))
    lecturers = lecturer_keys(list(voices.values()), main, options)
    numbers: dict[int, int] = {}
    labels = {}
    for index, key in zip(indices, voice_of.tolist()):
        if key in lecturers:
            labels[index] = SpeakerLabel(index, LECTURER)
        else:
            labels[index] = SpeakerLabel(index, AUDIENCE, numbers.setdefault(key, len(numbers) + 1))
    log.info("%d finals: %d voices, %d lecturer(s)", len(indices), len(voices), len(lecturers & set(voices)))
    return labels
