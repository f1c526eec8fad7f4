"""Where a run-on speaker's forced cut lands: the VAD's ``cut_search_s`` against latency and WER.

    python benchmarks/forced_cuts.py [--search 3.0,1.5,1.0]

A speaker who never pauses for the closing silence is cut when the segment is full, at the quietest
frame of the last ``cut_search_s``: the further back that frame may be, the later its final (the
words up to the cut were spoken that long before the cut was decided). For each setting the three
IBM talks in ../shared are segmented frame by frame, each segment decoded alone by Whisper tiny.en
(as the live path decodes finals), and scored against Whisper's own long-form transcript of the
whole talk (they have no human reference). Printed: segments, WER against that transcript, and the
delay from a segment's end of speech to the moment the VAD closed it (p95, max).
"""

from __future__ import annotations

import argparse
import sys
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
    parser.add_argument("--search", default="3.0,1.5,1.0", help="cut_search_s values, seconds")
    args = parser.parse_args(argv)
    engine, _ = load_engine("whisper", model="tiny.en", language="en")
    settings = [float(x) for x in args.search.split(",")]
    totals = {s: [0, 0, 0, []] for s in settings}
    for name in TALKS:
        audio = decode_file(REPO.parent / "shared" / "audio" / "en" / name)
        reference = " ".join(s.text for s in engine._whisper.transcribe(audio, language="en", beam_size=5)[0])
        for search in settings:
            segmenter, segments, lags = Segmenter(VadOptions(cut_search_s=search)), [], []
            for i in range(0, len(audio), FRAME):
                for segment in segmenter.feed(audio[i:i + FRAME]):
                    segments.append(segment)
                    lags.append((i + FRAME) / SAMPLE_RATE - segment.speech_end)
            segments += segmenter.flush()
            errors, words = wer(reference, " ".join(engine.transcribe(s.audio, "en").text for s in segments))
            total = totals[search]
            total[0] += len(segments)
            total[1] += errors
            total[2] += words
            total[3] += lags
    print(f"{'cut_search_s':>12} {'segments':>9} {'WER vs long-form':>17} {'close lag p95':>14} {'max':>6}")
    for search, (count, errors, words, lags) in totals.items():
        print(f"{search:>12.1f} {count:>9} {f'{errors}/{words} {100 * errors / words:.1f}%':>17} "
              f"{np.percentile(lags, 95):>12.2f} s {max(lags):>5.2f} s")


if __name__ == "__main__":
    main()
