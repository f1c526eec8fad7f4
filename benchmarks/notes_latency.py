"""Do rolling notes slow the captions? And do the tokens sent per update stay flat?

    python benchmarks/notes_latency.py [--input TALK] [--engine whisper] [--every 0.25] [--rounds 1]

Replays a talk in real time through ``live --headless`` twice per round, without and with rolling
notes (every ``--every`` minutes) against a real local OpenAI-compatible server that streams a slow,
fixed-size answer; prints final-caption latency for both and the prompt size of each notes request.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from llm_server import LLMServer  # noqa: E402  (the tests' real loopback server)

from live.bench import Config, run_config  # noqa: E402

NOTES = "# Notes\n\n" + "".join(f"## Section {i}\n\n- **Concept {i}**: a point made in the talk.\n\n" for i in range(12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=REPO.parent / "shared/audio/en/ibm_08_ibm_watson_ai_3min.flac")
    parser.add_argument("--engine", default="whisper", help="engine[:backend][@model]")
    parser.add_argument("--every", type=float, default=0.25, help="minutes between rolling updates")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    server = LLMServer()
    for _ in range(200):
        server.enqueue_text(NOTES, chunks=120, delay_s=0.02)  # ~2.4 s of streaming per update
    config = Config.parse(args.engine)
    rows = []
    try:
        for _ in range(args.rounds):
            for notes in (False, True):
                env_key = "LIVE_LLM_API_KEY"
                if notes:
                    os.environ[env_key] = "sk-bench-not-a-real-key"
                else:
                    os.environ.pop(env_key, None)
                extra = ["--llm-base-url", server.url, "--llm-model", "bench", "--notes-every", str(args.every)]
                before = len(server.requests)
                result = run_config(config, args.input, fast=False, extra=extra)
                lat = result.latencies()
                rows.append((notes, np.percentile(lat, 50), np.percentile(lat, 95), max(lat),
                             len(server.requests) - before, result.error))
                print(f"{'with' if notes else 'without'} notes: p50 {rows[-1][1]:.2f} s  p95 {rows[-1][2]:.2f} s  "
                      f"max {rows[-1][3]:.2f} s  notes requests {rows[-1][4]}  {result.error or ''}",
                      file=sys.stderr, flush=True)
    finally:
        os.environ.pop("LIVE_LLM_API_KEY", None)
        server.close()

    print("\nfinal-caption latency (real-time replay of", args.input.name + ")")
    print(f"{'notes':10}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'requests':>10}")
    for notes, p50, p95, mx, n, _ in rows:
        print(f"{'on' if notes else 'off':10}{p50:8.2f}{p95:8.2f}{mx:8.2f}{n:10d}")
    print("\nprompt size of each notes request (chars, ~tokens by the server's count):")
    for i, req in enumerate(server.requests, 1):
        new = req.last_user
        print(f"  update {i:2d}: {req.prompt_chars:6d} chars (~{req.prompt_chars / 3.5:5.0f} tokens), "
              f"new transcript in it {len(new):5d} chars")


if __name__ == "__main__":
    main()
