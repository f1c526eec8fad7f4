"""Final-caption latency from the end of speech, one lever at a time, configurations alternated.

Each run replays the first ``--seconds`` of a real talk in real time through the session core (the
same worker, VAD, captioner and decoder thread as ``live``), with partials on as in the TUI, and
records every final's ``emitted - speech_end``. Configurations are run in turn, ``--rounds`` times,
so that whatever else the two cores are doing falls on all of them alike; medians of the per-run
p50/p95 are printed, with ratios against the first configuration.

    python benchmarks/latency_levers.py --model models/sv-full \\
        base "adapt=250" "window=6" "speculate=180"

A configuration is ``base`` or comma-separated settings: adapt=MS (VadOptions.adapt_floor_ms),
window=S (CaptionOptions.partial_window_s), speculate=MS (CaptionOptions.speculate_ms), silence=MS
(VadOptions.silence_ms), partials=0/1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from live.audio import FileSource, decode_file
from live.captions import Caption, CaptionOptions
from live.config import Settings
from live.session import SessionOptions, build_session
from live.vad import VadOptions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "audio" / "en"


def options_for(spec: str) -> tuple[VadOptions, CaptionOptions]:
    vad: dict = {}
    cap: dict = {}
    for item in filter(None, (spec if spec != "base" else "").split(",")):
        key, _, value = item.partition("=")
        if key == "adapt":
            vad["adapt_floor_ms"] = int(value)
        elif key == "silence":
            vad["silence_ms"] = int(value)
        elif key == "window":
            cap["partial_window_s"] = float(value)
        elif key == "speculate":
            cap["speculate_ms"] = int(value)
        elif key == "partials":
            cap["partials"] = value not in ("0", "false", "no")
        else:
            raise SystemExit(f"unknown lever {key!r} in {spec!r}")
    return VadOptions(**vad), CaptionOptions(**cap)


def run_once(spec: str, clip: Path, engine, reason: str) -> list[float]:
    vad, captions = options_for(spec)
    finals: list[Caption] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(input=clip, session_dir=Path(tmp), record_audio=False)

        def sink(event: object) -> None:
            if isinstance(event, Caption) and event.kind == "final" and event.text:
                finals.append(event)

        session = build_session(settings, sink, SessionOptions(notes="off", vad=vad, captions=captions),
                                open_source=lambda: FileSource(clip, realtime=True), load_engine=lambda _s: (engine, reason))
        session.run()
    return [f.latency for f in finals]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+", help="base, or lever=value[,lever=value...]")
    p.add_argument("--model", type=Path, required=True, help="a SenseVoice folder (its ONNX int8 export is used)")
    p.add_argument("--talk", type=Path, default=SHARED / "ibm_08_ibm_watson_ai_3min.flac")
    p.add_argument("--seconds", type=float, default=90.0)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    engine = OnnxSenseVoiceEngine(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "excerpt.flac"
        audio = decode_file(args.talk)[: int(args.seconds * 16000)]
        sf.write(clip, np.asarray(audio), 16000)
        results: dict[str, list[tuple[float, float, float, int]]] = {c: [] for c in args.configs}
        for round_ in range(args.rounds):
            for spec in args.configs:
                lat = run_once(spec, clip, engine, "bench")
                row = (float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), max(lat), len(lat))
                results[spec].append(row)
                print(f"round {round_ + 1} {spec:24s} p50 {row[0]:.2f} s  p95 {row[1]:.2f} s  max {row[2]:.2f} s  "
                      f"finals {row[3]}", file=sys.stderr, flush=True)
    base = args.configs[0]
    med = {c: (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows),
               statistics.median(r[2] for r in rows), statistics.median(r[3] for r in rows))
           for c, rows in results.items()}
    print(f"\n{args.talk.name}, first {args.seconds:g} s, real time, {args.rounds} alternating rounds, medians "
          "(latency from the end of speech)")
    print(f"{'configuration':26s}{'p50':>8s}{'p95':>8s}{'max':>8s}{'finals':>8s}{'p95 ratio':>11s}")
    for c, (p50, p95, mx, n) in med.items():
        print(f"{c:26s}{p50:8.2f}{p95:8.2f}{mx:8.2f}{n:8.0f}{p95 / med[base][1]:10.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
