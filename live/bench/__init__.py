"""``live bench``: replay a recording through the whole live pipeline and print what a user feels.

Each configuration runs ``live --headless --json --partials`` in a fresh process (so its load time and
memory are its own) while this process samples its CPU and memory. Reported per configuration:
final-caption latency p50/p95/max from the end of speech (``emitted - speech_end``, with
``emitted - end`` beside it), delay from a segment's start to its first
partial, ASR real-time factor by segment length, CPU while speaking and while silent, peak memory,
time to the first caption, overflows and backlog; and, from a TUI launched in a pseudo-terminal, the
time until its first frame is on screen. ``--compare`` runs several configurations one after another in the
same run and prints ratios against the first.

``--room --viewers 50,200,500`` is the room mode (``live.bench.room``): ``live --share``'s viewers on
loopback, their delivery after the sharer's own screen, the sharer's latency against not sharing, and
memory per viewer, with a plot and screenshots of the page.

``--hours H`` is the long-run mode: real talks and silences looped for H hours of audio, replayed on an
accelerated clock in this process, reporting memory and backlog over time.
"""

from live.bench.command import bench_main
from live.bench.replay import Config, Result, run_config, time_to_ui

__all__ = ["Config", "Result", "bench_main", "run_config", "time_to_ui"]
