"""Who is speaking, measured on real speech: role accuracy, diarization error and CPU cost.

    python benchmarks/speakers.py [--chunk 20] [--pause 1.0]

Mixed lectures are built from the real clips in ../shared/audio (devtools/mixed_lecture.py): a long
talk as the lecturer, cut at its quiet points every ``--chunk`` seconds, with a question read by
another voice at each cut and ``--pause`` seconds of silence around it. The mix is cut into finals
by the live VAD, as a session cuts it, and each final is labelled three ways: as first shown online
(the label that follows the final within a second), online after all revisions (what the
transcript keeps), and offline (``live transcribe``'s clustering over the whole file). A final's
truth is the voice that holds most of it.

Printed per lecture: finals, role accuracy (lecturer vs audience) for each of the three, the
diarization error rate by frame count (10 ms frames, no collar, overlap counted; each voice the
labeller told apart, lecturers included, mapped to the real voices for the greatest overlap), and the
labeller's CPU time (embedding plus policy, one thread) per second of audio and per second of the
finals' speech. The two-speaker stereo clip is scored mixed down (its speakers overlap) and in turns.
First, the encoder alone: wall and CPU time to embed one final of 2, 5, 10 and 15 s.

``--latency [--rounds N]`` instead measures what labelling costs the captions: a real talk replayed in
real time through ``live --headless --json --partials`` (live.bench.replay) with ``--speakers on`` and
``off`` alternated, N rounds each, printing final latency from the end of speech (p50/p95/max) per run
and the medians of each setting.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from devtools.mixed_lecture import (RATE, MixedLecture, Turn, build, der, hypothesis, load,  # noqa: E402
                                    reference, segments)
from live.speakers.cluster import cluster_voices, label_embedded  # noqa: E402
from live.speakers.encoder import VoiceEncoder  # noqa: E402
from live.speakers.roles import RoleLabeller, RoleOptions  # noqa: E402

SHARED = REPO.parent / "shared" / "audio"
QUESTIONS = ["jfk", "harvard", "ls1995", "librivox", "fwL", "fwR", "ls1089", "digits", "aishell", "paddle",
             "funasr", "cs1", "cs3"]


def stereo_pair(turns: bool) -> MixedLecture:
    left, right = load(SHARED, "en/fw_stereo_diarization_L.flac"), load(SHARED, "en/fw_stereo_diarization_R.flac")
    if not turns:  # as recorded: both talk at once for the first 2.5 s
        return MixedLecture((left + right) / 2, (Turn(0, 5, "fwL", "lecturer"), Turn(0, 5, "fwR", "audience")),
                            tracks={"fwL": left, "fwR": right})
    gap = np.zeros(RATE, np.float32)
    return MixedLecture(np.concatenate([left, gap, right]),
                        (Turn(0, 5, "fwL", "lecturer"), Turn(6, 11, "fwR", "audience")))


def lectures(chunk: float, pause: float) -> dict[str, MixedLecture]:
    return {
        "A: ibm08 lecturer, 13 askers": build(SHARED, [("ibm08", None)], QUESTIONS, chunk_s=chunk, pause_s=pause),
        "B: ibm11 lecturer, 13 askers": build(SHARED, [("ibm11", None)], QUESTIONS[::-1], chunk_s=chunk, pause_s=pause),
        "C: ibm08 then guest ibm11": build(SHARED, [("ibm08", 90.0), ("ibm11", None)], QUESTIONS, chunk_s=chunk,
                                           pause_s=pause),
        "D: stereo pair mixed down": stereo_pair(turns=False),
        "E: stereo pair in turns": stereo_pair(turns=True),
    }


def score(name: str, lecture: MixedLecture, encoder: VoiceEncoder, options: RoleOptions) -> dict:
    finals = segments(lecture.audio)
    labeller = RoleLabeller(encoder.embed_partials, options)
    first: dict[int, object] = {}
    parts = []
    cpu = 0.0
    for final in finals:
        began = time.thread_time()
        partials = encoder.embed_partials(final.audio)
        changed = labeller.feed_partials(final.index, partials)
        cpu += time.thread_time() - began
        parts.append(partials)
        for label in changed:
            first.setdefault(label.index, label)
    online = labeller.labels()
    offline = label_embedded([f.index for f in finals], parts, options)
    truth = {f.index: lecture.truth_role(f.start, f.end) for f in finals}
    ref = reference(lecture)
    n = len(next(iter(ref.values())))

    def accuracy(labels) -> float:
        return float(np.mean([labels[i].speaker == truth[i] for i in truth]))

    def error(voices) -> dict[str, float]:  # each voice the labeller told apart (lecturers too) as a speaker
        return der(ref, hypothesis([(f.start, f.end, str(v)) for f, v in zip(finals, voices)], n))

    speech = sum(len(f.audio) for f in finals) / RATE
    return {"name": name, "minutes": lecture.duration / 60, "finals": len(finals),
            "first": accuracy(first), "online": accuracy(online), "offline": accuracy(offline),
            "der_online": error([key for _, key in labeller.assignments()]),
            "der_offline": error(cluster_voices([f.index for f in finals], parts, options)),
            "ms_per_s": 1000 * cpu / lecture.duration, "ms_per_speech_s": 1000 * cpu / speech}


def encoder_cost(encoder: VoiceEncoder, repeats: int = 5) -> None:
    """Wall and CPU time to embed one final of 2-15 s of the lecturer's speech (median of ``repeats``)."""
    talk = load(SHARED, "en/ibm_08_ibm_watson_ai_3min.flac")
    print(f"{'final':>7} {'wall ms':>8} {'cpu ms':>7} {'cpu ms per s':>13}")
    for seconds in (2, 5, 10, 15):
        walls, cpus = [], []
        for r in range(repeats):
            clip = talk[(20 + 17 * r) * RATE:(20 + 17 * r + seconds) * RATE]
            wall, cpu = time.perf_counter(), time.thread_time()
            encoder.embed_partials(clip)
            cpus.append(time.thread_time() - cpu)
            walls.append(time.perf_counter() - wall)
        print(f"{seconds:>6}s {1000 * np.median(walls):8.0f} {1000 * np.median(cpus):7.0f} "
              f"{1000 * np.median(cpus) / seconds:13.1f}")


def caption_latency(rounds: int, clip: Path, config: str) -> None:
    """Final latency with labelling on and off, alternated so the machine's drift hits both alike."""
    from live.bench.replay import Config, run_config

    print(f"{'speakers':>8} {'round':>5} {'finals':>6} {'p50':>6} {'p95':>6} {'max':>6}")
    medians: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    for r in range(rounds):
        for setting in ("on", "off"):
            result = run_config(Config.parse(config), clip, fast=False, extra=["--speakers", setting])
            lat = result.latencies()
            if result.error or not lat:
                sys.exit(f"speakers {setting}: {result.error or 'no finals'}")
            p50, p95 = float(np.percentile(lat, 50)), float(np.percentile(lat, 95))
            medians[setting].append((p50, p95))
            print(f"{setting:>8} {r + 1:>5} {len(lat):>6} {p50:5.2f}s {p95:5.2f}s {max(lat):5.2f}s", flush=True)
    for setting, runs in medians.items():
        print(f"speakers {setting}: median p50 {np.median([a for a, _ in runs]):.2f} s, "
              f"median p95 {np.median([b for _, b in runs]):.2f} s over {len(runs)} runs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=float, default=20.0, help="lecture between questions, seconds")
    parser.add_argument("--pause", type=float, default=1.0, help="silence around each question, seconds")
    parser.add_argument("--latency", action="store_true", help="caption latency with labelling on and off instead")
    parser.add_argument("--rounds", type=int, default=3, help="--latency: runs of each setting")
    parser.add_argument("--clip", type=Path, default=SHARED / "en" / "ibm_11_ibm_culture_2min.flac",
                        help="--latency: the talk replayed")
    parser.add_argument("--config", default="whisper", help="--latency: engine[:backend][@model], as live bench")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        sys.exit(f"needs the shared clips at {SHARED}")
    if args.latency:
        caption_latency(args.rounds, args.clip, args.config)
        return
    began = time.perf_counter()
    encoder = VoiceEncoder.load()
    print(f"voice encoder loaded in {time.perf_counter() - began:.2f} s")
    encoder_cost(encoder)
    rows = [score(name, lecture, encoder, RoleOptions()) for name, lecture in lectures(args.chunk, args.pause).items()]
    print(f"\n{'lecture':32} {'min':>5} {'finals':>6} | {'role accuracy: shown':>20} {'kept':>6} {'offline':>7} | "
          f"{'DER online':>10} {'(conf.)':>7} {'offline':>7} | {'CPU ms/s audio':>14} {'ms/s speech':>11}")
    for r in rows:
        print(f"{r['name']:32} {r['minutes']:5.1f} {r['finals']:6d} | {100 * r['first']:19.1f}% {100 * r['online']:5.1f}% "
              f"{100 * r['offline']:6.1f}% | {100 * r['der_online']['der']:9.1f}% {100 * r['der_online']['confusion']:6.1f}% "
              f"{100 * r['der_offline']['der']:6.1f}% | "
              f"{r['ms_per_s']:14.1f} {r['ms_per_speech_s']:11.1f}")
    lectures_only = [r for r in rows if r["name"][0] in "ABC"]
    finals = sum(r["finals"] for r in lectures_only)
    kept = sum(r["online"] * r["finals"] for r in lectures_only) / finals
    cost = np.median([r["ms_per_speech_s"] for r in lectures_only])
    print("(DER's parts for the kept online labels: " + "; ".join(
        f"{r['name'][0]} missed {100 * r['der_online']['missed']:.1f}%, false alarm "
        f"{100 * r['der_online']['false_alarm']:.1f}%" for r in rows) + ")")
    print(f"\nlectures A-C: {finals} finals, role accuracy kept {100 * kept:.1f}%; labelling costs a median "
          f"{cost:.1f} ms of one core per second of speech ({cost / 10:.1f}% of a core while speaking)")


if __name__ == "__main__":
    main()
