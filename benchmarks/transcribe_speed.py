"""Real-time factor of `live transcribe`: VAD segments merged into decode batches vs one decode each.

    python benchmarks/transcribe_speed.py [--audio FILE] [--engines whisper,sv-torch,sv-onnx]
                                          [--model DIR] [--repeats 3] [--batch-s 28] [--json OUT]

Each engine is loaded once (one at a time, the previous one freed first) and the file is transcribed
``--repeats`` times in each mode, alternating batched and one-by-one so that a neighbour's load on a
shared machine hits both alike. The whole path is timed (decode of the file, VAD, batching,
recognition), as `live transcribe` runs it; the engine's own share is printed apart. Medians.

Engines: ``whisper`` (the bundled tiny.en), ``sv-torch`` and ``sv-onnx`` (SenseVoice from ``--model``;
the ONNX backend only when its int8 export is already cached in ``MODEL/onnx``: exporting the
full-size model takes ~5 min and ~6.6 GB, which a benchmark must not start on its own).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_AUDIO = REPO.parent / "shared" / "audio" / "en" / "ibm_08_ibm_watson_ai_3min.flac"
DEFAULT_MODEL = Path("/work/models-cache/sv-full")
ENGINES = ("whisper", "sv-torch", "sv-onnx")


def onnx_cached(model_dir: Path) -> bool:
    """The int8 export is there and up to date, so ensure_onnx loads it instead of exporting again.

    The check is ensure_onnx's own (its manifest of source and output hashes), asked ahead of time.
    """
    from live.models.onnx_cache import cached_onnx

    return cached_onnx(model_dir, quantize=True, cache_dir=model_dir / "onnx") is not None


def load(engine: str, model_dir: Path, threads: int | None):
    if engine == "whisper":
        from live.asr.whisper import WhisperEngine

        return WhisperEngine(threads=threads)
    if engine == "sv-torch":
        from live.asr.sensevoice import SenseVoiceEngine

        return SenseVoiceEngine(model_dir, threads=threads)
    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    return OnnxSenseVoiceEngine(model_dir, threads=threads)


def run_once(audio: Path, engine, batch_s: float) -> dict:
    from live.captions import BatchOptions
    from live.session.filejob import FileTranscription

    job = FileTranscription(audio, engine, batching=BatchOptions(max_batch_s=batch_s))
    began = time.perf_counter()
    captions = list(job)
    wall = time.perf_counter() - began
    return {"wall_s": wall, "decode_s": job.decode_s, "audio_s": job.audio_s, "calls": job.batches,
            "segments": job.segments, "captions": len(captions),
            "mean_batch_s": statistics.fmean(job.batch_lengths) if job.batch_lengths else 0.0,
            "words": sum(len(c.text.split()) for c in captions)}


def bench(engine_name: str, audio: Path, model_dir: Path, repeats: int, batch_s: float,
          threads: int | None) -> dict:
    began = time.perf_counter()
    engine = load(engine_name, model_dir, threads)
    load_s = time.perf_counter() - began
    run_once(audio, engine, batch_s)  # warm-up: first-call allocations and caches
    runs: dict[str, list[dict]] = {"batched": [], "one-by-one": []}
    for i in range(repeats):
        order = ("batched", "one-by-one") if i % 2 == 0 else ("one-by-one", "batched")
        for mode in order:
            result = run_once(audio, engine, batch_s if mode == "batched" else 0.0)
            runs[mode].append(result)
            print(f"  {engine_name:8s} {mode:10s} run {i + 1}: {result['wall_s']:.1f} s "
                  f"(RTF {result['wall_s'] / result['audio_s']:.3f}, {result['calls']} calls)", flush=True)
    del engine
    gc.collect()
    summary = {"engine": engine_name, "load_s": load_s}
    for mode, results in runs.items():
        wall = statistics.median(r["wall_s"] for r in results)
        audio_s = results[0]["audio_s"]
        summary[mode] = {
            "median_wall_s": wall, "rtf": wall / audio_s,
            "median_decode_s": statistics.median(r["decode_s"] for r in results),
            "calls": results[0]["calls"], "segments": results[0]["segments"],
            "mean_batch_s": results[0]["mean_batch_s"], "words": results[0]["words"], "audio_s": audio_s,
        }
    summary["speedup"] = summary["one-by-one"]["median_wall_s"] / summary["batched"]["median_wall_s"]
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO, help="the file to transcribe")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {','.join(ENGINES)}")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="SenseVoice folder for sv-torch/sv-onnx")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per engine and mode")
    parser.add_argument("--batch-s", type=float, default=28.0, help="longest batch in batched mode")
    parser.add_argument("--threads", type=int, default=None, help="recognition threads (default: all cores)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.audio.is_file():
        sys.exit(f"no audio at {args.audio} (the shared clips are in ../shared/audio)")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        sys.exit(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    results = []
    for name in engines:
        if name.startswith("sv-") and not (args.model / "model.pt").is_file():
            print(f"skipping {name}: no SenseVoice folder at {args.model}", flush=True)
            continue
        if name == "sv-onnx" and not onnx_cached(args.model):
            print(f"skipping sv-onnx: no cached int8 export in {args.model / 'onnx'} (export it once with "
                  "`live --backend onnx --model ...`; about a minute and ~1.7 GB)", flush=True)
            continue
        print(f"{name}: loading…", flush=True)
        results.append(bench(name, args.audio, args.model, args.repeats, args.batch_s, args.threads))
    print()
    print(f"{args.audio.name}, {args.repeats} runs per mode, medians (whole `live transcribe` path)")
    print(f"{'engine':9s} {'mode':11s} {'wall s':>7s} {'RTF':>6s} {'engine s':>8s} {'calls':>5s} {'batch s':>7s} "
          f"{'words':>5s}")
    for r in results:
        for mode in ("batched", "one-by-one"):
            m = r[mode]
            print(f"{r['engine']:9s} {mode:11s} {m['median_wall_s']:7.1f} {m['rtf']:6.3f} {m['median_decode_s']:8.1f} "
                  f"{m['calls']:5d} {m['mean_batch_s']:7.1f} {m['words']:5d}")
        print(f"{r['engine']:9s} batched is {r['speedup']:.2f}x faster (model load {r['load_s']:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
