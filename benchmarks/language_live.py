"""Figures for the course's vocabulary and bilingual captions, measured through the live path: the
session core (file source → VAD segments → captioner → worker → corrector → jsonl) that `live --input`
runs, with Whisper tiny.en (int8, beam 1, 2 threads).

    python benchmarks/language_live.py [--parts recall,wer,tokens,latency] [--latency-s 60]
                                       [--model-delay 1.0] [--speeds 150,135,165]

recall   the lecture passage of benchmarks/vocab_recall.py (six course terms) spoken by espeak-ng at a few
         speeds, replayed --fast: terms right of 6 without a vocabulary, with the corrector only (an engine
         that cannot be biased, which is SenseVoice's path), and with --vocab (bias + check + corrector).
wer      the gold English clips of ../shared/audio in one reel (no course term is said in them), without and
         with --vocab tests/data/course_vocab.txt: WER, and the corrections made (ideally none).
tokens   translation cost per lecture hour. The finals of the two multi-minute talks of ../shared/audio go
         through the translator's own batching policy and prompt builder on a simulated clock (each final
         arrives when it was emitted; the model answers after 0.8 s + 20 ms per output token), and every
         request is counted with live.llm.estimate_tokens (the project's deliberately generous estimate,
         not a real tokenizer: no model is reachable here). Answers are stand-ins of a Chinese translation's
         length (0.4 characters per English character, a typical ratio for zh): output tokens are estimates too.
         Batched (the default options) against one request per final.
latency  a --latency-s excerpt of a talk replayed in real time (as a microphone hears it), translation off
         and on (and --vocab alone), alternated twice; on: a real local OpenAI-compatible server (tests/llm_server.py) answers as
         the stand-in above after --model-delay seconds. Median and 90th percentile of emitted - speech_end
         over the finals, and what the real requests cost (estimated tokens, scaled to an hour).

The machine's two cores are shared with other work: the latency part alternates its runs and the figures
are medians; rerun it and compare before reading much into a difference of a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
for extra in (REPO, REPO / "benchmarks", REPO / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from vocab_recall import PASSAGE, SHARED_AUDIO, gold_english, speak, term_hits, wer  # noqa: E402

from live.captions import Caption  # noqa: E402
from live.config import Settings  # noqa: E402
from live.llm import estimate_tokens  # noqa: E402
from live.notes.prompts import Prompts  # noqa: E402
from live.session import SessionOptions, build_session  # noqa: E402
from live.translate import Glossary, Pending, TranslateOptions, TranslationQueue  # noqa: E402
from live.translate.prompt import messages  # noqa: E402

COURSE = REPO / "tests" / "data" / "course_vocab.txt"
TALKS = ("en/ibm_08_ibm_watson_ai_3min.flac", "en/ibm_11_ibm_culture_2min.flac")
ZH_PER_EN_CHAR = 0.4
FILLER = "我们在这一部分讨论模型的参数如何影响结果并给出一个例子"


class Unbiasable:
    """Whisper behind an engine that cannot be biased (no hotwords): the session only corrects its
    finals, as it does SenseVoice's."""

    name = "whisper"

    def __init__(self, engine) -> None:
        self.engine, self.model = engine, engine.model

    def transcribe(self, audio, language="auto"):
        return self.engine.transcribe(audio, language)


def run(path: Path, engine, work: Path, **settings) -> tuple[list[Caption], object]:
    """One session over ``path``; its finals (as the front end saw them) and the session."""
    events: list[object] = []
    options = settings.pop("options", None)
    config = Settings(input=path, engine="whisper", session_dir=work, record_audio=False, **settings)
    session = build_session(config, events.append, SessionOptions(notes="off", translate=options),
                            load_engine=lambda _s: (engine, "tiny.en"))
    try:
        session.run()
    finally:
        session.close()
    return [e for e in events if isinstance(e, Caption) and e.kind == "final" and e.text], session


def stand_in(body_or_captions) -> str:
    """A translation of the right length for each caption asked for, and one glossary entry."""
    if isinstance(body_or_captions, dict):
        user = [m for m in body_or_captions["messages"] if m["role"] == "user"][-1]["content"]
        asked = re.findall(r"^\[(\d+)\] (.*)$", user.split("Translate into", 1)[1], re.M)
    else:
        asked = [(p.index, p.text) for p in body_or_captions]
    lines = []
    for n, text in asked:
        size = max(2, round(len(text) * ZH_PER_EN_CHAR))
        lines.append(f"[{n}] " + (FILLER * (size // len(FILLER) + 1))[:size] + "。")
    first = asked[0][0] if asked else 0
    return "\n".join(lines) + f"\n= term {first} => 术语{first}\n"


# --- recall and WER ------------------------------------------------------------------------------------


def part_recall(engine_factory, speeds: list[int], work: Path) -> None:
    print("\n== term recall through the live path (of 6; espeak-ng passage, --fast replay) ==")
    print(f"{'wpm':>4s} {'clip s':>6s} {'plain':>6s} {'corrector only':>15s} {'--vocab':>8s}  finals (vocab)")
    for speed in speeds:
        clip = work / f"passage-{speed}.flac"
        speak(PASSAGE, clip, speed)
        seconds = sf.info(clip).duration
        plain, _ = run(clip, engine_factory(), work / "s", fast=True)
        corrected, _ = run(clip, Unbiasable(engine_factory()), work / "s", fast=True, vocab=COURSE)
        biased, _ = run(clip, engine_factory(), work / "s", fast=True, vocab=COURSE)
        said = [" ".join(c.text for c in finals) for finals in (plain, corrected, biased)]
        print(f"{speed:4d} {seconds:6.1f} {len(term_hits(said[0])):4d}/6 {len(term_hits(said[1])):13d}/6 "
              f"{len(term_hits(said[2])):6d}/6  {len(biased)}")
        if speed == speeds[0]:
            for name, text in zip(("plain", "corrector only", "--vocab"), said):
                print(f"     {name}: {text}")


def part_wer(engine_factory, work: Path) -> None:
    clips = gold_english()
    gap = np.zeros(24000, np.float32)
    pieces, spans, t = [], [], 0.0
    for audio, ref in clips:
        pieces += [audio, gap]
        spans.append((t, t + len(audio) / 16000, ref))
        t += (len(audio) + len(gap)) / 16000
    reel = work / "gold.flac"
    sf.write(reel, np.concatenate(pieces), 16000)
    print(f"\n== WER on {len(clips)} gold English clips without course terms ({t:.0f} s, one reel, --fast) ==")
    for name, vocab in (("plain", None), ("--vocab", COURSE)):
        began = time.perf_counter()
        finals, _ = run(reel, engine_factory(), work / "s", fast=True, vocab=vocab)
        wall = time.perf_counter() - began
        pairs = [(ref, " ".join(f.text for f in finals if a - 0.5 <= f.start < b)) for a, b, ref in spans]
        score, errors, words = wer(pairs)
        fixes = [(c["from"], c["to"]) for f in finals for c in f.corrections]
        print(f"{name:8s} WER {score:.2%} ({errors}/{words} words), {len(fixes)} corrections {fixes or ''}, "
              f"{wall:.1f} s wall")


# --- tokens: the policy on a simulated clock -------------------------------------------------------------


def learned(batch: list[Pending]) -> list[tuple[str, str]]:
    """The stand-in model names one new term a batch: its longest word (a stand-in for a technical term)."""
    words = sorted((w for p in batch for w in re.findall(r"[A-Za-z]{8,}", p.text)), key=len, reverse=True)
    return [(words[0].lower(), "术语")] if words else []


def simulate(finals: list[Caption], options: TranslateOptions, terms: list[str] = ()) -> dict:
    """Every request the translator would send for ``finals`` arriving at their ``emitted`` times, with a
    model that answers after 0.8 s + 20 ms per output token."""
    prompts = Prompts()
    glossary = Glossary(terms, options.glossary_max)
    queue = TranslationQueue(options)
    arrivals = sorted(finals, key=lambda c: c.emitted)
    out = {"requests": 0, "system": 0, "user": 0, "glossary": 0, "completion": 0, "batches": [], "delays": []}
    now, i = 0.0, 0
    flight: tuple[float, list[Pending], str] | None = None
    arrived: dict[int, float] = {}
    while i < len(arrivals) or queue.pending:
        next_arrival = arrivals[i].emitted if i < len(arrivals) else None
        if flight is not None:
            done_at, batch, answer = flight
            if next_arrival is None or done_at <= next_arrival:
                now = done_at
                queue.done({p.index: "译" for p in batch})
                glossary.learn(learned(batch))
                out["delays"] += [now - arrived[p.index] for p in batch]
                flight = None
                continue
        else:
            wait = queue.due(now)
            if wait is not None and (next_arrival is None or now + wait <= next_arrival):
                now += wait
                batch = queue.take(now)
                system, user = messages(prompts, "zh", glossary, batch, queue.context())
                answer = stand_in(batch)
                out["requests"] += 1
                out["system"] += estimate_tokens(system["content"])
                out["user"] += estimate_tokens(user["content"])
                if user["content"].startswith("Glossary"):
                    out["glossary"] += estimate_tokens(user["content"].split("\n\n", 1)[0])
                out["completion"] += estimate_tokens(answer)
                out["batches"].append(len(batch))
                flight = (now + 0.8 + 0.02 * estimate_tokens(answer), batch, answer)
                continue
        if next_arrival is None:
            break
        now = max(now, next_arrival)
        c = arrivals[i]
        queue.add(Pending(c.index, c.text, c.start, c.language))
        arrived[c.index] = c.emitted
        i += 1
    return out


def part_tokens(engine_factory, work: Path) -> None:
    finals: list[Caption] = []
    audio_s = 0.0
    for name in TALKS:
        path = SHARED_AUDIO / name
        talk, _ = run(path, engine_factory(), work / "s", fast=True)
        # --fast stamps each final at the decode clock; a live final comes ~0.4 s after its speech ends
        finals += [Caption("final", c.start + audio_s, c.end + audio_s, c.text, language="en", index=len(finals) + k,
                           emitted=(c.speech_end or c.end) + audio_s + 0.4) for k, c in enumerate(talk)]
        audio_s += sf.info(path).duration
    words = sum(len(c.text.split()) for c in finals)
    talks = len(finals)
    # One lecture hour: the two talks over and over (the glossary keeps growing, as it would).
    while finals[-1].end < 3600.0:
        shift, base = finals[-1].end + 1.0, finals[-talks].start
        finals += [Caption("final", c.start - base + shift, c.end - base + shift, c.text, language="en",
                           index=len(finals) + k, emitted=c.emitted - base + shift)
                   for k, c in enumerate(finals[-talks:])]
    finals = [c for c in finals if c.end <= 3600.0]
    print(f"\n== translation tokens per lecture hour (into zh; {talks} finals, {words} words in {audio_s:.0f} s of "
          f"two talks, repeated to an hour: {len(finals)} finals; estimates, see the docstring) ==")
    print(f"{'policy':28s} {'requests/h':>10s} {'finals/req':>10s} {'prompt/h':>9s} {'of it system':>12s} "
          f"{'glossary':>8s} {'output/h':>9s} {'total/h':>9s} {'delay med':>9s}")
    default = TranslateOptions().min_interval_s
    policies = [("one request per final", TranslateOptions(min_interval_s=0.0, max_batch_finals=1))]
    policies += [(f"batched, {gap:g} s apart" + (" (default)" if gap == default else ""),
                  TranslateOptions(min_interval_s=gap)) for gap in sorted({0.0, default, 5.0, 10.0, 20.0})]
    for name, options in policies:
        r = simulate(finals, options)
        prompt = r["system"] + r["user"]
        print(f"{name:28s} {r['requests']:10d} {statistics.mean(r['batches']):10.1f} "
              f"{prompt:9d} {r['system']:12d} {r['glossary']:8d} {r['completion']:9d} "
              f"{prompt + r['completion']:9d} {statistics.median(r['delays']):8.1f}s")
    print("(system: the instructions, the same in every request: a provider's prefix cache bills it at its "
          "cached rate; 'delay': from a final to its translation, simulated model)")


# --- latency: real time, translation off and on --------------------------------------------------------------


def part_latency(engine_factory, work: Path, seconds: float, delay: float, turns: list[str]) -> None:
    from llm_server import LLMServer

    source, rate = sf.read(SHARED_AUDIO / TALKS[1], dtype="float32")
    excerpt = work / "excerpt.flac"
    sf.write(excerpt, source[: int(seconds * rate)], rate)
    server = LLMServer()

    def answer(body: dict) -> str:
        time.sleep(delay)
        return stand_in(body)

    server.responder = answer
    import os

    os.environ["LIVE_LLM_API_KEY"] = "sk-bench-000000000000"
    llm = {"base_url": server.url + "/v1", "model": "stand-in", "interval_minutes": 0}
    print(f"\n== caption latency, real-time replay of {seconds:.0f} s of {TALKS[1]} (emitted - speech_end, s); "
          f"translation into zh by a local server answering after {delay:g} s ==")
    rows = []
    for turn in turns:
        server.requests.clear()
        began = time.perf_counter()
        finals, session = run(excerpt, engine_factory(), work / "s", fast=False,
                              translate="zh" if turn == "on" else None, vocab=COURSE if turn == "vocab" else None,
                              llm=llm)
        wall = time.perf_counter() - began
        lat = [c.latency for c in finals]
        stats = session.translator.stats if session.translator is not None else None
        rows.append((turn, lat, wall, stats))
        p90 = sorted(lat)[int(0.9 * (len(lat) - 1))]
        extra = ""
        if stats is not None:
            tokens = stats.prompt_tokens_est + stats.completion_tokens_est
            extra = (f"; {stats.requests} requests, {stats.translated}/{len(finals)} translated, ~{tokens} tokens "
                     f"(≈{tokens * 3600 / seconds:.0f}/h: {stats.prompt_tokens_est * 3600 / seconds:.0f} in, "
                     f"{stats.completion_tokens_est * 3600 / seconds:.0f} out)")
        print(f"{turn:5s}: {len(finals)} finals, median {statistics.median(lat):.2f}, p90 {p90:.2f}, "
              f"max {max(lat):.2f}; wall {wall:.1f} s{extra}")
    server.close()
    for turn in dict.fromkeys(turns):
        pooled = [x for t, lat, _, _ in rows if t == turn for x in lat]
        print(f"pooled {turn:5s}: median {statistics.median(pooled):.2f} s over {len(pooled)} finals")
    print("(off: no translation, no vocabulary; on: --translate zh; vocab: --vocab course_vocab.txt, which makes "
          "Whisper decode each final twice)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="recall,wer,tokens,latency")
    parser.add_argument("--speeds", default="150,135,165")
    parser.add_argument("--latency-s", type=float, default=60.0)
    parser.add_argument("--model-delay", type=float, default=1.0)
    parser.add_argument("--turns", default="off,on,vocab,off,on,vocab", help="latency runs, in this order")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    from live.asr.whisper import WhisperEngine

    parts = args.parts.split(",")
    work = Path(tempfile.mkdtemp(prefix="language-live-"))
    cache: list = []

    def engine_factory():
        """The one tiny.en, its bias cleared: a session's vocabulary stays on the engine it biased."""
        if not cache:
            cache.append(WhisperEngine(threads=args.threads))
        engine = cache[0]
        engine.hotwords = engine.initial_prompt = None
        return engine

    if "recall" in parts:
        part_recall(engine_factory, [int(s) for s in args.speeds.split(",")], work)
    if "wer" in parts and SHARED_AUDIO.is_dir():
        part_wer(engine_factory, work)
    if "tokens" in parts and SHARED_AUDIO.is_dir():
        part_tokens(engine_factory, work)
    if "latency" in parts and SHARED_AUDIO.is_dir():
        part_latency(engine_factory, work, args.latency_s, args.model_delay, args.turns.split(","))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
