"""Chinese lectures by engine: character error rate and speed, live path against whole file.

    python benchmarks/chinese_engines.py [--engines tiny.en,base,sv-full] [--sv-full DIR] [--threads 2]
                                         [--language auto] [--script simplified]

Each Mandarin clip of ../shared/audio/zh (gold and silver references; the clip without one counts
for speed only) goes through the session core twice, as ``live transcribe`` runs it: the *live path*
(each VAD segment decoded alone, as live finals are) and the *whole file* (segments merged into
~28 s batches). Printed per engine and clip: CER (characters, with a Latin word counted as one
token, after live's own text step: simplified characters, no stray spaces; punctuation ignored),
the CER the raw engine text would have had without the script conversion, RTF (decode seconds over
audio seconds), and whether the engine wrote characters that t2s changes. ``sv-full`` is a full-size
SenseVoice with random weights (devtools.sensevoice_model full) on ONNX Runtime int8: its speed is
the real model's, its text is garbage, so only its RTF means anything. Its cached int8 export is
read as it is (never rebuilt or written). Measure one thing at a time: 2 cores are easily disturbed.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from live.captions import BatchOptions  # noqa: E402
from live.textnorm import is_simplified  # noqa: E402
from live.session.filejob import FileTranscription  # noqa: E402

SHARED_AUDIO = REPO.parent / "shared" / "audio"
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[a-z0-9']+")


def tokens(text: str) -> list[str]:
    """Han characters one by one, Latin words and numbers whole, punctuation and spaces dropped."""
    return _TOKEN.findall(text.lower())


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)]


def cer(ref: str, hyp: str) -> float:
    r = tokens(ref)
    return edit_distance(r, tokens(hyp)) / max(1, len(r))


@dataclass
class Clip:
    path: Path
    kind: str
    reference: str


def mandarin_clips() -> list[Clip]:
    with (SHARED_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [Clip(SHARED_AUDIO / r["file"], r["reference_kind"], r["reference"]) for r in rows if r["language"] == "zh"]


class Recording:
    """An engine whose raw texts are kept (to tell whether the script conversion was needed)."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.model = engine, engine.name, engine.model
        self.raw: list[str] = []
        self.decode_s = 0.0

    def transcribe(self, audio, language="auto"):
        began = time.perf_counter()
        result = self.engine.transcribe(audio, language)
        self.decode_s += time.perf_counter() - began
        self.raw.append(result.text)
        return result


def load(name: str, sv_full: Path, threads: int):
    if name == "sv-full":
        import live.asr.onnx_engine as onnx_engine

        cached = sv_full / "onnx" / "model_int8.onnx"
        if not cached.is_file():
            raise SystemExit(f"no int8 export at {cached}: build it once with live --model {sv_full}")
        onnx_engine.ensure_onnx = lambda folder, **_kw: cached  # read the export as it is, never rebuild it
        return onnx_engine.OnnxSenseVoiceEngine(sv_full, threads=threads)
    from live.asr.whisper import WhisperEngine

    return WhisperEngine(name, threads=threads)


def run(engine, clip: Clip, language: str, script: str | None, batch_s: float) -> dict:
    recorder = Recording(engine)
    job = FileTranscription(clip.path, recorder, language=language, script=script,
                            batching=BatchOptions(max_batch_s=batch_s))
    text = "".join(c.text for c in job)
    raw = "".join(recorder.raw)  # the engine's own characters
    return {
        "text": text,
        "raw": raw,
        "cer": cer(clip.reference, text) if clip.reference else None,
        "raw_cer": cer(clip.reference, raw) if clip.reference else None,
        "rtf": recorder.decode_s / job.audio_s if job.audio_s else 0.0,
        "converted": not is_simplified(raw),
        "decodes": job.batches,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="tiny.en,base,sv-full")
    parser.add_argument("--sv-full", type=Path, default=REPO.parent / "main" / "models" / "sv-full")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--language", default="auto")
    parser.add_argument("--script", default=None)
    parser.add_argument("--show-text", action="store_true")
    args = parser.parse_args(argv)
    if not SHARED_AUDIO.is_dir():
        raise SystemExit(f"needs the shared clips at {SHARED_AUDIO}")
    clips = mandarin_clips()
    print(f"{'engine':8} {'clip':34} {'ref':6} {'path':5} {'CER':>6} {'rawCER':>6} {'RTF':>5} {'dec':>3} t2s?")
    for name in args.engines.split(","):
        began = time.perf_counter()
        engine = load(name, args.sv_full, args.threads)
        print(f"# {name}: loaded in {time.perf_counter() - began:.1f} s")
        summary: dict[str, list[float]] = {}
        converted = 0
        for clip in clips:
            for path, batch_s in (("live", 0.0), ("file", BatchOptions.max_batch_s)):
                row = run(engine, clip, args.language, args.script, batch_s)
                converted += path == "live" and row["converted"]
                shown = "—" if row["cer"] is None else f"{row['cer']:.1%}"
                raw = "—" if row["raw_cer"] is None else f"{row['raw_cer']:.1%}"
                print(f"{name:8} {clip.path.name:34} {clip.kind:6} {path:5} {shown:>6} {raw:>6} {row['rtf']:5.2f} "
                      f"{row['decodes']:3d} {'yes' if row['converted'] else ''}")
                if args.show_text:
                    print(f"    {row['text']}")
                if row["cer"] is not None and clip.kind == "gold":
                    summary.setdefault(f"{path} gold CER", []).append(row["cer"])
                summary.setdefault(f"{path} RTF", []).append(row["rtf"])
        for key, values in summary.items():
            print(f"# {name}: {key}: mean {statistics.mean(values):.1%}" if "CER" in key
                  else f"# {name}: {key}: median {statistics.median(values):.2f}")
        print(f"# {name}: clips whose raw text needed t2s: {converted} of {len(clips)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
