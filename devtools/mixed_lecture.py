"""Mixed lectures from real clips: a long talk as the lecturer, interrupted by short questions in
other voices, with pauses between — and the truth of who spoke when, for tests and benchmarks.

The talk is cut at its quietest 50 ms near every ``chunk_s`` seconds, so no word is split; each
question (one or more clips of one voice) goes between two pieces with ``pause_s`` of silence on
either side. ``segments`` replays the result through the real VAD, as a live session cuts it, and
``truth_role`` says who held most of a segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16000

# Each voice in shared/audio: the clips that are that voice alone (librivox: one reader).
VOICES: dict[str, tuple[str, ...]] = {
    "ibm08": ("en/ibm_08_ibm_watson_ai_3min.flac",),
    "ibm11": ("en/ibm_11_ibm_culture_2min.flac",),
    "jfk": ("en/jfk.flac",),
    "harvard": ("en/realpython_harvard.flac",),
    "ls1995": ("en/wenet_librispeech-1995-1837-0001.flac",),
    "ls1089": ("en/funasr_cs_example4_librispeech_1089-134686-0001.flac",),
    "librivox": tuple(f"en/pocketsphinx_librivox_{n}.flac" for n in ("0870", "0880", "0890", "0920", "0930")),
    "fwL": ("en/fw_stereo_diarization_L.flac",),
    "fwR": ("en/fw_stereo_diarization_R.flac",),
    "digits": ("en/uberi_english.flac",),
    "aishell": ("zh/wenet_aishell-BAC009S0724W0121.flac",),
    "paddle": ("zh/paddlespeech_zh.flac",),
    "funasr": ("zh/funasr_asr_example.flac",),
    "zhlong": ("zh/funasr_long.flac",),
    "cs1": ("zh/funasr_cs_example1.flac",),
    "cs3": ("zh/funasr_cs_example3.flac",),
}
# ibm_11's first 12 s and its last seconds are other voices or music: its lecture is the middle.
TALK_SPANS: dict[str, tuple[float, float]] = {"ibm11": (12.5, 114.0)}


@dataclass(frozen=True)
class Turn:
    """Who holds the floor from ``start`` to ``end`` (seconds of the mix)."""

    start: float
    end: float
    voice: str
    role: str  # "lecturer" or "audience"


@dataclass(frozen=True)
class MixedLecture:
    """The mix, who holds the floor when, and (where voices overlap) each voice's own track on the
    mix's timeline, from which its reference speech is found."""

    audio: np.ndarray
    turns: tuple[Turn, ...]
    tracks: dict[str, np.ndarray] | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / RATE

    def truth_role(self, start: float, end: float) -> str | None:
        """The role that holds most of ``start``–``end``; None when no turn overlaps it."""
        return _majority(self.turns, start, end, lambda t: t.role)

    def truth_voice(self, start: float, end: float) -> str | None:
        return _majority(self.turns, start, end, lambda t: t.voice)


def _majority(turns, start, end, key) -> str | None:
    held: dict[str, float] = {}
    for turn in turns:
        overlap = min(end, turn.end) - max(start, turn.start)
        if overlap > 0:
            held[key(turn)] = held.get(key(turn), 0.0) + overlap
    return max(held, key=held.get) if held else None


def load(root: Path, clip: str) -> np.ndarray:
    import soundfile

    audio, rate = soundfile.read(root / clip, dtype="float32", always_2d=False)
    if rate != RATE or audio.ndim != 1:
        raise ValueError(f"{clip}: expected 16 kHz mono")
    return audio


def voice_audio(root: Path, voice: str) -> list[np.ndarray]:
    clips = [load(root, clip) for clip in VOICES[voice]]
    if voice in TALK_SPANS:
        begin, end = TALK_SPANS[voice]
        clips = [clip[int(begin * RATE):int(end * RATE)] for clip in clips]
    return clips


def cut_points(talk: np.ndarray, every_s: float, search_s: float = 3.0) -> list[int]:
    """Sample indices near every ``every_s`` seconds where the talk is quietest (50 ms frames)."""
    frame = RATE // 20
    energy = np.array([np.mean(talk[i:i + frame] ** 2) for i in range(0, len(talk) - frame, frame)])
    cuts = []
    at = every_s
    while at + every_s / 2 < len(talk) / RATE:
        lo, hi = int((at - search_s) * 20), int((at + search_s) * 20)
        quiet = lo + int(np.argmin(energy[lo:hi]))
        cuts.append(quiet * frame + frame // 2)
        at = quiet / 20 + every_s
    return cuts


def build(root: Path, lecturers: list[tuple[str, float | None]], questions: list[str], *,
          chunk_s: float = 25.0, pause_s: float = 1.0) -> MixedLecture:
    """A lecture of ``lecturers`` ((voice, seconds or None for all), one after the other, each a
    long-speaking lecturer) cut every ``chunk_s`` seconds, with one question from each voice of
    ``questions`` at the cuts, in order (left-over questions wait for the next cut)."""
    pieces: list[tuple[np.ndarray, str, str]] = []
    for voice, seconds in lecturers:
        talk = np.concatenate(voice_audio(root, voice))
        if seconds is not None:
            talk = talk[:int(seconds * RATE)]
        bounds = [0, *cut_points(talk, chunk_s), len(talk)]
        pieces += [(talk[a:b], voice, "lecturer") for a, b in zip(bounds, bounds[1:])]
    out: list[np.ndarray] = []
    turns: list[Turn] = []
    at = 0
    gap = np.zeros(int(pause_s * RATE), np.float32)
    waiting = list(questions)

    def put(audio: np.ndarray, voice: str, role: str) -> None:
        nonlocal at
        out.append(audio)
        turns.append(Turn(at / RATE, (at + len(audio)) / RATE, voice, role))
        at += len(audio)
        out.append(gap)
        at += len(gap)

    for number, (audio, voice, role) in enumerate(pieces):
        put(audio, voice, role)
        if waiting and number < len(pieces) - 1:
            asker = waiting.pop(0)
            put(np.concatenate(voice_audio(root, asker)[:2]), asker, "audience")
    return MixedLecture(np.concatenate(out), tuple(turns))


def segments(audio: np.ndarray, block_s: float = 0.1):
    """The live VAD's segments of ``audio`` (live.vad.Segmenter with its defaults), fed in blocks."""
    from live.vad import Segmenter

    vad = Segmenter()
    found = []
    block = int(block_s * RATE)
    for i in range(0, len(audio), block):
        found += vad.feed(audio[i:i + block])
    return found + vad.flush()


def activity(audio: np.ndarray, frame_s: float = 0.01, fill_s: float = 0.3) -> np.ndarray:
    """Where ``audio`` is speech, per ``frame_s`` frame (webrtcvad, mode 2, on 30 ms frames, gaps
    under ``fill_s`` filled): the reference a diarization is scored against."""
    import webrtcvad

    vad = webrtcvad.Vad(2)
    step = 480
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    voiced = np.array([vad.is_speech(pcm[i:i + step].tobytes(), RATE) for i in range(0, len(pcm) - step + 1, step)])
    per = np.repeat(voiced, 3)  # 30 ms → three 10 ms frames
    frames = np.zeros(int(np.ceil(len(audio) / RATE / frame_s)), bool)
    frames[:len(per)] = per[:len(frames)]
    on = np.flatnonzero(frames)
    for i in np.flatnonzero((np.diff(on) > 1) & (np.diff(on) <= int(fill_s / frame_s) + 1)):
        frames[on[i]:on[i + 1]] = True
    return frames


def reference(lecture: MixedLecture, frame_s: float = 0.01) -> dict[str, np.ndarray]:
    """Each voice's speech frames in ``lecture`` (its turns, where it is voiced)."""
    n = int(np.ceil(lecture.duration / frame_s))
    if lecture.tracks:
        return {voice: activity(track, frame_s)[:n] for voice, track in lecture.tracks.items()}
    out: dict[str, np.ndarray] = {}
    for turn in lecture.turns:
        a, b = int(round(turn.start / frame_s)), int(round(turn.end / frame_s))
        voiced = activity(lecture.audio[int(turn.start * RATE):int(turn.end * RATE)], frame_s)
        track = out.setdefault(turn.voice, np.zeros(n, bool))
        track[a:a + len(voiced[:b - a])] |= voiced[:b - a]
    return out


def hypothesis(spans: list[tuple[float, float, str]], n: int, frame_s: float = 0.01) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for start, end, who in spans:
        track = out.setdefault(who, np.zeros(n, bool))
        track[int(round(start / frame_s)):int(round(end / frame_s))] = True
    return out


def der(ref: dict[str, np.ndarray], hyp: dict[str, np.ndarray]) -> dict[str, float]:
    """Diarization error rate by frame count, and its parts, as shares of the reference speech:
    ``missed`` speech, ``false_alarm`` (speech found where there is none), ``confusion`` (the wrong
    speaker), ``der`` their sum. Hypothesis speakers are mapped one-to-one onto reference speakers to
    the greatest overlap; no collar; overlapping speech counted."""
    from scipy.optimize import linear_sum_assignment

    n = max(len(track) for track in [*ref.values(), *hyp.values()])
    R = np.stack([np.pad(t, (0, n - len(t))) for t in ref.values()]).astype(np.int64)
    H = np.stack([np.pad(t, (0, n - len(t))) for t in hyp.values()]).astype(np.int64) if hyp else np.zeros((0, n), np.int64)
    overlap = R @ H.T
    rows, cols = linear_sum_assignment(-overlap) if len(H) else ([], [])
    correct = sum(int(overlap[r, c]) for r, c in zip(rows, cols))
    n_ref, n_hyp = R.sum(0), H.sum(0)
    total = max(int(n_ref.sum()), 1)
    missed = int(np.maximum(n_ref - n_hyp, 0).sum())
    false_alarm = int(np.maximum(n_hyp - n_ref, 0).sum())
    confusion = int(np.minimum(n_ref, n_hyp).sum()) - correct
    return {"der": (missed + false_alarm + confusion) / total, "missed": missed / total,
            "false_alarm": false_alarm / total, "confusion": confusion / total}
