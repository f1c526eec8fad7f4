"""The int8 lever of the latency issue: QUInt8 (what ships) against QInt8 with ``reduce_range``.

    python benchmarks/int8_variants.py --model models/sv-full [--lengths 5,10] [--rounds 7]

Quantizes the folder's fp32 graph (``onnx/model.onnx``, built by ``live models prepare``) a second
way into a temporary folder, then times one encoder call per variant and length, variants alternated
on every round so background load falls on all alike. Correctness is the cosine and the argmax
agreement of each variant's CTC logits against fp32 on the same real speech: with random weights
that is the only measure of "correct" there is, and plain QInt8 without reduce_range fails it on
CPUs without VNNI (onnx_cache.Quantization).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from asr_speed import speech  # noqa: E402  (real speech from ../shared, cut to length)
from live.models.onnx_build import _quantize  # noqa: E402
from live.models.onnx_cache import FP32_NAME, INT8_NAME, Quantization  # noqa: E402
from live.asr.onnx_engine import WITH_ITN, _language_id, open_session  # noqa: E402


def call(sess, feats: np.ndarray) -> np.ndarray:
    logits, lengths = sess.run(None, {
        "speech": feats[None].astype(np.float32),
        "speech_lengths": np.array([feats.shape[0]], dtype=np.int32),
        "language": np.array([_language_id("auto")], dtype=np.int32),
        "textnorm": np.array([WITH_ITN], dtype=np.int32),
    })
    return logits[0, : int(lengths[0])]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--lengths", default="5,10")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    onnx_dir = args.model / "onnx"
    fp32 = onnx_dir / FP32_NAME
    if not fp32.exists():
        raise SystemExit(f"error: {fp32} is missing: run `live models prepare --model {args.model}` first")
    from live.asr.frontend import Frontend

    frontend = Frontend.from_model_dir(args.model)
    lengths = [float(x) for x in args.lengths.split(",")]
    feats = {length: frontend(speech(length)) for length in lengths}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        _quantize(fp32, work, Quantization(weight_type="QInt8", reduce_range=True))
        print(f"quantized QInt8+reduce_range in {time.perf_counter() - t0:.0f} s", flush=True)
        variants = {"fp32": open_session(fp32, args.threads),
                    "QUInt8 (shipped)": open_session(onnx_dir / INT8_NAME, args.threads),
                    "QInt8 reduce_range": open_session(work / INT8_NAME, args.threads)}
        reference = {length: call(variants["fp32"], f) for length, f in feats.items()}
        times: dict[tuple[str, float], list[float]] = {}
        names = list(variants)
        for name in names:  # warm-up
            for f in feats.values():
                call(variants[name], f)
        for round_ in range(args.rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                for length, f in feats.items():
                    t = time.perf_counter()
                    call(variants[name], f)
                    times.setdefault((name, length), []).append(time.perf_counter() - t)
        print(f"\n{'variant':<20} {'length':>6} {'median s':>9} {'RTF':>6} {'vs QUInt8':>9} "
              f"{'cosine':>7} {'argmax agree':>12}")
        for name in names:
            for length in lengths:
                median = statistics.median(times[(name, length)])
                base = statistics.median(times[("QUInt8 (shipped)", length)])
                out = call(variants[name], feats[length])
                agree = float(np.mean(out.argmax(-1) == reference[length].argmax(-1)))
                print(f"{name:<20} {length:>6.0f} {median:>9.3f} {median / length:>6.3f} "
                      f"{base / median:>8.2f}x {cosine(out, reference[length]):>7.4f} {agree:>12.1%}")


if __name__ == "__main__":
    main()
