"""Does the course's vocabulary help Whisper tiny.en, and does it hurt where it does not apply?

    python benchmarks/vocab_recall.py [--vocab tests/data/course_vocab.txt] [--modes hotwords,prompt,both]
                                      [--budget 223] [--speeds 150,135,165] [--threads 2] [--no-wer]

A short lecture passage with six course terms is spoken by espeak-ng (16 kHz mono FLAC through sox, in
its repeatable mode: sox dithers at random otherwise, and tiny.en's output changes with the last bit)
at a few speeds (tiny.en is that fragile: the first speed is the headline, the others show the
spread), once whole, once a sentence a clip (as live captions decode VAD segments) and once twice over
(41 s: two 30 s windows, where an initial prompt reaches only the first), and decoded by
``WhisperEngine()`` (int8, beam 1, as live runs it) without a bias and with the vocabulary as
hotwords, as initial prompt and as both (raw, ``verify_bias=False``), and as hotwords with the
engine's default check ("hotwords+check": decoded with and without, only whole terms kept from the
biased text). Printed: term recall (terms written right / 6) for each, the
same after ``Corrector`` (alone on the plain output, as a stand-in for SenseVoice's errors, and after
the bias), the WER on ../shared/audio's gold English clips with and without the bias (jiwer; the
vocabulary does not apply there, so nothing may get worse), the corrections the corrector makes on
those clips (ideally none), and whether silence and noise stay empty with the bias.
Two vocabularies: the six terms alone, and the whole course file (the six among 40-odd others).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO), str(REPO / "tests")) if p not in sys.path]

from live.audio import SAMPLE_RATE  # noqa: E402
from live.vocab import Corrector, Vocabulary, load_vocab, whisper_bias  # noqa: E402
from live.vocab.bias import DEFAULT_BUDGET  # noqa: E402
from vocab_helpers import COURSE as DEFAULT_VOCAB  # noqa: E402
from vocab_helpers import PASSAGE  # noqa: E402
from vocab_helpers import SIX as TERMS  # noqa: E402

SHARED_AUDIO = REPO.parent / "shared" / "audio"


NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}


def normalize(text: str, numbers: bool = False) -> str:
    """Lower case, hyphens as spaces, punctuation and a possessive 's gone: how terms and WER are
    compared; ``numbers`` also writes number words as digits (any prompt makes Whisper write "1, 2, 3"
    for "one, two, three", a change of style that Whisper's own evaluation normalizes away too)."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()
    words = [w.removesuffix("'s") for w in words]
    return " ".join(NUMBERS.get(w, w) for w in words) if numbers else " ".join(words)


def term_hits(text: str, terms: tuple[str, ...] = TERMS) -> list[str]:
    said = f" {normalize(text)} "
    return [t for t in terms if f" {normalize(t)} " in said]


def speak(text: str, dest: Path, speed: int = 150, voice: str = "en-us") -> np.ndarray:
    """``text`` spoken by espeak-ng, as 16 kHz mono float32 (also kept at ``dest``, a .flac)."""
    import soundfile as sf

    wav = dest.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", "-R", str(wav), "-r", str(SAMPLE_RATE), "-c", "1", str(dest)], check=True,
                   capture_output=True)
    audio, rate = sf.read(dest, dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1
    return audio


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def gold_english() -> list[tuple[np.ndarray, str]]:
    import soundfile as sf

    with (SHARED_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t")
                if r["language"] == "en" and r["reference_kind"] == "gold"]
    clips = []
    for row in rows:
        audio, rate = sf.read(SHARED_AUDIO / row["file"], dtype="float32", always_2d=True)
        assert rate == SAMPLE_RATE
        clips.append((audio.mean(axis=1), row["reference"]))
    return clips


def wer(pairs: list[tuple[str, str]], numbers: bool = False) -> tuple[float, int, int]:
    """(WER, word errors, reference words) over all (reference, hypothesis) pairs together."""
    import jiwer

    refs = [normalize(r, numbers) for r, _ in pairs]
    hyps = [normalize(h, numbers) for _, h in pairs]
    out = jiwer.process_words(refs, hyps)
    errors = out.substitutions + out.deletions + out.insertions
    words = sum(len(r.split()) for r in refs)
    return errors / words, errors, words


def twice_hits(text: str) -> int:
    """Terms written right in the passage said twice: each counts up to two times (of 12)."""
    said = f" {normalize(text)} "
    return sum(min(2, said.count(f" {normalize(t)} ")) for t in TERMS)


def recall_cell(counts: list[int], of: int) -> str:
    """"4 (3-5)/6": the first speed's count, then the range over all speeds."""
    spread = f" ({min(counts)}-{max(counts)})" if len(counts) > 1 else ""
    return f"{counts[0]}{spread}/{of}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=Path, default=DEFAULT_VOCAB, help="the whole course's vocabulary file")
    parser.add_argument("--modes", default="hotwords,prompt,both", help="raw bias modes; the first is also run "
                        "checked (WhisperEngine's default verify_bias)")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="tokens for the bias (at most 223)")
    parser.add_argument("--speeds", default="150,135,165", help="espeak-ng words per minute, headline first")
    parser.add_argument("--voice", default="en-us")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-wer", action="store_true", help="skip the gold clips (faster)")
    parser.add_argument("--keep", type=Path, help="keep the spoken clips in this folder")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (Debian: apt-get install espeak-ng sox)", file=sys.stderr)
            return 2

    from live.asr.whisper import WhisperEngine

    work = args.keep or Path(tempfile.mkdtemp(prefix="vocab-recall-"))
    work.mkdir(parents=True, exist_ok=True)
    speeds = [int(x) for x in args.speeds.split(",")]
    clips = []  # per speed: (whole, [sentences], twice)
    for speed in speeds:
        whole = speak(PASSAGE, work / f"passage-{speed}.flac", speed, args.voice)
        parts = [speak(s, work / f"sentence{i}-{speed}.flac", speed, args.voice)
                 for i, s in enumerate(sentences(PASSAGE))]
        clips.append((whole, parts, np.concatenate([whole, np.zeros(SAMPLE_RATE // 2, np.float32), whole])))
    print(f"passage: {len(clips[0][0]) / SAMPLE_RATE:.1f} s at {speeds[0]} wpm (also {speeds[1:] or 'no other'}), "
          f"{len(clips[0][1])} sentence clips; terms: {', '.join(TERMS)}")
    gold = [] if args.no_wer or not SHARED_AUDIO.is_dir() else gold_english()
    rng = np.random.default_rng(0)
    silence = {"silence 2 s": np.zeros(2 * SAMPLE_RATE, np.float32),
               "white noise -30 dBFS": (rng.standard_normal(2 * SAMPLE_RATE) * 10 ** (-30 / 20)).astype(np.float32),
               "1 kHz tone": (0.3 * np.sin(2 * np.pi * 1000 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE))
               .astype(np.float32)}

    engine = WhisperEngine(threads=args.threads)
    course = load_vocab(args.vocab)
    vocabularies = {"6 terms": Vocabulary.from_terms(TERMS), f"course ({len(course)} terms)": course}
    modes = args.modes.split(",")
    checked = f"{modes[0]}+check"
    configs: list[tuple[str, Vocabulary | None, str | None]] = [("plain", None, None)]
    for name, vocab in vocabularies.items():
        configs += [(name, vocab, mode) for mode in (*modes, checked)]

    def run(vocab: Vocabulary | None, mode: str | None) -> dict:
        """One configuration; "MODE+check" is WhisperEngine's default (verify_bias), the others raw."""
        engine.verify_bias = bool(mode and mode.endswith("+check"))
        mode = mode.removesuffix("+check") if mode else None
        bias = whisper_bias(vocab, mode=mode, max_tokens=args.budget, count_tokens=engine.count_tokens,
                            english_only=engine.english_only) if vocab is not None else None
        engine.hotwords = bias.hotwords if bias else None
        engine.initial_prompt = bias.initial_prompt if bias else None
        out: dict = {"whole": [], "parts": [], "twice": [], "tokens": bias.tokens if bias else 0,
                     "fit": len(bias.terms) if bias else 0}
        started = time.perf_counter()
        for whole, parts, twice in clips:
            out["whole"].append(engine.transcribe(whole, "en").text)
            out["parts"].append(" ".join(engine.transcribe(p, "en").text for p in parts))
            out["twice"].append(engine.transcribe(twice, "en").text)
        out["decode_s"] = time.perf_counter() - started
        out["gold"] = [(ref, engine.transcribe(audio, "en").text) for audio, ref in gold]
        out["echoes"] = {k: engine.transcribe(a, "en").text for k, a in silence.items()}
        return out

    results = {(name, mode): run(vocab, mode) for name, vocab, mode in configs}
    engine.hotwords = engine.initial_prompt = None
    engine.verify_bias = True

    print(f"\n== Whisper tiny.en (int8, beam 1), bias budget {args.budget} tokens: term recall, and WER on "
          f"{len(gold)} gold English clips ==")
    print("(recall: terms right at the first speed (range over all speeds); WER: errors/reference words; "
          "Δ: extra errors per 100 words; 'numbers': number words as digits; decode s: all passage clips)")
    plain = results[("plain", None)]
    base = (wer(plain["gold"]), wer(plain["gold"], True)) if gold else None
    print(f"{'vocabulary':18s} {'mode':14s} {'terms':>5s} {'tokens':>6s} {'whole':>10s} {'sentences':>10s} "
          f"{'twice':>11s} {'WER':>14s} {'Δ':>5s} {'numbers':>14s} {'Δ':>5s} {'decode s':>8s}  silence/noise")
    for (name, mode), r in results.items():
        cells = []
        for i, numbers in enumerate((False, True)):
            if not gold:
                cells += ["-", "-"]
                continue
            score = wer(r["gold"], numbers)
            cells += [f"{score[0]:.1%} ({score[1]}/{score[2]})", f"{100 * (score[0] - base[i][0]):+.1f}"]
        echoes = "all empty" if not any(r["echoes"].values()) else \
            "; ".join(f"{k}: {v!r}" for k, v in r["echoes"].items() if v)
        whole = recall_cell([len(term_hits(t)) for t in r["whole"]], 6)
        parts = recall_cell([len(term_hits(t)) for t in r["parts"]], 6)
        twice = recall_cell([twice_hits(t) for t in r["twice"]], 12)
        print(f"{name:18s} {mode or '-':14s} {r['fit']:5d} {r['tokens']:6d} {whole:>10s} {parts:>10s} {twice:>11s} "
              f"{cells[0]:>14s} {cells[1]:>5s} {cells[2]:>14s} {cells[3]:>5s} {r['decode_s']:8.2f}  {echoes}")

    print("\n== Corrector (text only): term recall after correcting those outputs (whole, sentences) ==")
    for name, vocab in vocabularies.items():
        corrector = Corrector(vocab)

        def fixed(r: dict, key: str, corrector: Corrector = corrector) -> str:
            return recall_cell([len(term_hits(corrector.correct(t, "en").text)) for t in r[key]], 6)

        print(f"{name:18s} plain tiny.en + corrector (stand-in for SenseVoice): {fixed(plain, 'whole')}, "
              f"{fixed(plain, 'parts')}")
        print(f"{'':18s} " + "; ".join(f"{mode} + corrector: {fixed(results[(name, mode)], 'whole')}, "
                                       f"{fixed(results[(name, mode)], 'parts')}" for mode in (*modes, checked)))
        if gold:
            corrected = [(ref, corrector.correct(hyp, "en")) for ref, hyp in plain["gold"]]
            made = [(c.original, c.text) for _, f in corrected for c in f.corrections]
            score = wer([(ref, f.text) for ref, f in corrected])
            print(f"{'':18s} on the gold clips' plain outputs: {len(made)} corrections {made or ''}; "
                  f"WER {score[0]:.1%} (uncorrected {base[0][0]:.1%})")

    print(f"\n== Outputs at {speeds[0]} wpm ==")
    for (name, mode), r in results.items():
        print(f"[{name} / {mode or '-'}] whole: {r['whole'][0]}")
        print(f"[{name} / {mode or '-'}] sentences: {r['parts'][0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
