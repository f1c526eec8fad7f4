"""Time SenseVoice's model call: torch fp32 (funasr) against ONNX Runtime fp32 and int8.

    python benchmarks/asr_speed.py --model DIR [--backends torch,onnx-fp32,onnx-int8]
                                   [--lengths 2,5,10,30] [--repeats 5] [--threads N]

Each backend runs in a fresh worker process, so its load time and memory are its own. The parent
drives the workers in turn (alternating backend order on every round, with a pause between calls so
one worker's spinning threads do not slow the next) and prints medians, the real-time factor and the
speed ratio against torch fp32. Audio is real speech from ../shared/audio, clips concatenated and cut
to each length; every backend gets the same features from live.asr.frontend (what funasr computes
with dither 0), so only the model call is timed. Front-end and CTC decode time are printed apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from live.audio.source import SAMPLE_RATE  # noqa: E402

SHARED_AUDIO = REPO.parent / "shared" / "audio"
CLIPS = ("en/jfk.flac", "en/realpython_harvard.flac", "en/wenet_librispeech-1995-1837-0001.flac",
         "en/pocketsphinx_librivox_0870.flac", "zh/funasr_cs_example1.flac", "zh/funasr_asr_example.flac")
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
PAUSE_S = 0.2


def speech(seconds: float) -> np.ndarray:
    """``seconds`` of real speech: the clips above, concatenated (repeated if needed) and cut."""
    import soundfile as sf

    if not SHARED_AUDIO.is_dir():
        sys.exit(f"needs the real speech clips in {SHARED_AUDIO}")
    pieces, total = [], 0
    while total < seconds * SAMPLE_RATE:
        for name in CLIPS:
            samples, rate = sf.read(SHARED_AUDIO / name, dtype="float32")
            assert rate == SAMPLE_RATE, name
            pieces.append(samples)
            total += samples.size
    return np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)]


def memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    values = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    if "VmHWM" not in values:  # not Linux: ru_maxrss is the peak (bytes on macOS, KB elsewhere)
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        values["VmHWM"] = peak / (1 << 20) if sys.platform == "darwin" else peak / 1024
        values.setdefault("VmRSS", values["VmHWM"])
    return values["VmRSS"], values["VmHWM"]


# --- worker: one backend per process ---------------------------------------------------------------


def _load_torch(model_dir: Path, threads: int):
    import torch
    from funasr import AutoModel

    auto = AutoModel(model=str(model_dir), device="cpu", ncpu=threads, disable_update=True, disable_pbar=True,
                     frontend_conf={"dither": 0.0})
    # funasr's export wrapper: the same computation as the ONNX graph (queries + encoder + CTC layer).
    model = auto.model.export(max_seq_len=512, device="cpu")
    model.eval()

    def call(feats: np.ndarray) -> None:
        with torch.inference_mode():
            model(torch.from_numpy(feats[None]), torch.tensor([feats.shape[0]], dtype=torch.int32),
                  torch.tensor([0], dtype=torch.int32), torch.tensor([14], dtype=torch.int32))

    return call


def _load_onnx(model_dir: Path, threads: int, quantized: bool):
    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    engine = OnnxSenseVoiceEngine(model_dir, quantized=quantized, threads=threads)
    return lambda feats: engine.encode(feats)


def worker(backend: str, model_dir: Path, threads: int, lengths: list[float]) -> None:
    """Load ``backend``, report load time and memory, then time one call per ``run L`` line on stdin."""
    started = time.perf_counter()
    if backend == "torch":
        call = _load_torch(model_dir, threads)
    else:
        call = _load_onnx(model_dir, threads, quantized=backend == "onnx-int8")
    load_s = time.perf_counter() - started
    rss_loaded, peak_loaded = memory_mb()

    from live.asr.frontend import Frontend

    frontend = Frontend.from_model_dir(model_dir)
    feats = {length: frontend(speech(length)) for length in lengths}
    for length in lengths:  # warm-up: first calls allocate and plan
        call(feats[length])
    print(json.dumps({"load_s": load_s, "rss_mb": rss_loaded, "peak_load_mb": peak_loaded}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        length = float(command[1])
        t0 = time.perf_counter()
        call(feats[length])
        print(json.dumps({"s": time.perf_counter() - t0}), flush=True)
    print(json.dumps({"peak_mb": memory_mb()[1]}), flush=True)


# --- parent ---------------------------------------------------------------------------------------


class Worker:
    def __init__(self, backend: str, model_dir: Path, threads: int, lengths: list[float]) -> None:
        self.backend = backend
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", backend, "--model", str(model_dir),
                   "--threads", str(threads), "--lengths", ",".join(str(x) for x in lengths)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        stderr=subprocess.DEVNULL, cwd=REPO)
        self.info = self._read()

    def _read(self) -> dict:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # skip anything a library printed on stdout
            if line.startswith("{"):
                return json.loads(line)
        raise SystemExit(f"{self.backend} worker died (exit status {self.process.wait()})")

    def run(self, length: float) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(f"run {length}\n")
        self.process.stdin.flush()
        return float(self._read()["s"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        self.info.update(self._read())
        self.process.wait()


def front_end_times(model_dir: Path, lengths: list[float], repeats: int) -> dict[float, tuple[float, float]]:
    """Median seconds of the numpy front end and of greedy CTC + sentencepiece decode per length."""
    import sentencepiece as spm

    from live.asr.frontend import Frontend
    from live.asr.onnx_engine import ctc_greedy
    from live.models import sensevoice_files

    frontend = Frontend.from_model_dir(model_dir)
    tokenizer = spm.SentencePieceProcessor(model_file=str(sensevoice_files(model_dir)["bpe"]))
    rng = np.random.default_rng(0)
    times = {}
    for length in lengths:
        audio = speech(length)
        fe, dec = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            feats = frontend(audio)
            fe.append(time.perf_counter() - t0)
            logits = rng.standard_normal((feats.shape[0] + 4, tokenizer.get_piece_size()), dtype=np.float32)
            t0 = time.perf_counter()
            tokenizer.decode(ctc_greedy(logits))
            dec.append(time.perf_counter() - t0)
        times[length] = (statistics.median(fe), statistics.median(dec))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a SenseVoice model folder")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, from {','.join(BACKENDS)}")
    parser.add_argument("--lengths", default="2,5,10,30", help="audio lengths in seconds")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per backend and length")
    parser.add_argument("--threads", type=int, default=None, help="threads per backend (default: all cores)")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    lengths = [float(x) for x in args.lengths.split(",")]
    from live.models import cpu_threads

    threads = args.threads or cpu_threads()
    if args.worker:
        worker(args.worker, args.model, threads, lengths)
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}; choose from {','.join(BACKENDS)}")
    if any(b.startswith("onnx") for b in backends):
        # Export/quantize now (once, cached), so no worker's load time includes it.
        from live.models.onnx_cache import ensure_onnx

        for backend in backends:
            if backend.startswith("onnx"):
                ensure_onnx(args.model, quantize=backend == "onnx-int8", on_status=lambda m: print(m, flush=True))

    print(f"model {args.model}, {threads} threads, lengths {lengths} s, {args.repeats} repeats", flush=True)
    workers = []
    for backend in backends:  # started one at a time: loads must not overlap
        print(f"loading {backend}…", flush=True)
        workers.append(Worker(backend, args.model, threads, lengths))
    samples: dict[tuple[str, float], list[float]] = {(w.backend, x): [] for w in workers for x in lengths}
    for round_ in range(args.repeats):
        for length in lengths:
            order = workers[round_ % len(workers):] + workers[: round_ % len(workers)]
            for w in order:
                time.sleep(PAUSE_S)
                samples[(w.backend, length)].append(w.run(length))
    for w in workers:
        w.close()
    front = front_end_times(args.model, lengths, args.repeats)

    medians = {key: statistics.median(values) for key, values in samples.items()}
    base = "torch" if "torch" in backends else None
    print("\nmodel call, median seconds (RTF; speed-up vs torch fp32)")
    header = f"{'audio':>6}  " + "  ".join(f"{b:>24}" for b in backends) + f"  {'front end':>10}  {'decode':>8}"
    print(header)
    for length in lengths:
        cells = []
        for b in backends:
            m = medians[(b, length)]
            ratio = f"; {medians[(base, length)] / m:.2f}x" if base and b != base else ""
            cells.append(f"{m:7.3f} s (RTF {m / length:.3f}{ratio})")
        fe, dec = front[length]
        print(f"{length:>5g}s  " + "  ".join(f"{c:>24}" for c in cells) + f"  {fe:9.3f}s  {dec:7.3f}s")
    print("\nper backend, in a fresh process")
    print(f"{'backend':>10}  {'load':>7}  {'RSS after load':>14}  {'peak RSS':>9}")
    for w in workers:
        info = w.info
        print(f"{w.backend:>10}  {info['load_s']:6.1f}s  {info['rss_mb']:11.0f} MB  {info['peak_mb']:6.0f} MB")


if __name__ == "__main__":
    main()
