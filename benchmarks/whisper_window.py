"""Where a Whisper decode's time goes, and what encoding less than its 30 s window costs in accuracy.

    python benchmarks/whisper_window.py [--parts time,accuracy,prefixes,segments,language,guards]
                                        [--models tiny.en,base]
                                        [--configs padded,full,exact,pad0.5,pad1,...] [--repeats 3]
                                        [--threads 2] [--beam 1]

time      the parts of one decode (features, encoder, language detection, generation) at 2, 5 and 10 s of
          real speech, for each window configuration: medians over --repeats, configurations alternated.
accuracy  every gold English clip of ../shared/audio (and, for base, the Mandarin clips with a gold or silver
          reference), decoded whole as a final would be, through WhisperEngine with its guards: WER (English)
          and CER (Mandarin, after the captions' own script normalization), the decode time summed over
          the clips (median of --repeats), and how many decodes looped and were done again on 30 s. English clips are decoded with language en, Mandarin with zh;
          base also with auto (detection included), as `--language auto` decodes.
prefixes  what partials decode: the first 1, 1.5, 2 and 3 s of every clip. Words (Mandarin: characters) of the
          text that are nowhere in the clip's reference are counted as invented (a loop such as "f, f, f"
          counts every repeat), beside the words written in all.
segments the VAD's segments of the recordings with no reference (two English talks, 5 min; a 25 s Mandarin
          clip), as a live session cuts them: how far each configuration's text is from the padded decode's
          (WER/CER against it: 0 means the same words), and its decode time.
language  base's language detection on the trimmed encoding against the 30 s one: right/total over every
          clip with a reference, on its first 1, 2 and 3 s and whole.
guards    what the no-speech and compression guards see on silence, noise and a hum (no text must come out).

Configurations: ``padded`` is faster-whisper's own decode (every window padded to 30 s; with no language
it encodes a second padded window to detect it), ``full`` the window decoder on 30 s (one encode),
``exact`` the audio alone, ``padX`` the audio plus X s of silence, ``padX-minY`` at least Y s,
``padX-bucketY`` rounded up to multiples of Y s. The machine's two cores are shared with other work:
compare figures from one run, and rerun before reading much into a few per cent.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from live.asr.whisper import WhisperEngine  # noqa: E402
from live.asr.whisper_window import WindowDecoder, WindowOptions  # noqa: E402
from live.textnorm import TextNormalizer  # noqa: E402
from wer_helpers import cer, wer  # noqa: E402

SHARED_AUDIO = REPO.parent / "shared" / "audio"
CONFIGS = ("padded", "full", "exact", "pad0.5", "pad1", "pad2", "pad1-min5", "pad1-bucket5")


def window_options(name: str) -> WindowOptions:
    if name in ("padded", "full"):
        return WindowOptions(trim=False)
    if name == "exact":
        return WindowOptions(pad_s=0.0)
    match = re.fullmatch(r"pad([\d.]+)(?:-min([\d.]+))?(?:-bucket([\d.]+))?", name)
    if not match:
        sys.exit(f"unknown configuration {name!r}")
    pad, least, bucket = match.groups()
    return WindowOptions(pad_s=float(pad), min_s=float(least or 0), bucket_s=float(bucket or 0))


def clips(language: str) -> list[tuple[str, np.ndarray, str]]:
    """(name, audio, reference) of the clips of ``language`` with a gold (or, for zh, silver) reference."""
    import soundfile as sf

    if not SHARED_AUDIO.is_dir():
        sys.exit(f"needs the real speech clips in {SHARED_AUDIO}")
    kinds = ("gold",) if language == "en" else ("gold", "silver")
    with (SHARED_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t")
                if row["language"] == language and row["reference_kind"] in kinds]
    out = []
    for row in rows:
        audio, rate = sf.read(SHARED_AUDIO / row["file"], dtype="float32")
        assert rate == 16000 and audio.ndim == 1, row["file"]
        out.append((row["file"], audio, row["reference"]))
    return out


class Runner:
    """One loaded model, decoding with any window configuration."""

    def __init__(self, model: str, threads: int, beam: int) -> None:
        self.engine = WhisperEngine(model, threads=threads, beam_size=beam)
        self.decoders = {}

    def use(self, config: str) -> None:
        if config not in self.decoders:
            self.decoders[config] = WindowDecoder(self.engine._whisper, window_options(config))
        self.engine.window = self.decoders[config]

    def transcribe(self, config: str, audio: np.ndarray, language: str) -> tuple[str, str | None]:
        """(text, language) through the engine's guards; ``full`` runs the window decoder on 30 s."""
        self.use(config)
        if config != "full":
            result = self.engine.transcribe(audio, language)
            return result.text, result.language
        engine = self.engine
        forced = engine._language(language)
        decoded, found = engine.window.decode(audio, forced, beam_size=engine.beam_size)
        text = engine._guarded([decoded], None, None)
        return text, (forced or found) if text else None


def part_time(runner: Runner, configs: list[str], repeats: int, language: str) -> None:
    speech = np.concatenate([audio for _, audio, _ in clips("en")])
    print(f"\n## time: {runner.engine.model}, language {language}, medians of {repeats} (seconds)")
    print(f"{'config':>14} {'audio':>6} {'frames':>6} {'feat':>6} {'enc':>6} {'detect':>6} {'gen':>6} {'total':>6}"
          f" {'engine':>7}")
    for seconds in (2.0, 5.0, 10.0):
        audio = speech[: int(seconds * 16000)]
        parts: dict[str, dict[str, list[float]]] = {c: {} for c in configs}
        for rep in range(repeats):
            order = configs if rep % 2 == 0 else configs[::-1]
            for config in order:
                times = parts[config]
                runner.use(config)
                window = runner.engine.window
                began = time.perf_counter()
                features = window.features(audio)
                t_feat = time.perf_counter()
                import ctranslate2

                encoded = window._model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features)))
                t_enc = time.perf_counter()
                forced = None if language == "auto" else language
                if window.multilingual and forced is None:
                    forced = window.detect(encoded)[0]
                t_det = time.perf_counter()
                window.decode(audio, forced, beam_size=runner.engine.beam_size, encoded=encoded)
                t_gen = time.perf_counter()
                runner.transcribe(config, audio, language)
                t_engine = time.perf_counter()
                for key, value in (("feat", t_feat - began), ("enc", t_enc - t_feat), ("detect", t_det - t_enc),
                                   ("gen", t_gen - t_det), ("engine", t_engine - t_gen),
                                   ("frames", features.shape[-1])):
                    times.setdefault(key, []).append(value)
        for config in configs:
            m = {k: statistics.median(v) for k, v in parts[config].items()}
            total = m["feat"] + m["enc"] + m["detect"] + m["gen"]
            print(f"{config:>14} {seconds:6.1f} {m['frames']:6.0f} {m['feat']:6.3f} {m['enc']:6.3f} {m['detect']:6.3f}"
                  f" {m['gen']:6.3f} {total:6.3f} {m['engine']:7.3f}")


def part_accuracy(runner: Runner, configs: list[str], repeats: int) -> None:
    norm = TextNormalizer()
    sets = [("en", "en", clips("en"))]
    if not runner.engine.english_only:
        zh = clips("zh")
        sets += [("zh", "zh", zh), ("en", "auto", sets[0][2]), ("zh", "auto", zh)]
    for spoken, asked, items in sets:
        seconds = sum(a.size for _, a, _ in items) / 16000
        measure = "WER" if spoken == "en" else "CER"
        print(f"\n## accuracy: {runner.engine.model}, {len(items)} {spoken} clips ({seconds:.0f} s), language {asked}")
        print(f"{'config':>14} {measure:>6} {'errors':>7} {'decode s':>9} {'wrong lang':>10} {'on 30 s':>7}")
        results: dict[str, dict] = {c: {"times": [[] for _ in items], "texts": [None] * len(items), "fallbacks": 0}
                                    for c in configs}
        for rep in range(repeats):
            for config in (configs if rep % 2 == 0 else configs[::-1]):
                for i, (_, audio, _) in enumerate(items):
                    began, fallbacks = time.perf_counter(), runner.engine.fallbacks
                    text, lang = runner.transcribe(config, audio, asked)
                    results[config]["times"][i].append(time.perf_counter() - began)
                    results[config]["texts"][i] = (text, lang)
                    results[config]["fallbacks"] += (runner.engine.fallbacks - fallbacks) if rep == 0 else 0
        texts_by = {}
        for config in configs:
            errors = total = wrong = 0
            for (name, _, reference), (text, lang) in zip(items, results[config]["texts"]):
                e, n = (wer if spoken == "en" else cer)(reference, norm(text, lang))
                errors, total = errors + e, total + n
                wrong += bool(text) and lang != spoken
            texts_by[config] = [t for t, _ in results[config]["texts"]]
            decode = sum(statistics.median(t) for t in results[config]["times"])
            print(f"{config:>14} {errors / total:6.1%} {errors:3d}/{total:<3d} {decode:9.2f} {wrong:10d} "
                  f"{results[config]['fallbacks']:7d}")
        base = configs[0]
        for config in configs[1:]:
            for (name, _, _), a, b in zip(items, texts_by[base], texts_by[config]):
                if a != b:
                    print(f"   {config} {name}: {base} {a!r}\n   {' ' * len(config)} {' ' * len(name)}  {config} {b!r}")


def part_prefixes(runner: Runner, configs: list[str]) -> None:
    from wer_helpers import cer_tokens, normalize

    sets = [("en", clips("en"))] + ([] if runner.engine.english_only else [("zh", clips("zh"))])
    for spoken, items in sets:
        tokens = (lambda t: normalize(t).split()) if spoken == "en" else cer_tokens
        norm = TextNormalizer()
        print(f"\n## prefixes: {runner.engine.model}, {len(items)} {spoken} clips, language {spoken}: "
              "invented/written words (chars), empty decodes")
        print(f"{'config':>14} " + " ".join(f"{f'{s:g} s':>14}" for s in (1.0, 1.5, 2.0, 3.0)) + "  on 30 s")
        for config in configs:
            row, fallbacks = [], runner.engine.fallbacks
            for seconds in (1.0, 1.5, 2.0, 3.0):
                invented = written = empty = 0
                for _, audio, reference in items:
                    if audio.size <= seconds * 16000:
                        continue
                    text, lang = runner.transcribe(config, audio[: int(seconds * 16000)], spoken)
                    words = tokens(norm(text, lang))
                    known = set(tokens(reference))
                    written += len(words)
                    invented += sum(w not in known for w in words)
                    empty += not words
                row.append(f"{invented:3d}/{written:<3d} {empty:2d} ∅")
            print(f"{config:>14} " + " ".join(f"{cell:>14}" for cell in row) + f"  {runner.engine.fallbacks - fallbacks:7d}")


def part_segments(runner: Runner, configs: list[str]) -> None:
    import soundfile as sf

    from live.vad import Segmenter, VadOptions

    sets = [("en", ("en/ibm_08_ibm_watson_ai_3min.flac", "en/ibm_11_ibm_culture_2min.flac"))]
    if not runner.engine.english_only:
        sets.append(("zh", ("zh/funasr_long.flac",)))
    norm = TextNormalizer()
    for spoken, names in sets:
        segments = []
        for name in names:
            audio, _ = sf.read(SHARED_AUDIO / name, dtype="float32")
            vad = Segmenter(VadOptions())
            segments += [s.audio for s in vad.feed(audio) + vad.flush()]
        seconds = sum(a.size for a in segments) / 16000
        print(f"\n## segments: {runner.engine.model}, {len(segments)} VAD segments of {spoken} talks ({seconds:.0f} s), "
              f"language {spoken}: distance from the padded decode")
        print(f"{'config':>14} {'differs':>8} {'edits':>9} {'decode s':>9} {'on 30 s':>7}")
        texts = {}
        for config in configs:
            began, fallbacks, out = time.perf_counter(), runner.engine.fallbacks, []
            for audio in segments:
                text, lang = runner.transcribe(config, audio, spoken)
                out.append(norm(text, lang))
            texts[config] = (out, time.perf_counter() - began, runner.engine.fallbacks - fallbacks)
        reference = texts[configs[0]][0]
        for config in configs:
            out, took, fallbacks = texts[config]
            measure = wer if spoken == "en" else cer
            pairs = [measure(r, h) for r, h in zip(reference, out)]
            edits, size = sum(e for e, _ in pairs), sum(n for _, n in pairs)
            print(f"{config:>14} {edits / max(size, 1):8.1%} {edits:4d}/{size:<4d} {took:9.2f} {fallbacks:7d}")
            for (e, _), r, h in zip(pairs, reference, out):
                if e >= 3:  # what a larger difference looks like
                    print(f"   {e:3d} edits: {configs[0]} {r[:90]!r}\n{' ' * 14}{config} {h[:90]!r}")


def part_language(runner: Runner, configs: list[str]) -> None:
    if runner.engine.english_only:
        return
    items = [(name, audio, name.split("/")[0]) for name, audio, _ in clips("en") + clips("zh")]
    print(f"\n## language detection: {runner.engine.model}, {len(items)} clips, right/total (lowest top probability)")
    print(f"{'config':>14} " + " ".join(f"{label:>12}" for label in ("first 1 s", "first 2 s", "first 3 s", "whole")))
    for config in [c for c in configs if c != "padded"]:
        runner.use(config)
        window = runner.engine.window
        row = []
        for seconds in (1.0, 2.0, 3.0, None):
            right, low = 0, 1.0
            for _, audio, language in items:
                piece = audio if seconds is None else audio[: int(seconds * 16000)]
                found, probability = window.detect(window.encode(piece))
                right += found == language
                low = min(low, probability)
            row.append(f"{right:2d}/{len(items)} ({low:.2f})")
        print(f"{config:>14} " + " ".join(f"{cell:>12}" for cell in row))


def part_guards(runner: Runner, configs: list[str]) -> None:
    rng = np.random.default_rng(0)
    signals = {
        "silence 3 s": np.zeros(48000, dtype=np.float32),
        "noise -30 dBFS": (rng.standard_normal(48000) * 10 ** (-30 / 20)).astype(np.float32),
        "noise -15 dBFS": (rng.standard_normal(48000) * 10 ** (-15 / 20)).astype(np.float32),
        "hum 220 Hz": (0.1 * np.sin(2 * np.pi * 220 * np.arange(48000) / 16000)).astype(np.float32),
        "silence 0.5 s": np.zeros(8000, dtype=np.float32),
    }
    print(f"\n## guards: {runner.engine.model} (no-speech probability, avg logprob, compression → kept text)")
    for config in [c for c in configs if c != "padded"]:
        runner.use(config)
        window = runner.engine.window
        for name, audio in signals.items():
            decoded, _ = window.decode(audio, None if window.multilingual else "en")
            kept = runner.engine._guarded([decoded], None, None)
            print(f"{config:>14} {name:>15}: {decoded.no_speech_prob:.2f} {decoded.avg_logprob:6.2f} "
                  f"{decoded.compression_ratio:4.1f} {decoded.text[:40]!r} → {kept!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="time,accuracy,prefixes,segments,language,guards")
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--time-language", default=None, help="language of the time part (default: en for "
                        "tiny.en, auto for multilingual models)")
    args = parser.parse_args()
    configs = args.configs.split(",")
    parts = args.parts.split(",")
    for model in args.models.split(","):
        runner = Runner(model, args.threads, args.beam)
        print(f"\n# Whisper {runner.engine.model}, int8, {args.threads} threads, beam {args.beam}")
        if "time" in parts:
            part_time(runner, configs, args.repeats,
                      args.time_language or ("en" if runner.engine.english_only else "auto"))
        if "accuracy" in parts:
            part_accuracy(runner, configs, args.repeats)
        if "prefixes" in parts:
            part_prefixes(runner, configs)
        if "segments" in parts:
            part_segments(runner, configs)
        if "language" in parts:
            part_language(runner, configs)
        if "guards" in parts:
            part_guards(runner, configs)


if __name__ == "__main__":
    main()
