"""The bench's table (with ratios against the first configuration) and its plot."""

from __future__ import annotations

import sys
from pathlib import Path

from live.bench.replay import Result
from live.session.stats import LENGTH_BINS

# --- printing -------------------------------------------------------------------------------------


def _fmt(value, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{unit}"


def print_table(results: list[Result], out=sys.stdout) -> None:
    rows = [
        ("final latency from end of speech p50", lambda s: _fmt(s["latency_p50_s"], " s")),
        ("final latency from end of speech p95", lambda s: _fmt(s["latency_p95_s"], " s")),
        ("final latency from end of speech max", lambda s: _fmt(s["latency_max_s"], " s")),
        ("  emitted − end (segment end) p50/p95", lambda s: f"{_fmt(s['latency_end_p50_s'])}/{_fmt(s['latency_end_p95_s'])} s"),
        ("  input latency added (microphone)", lambda s: _fmt(s["input_latency_s"], " s", 3)),
        ("segment start → 1st partial p50", lambda s: _fmt(s["first_partial_p50_s"], " s")),
        ("ASR RTF (all finals+partials)", lambda s: _fmt(s["rtf"].get("all"), "", 3)),
        *[(f"ASR RTF, {lo}-{hi} s segments", (lambda key: lambda s: _fmt(s["rtf"].get(key), "", 3))(f"{lo}-{hi} s"))
          for lo, hi in LENGTH_BINS],
        ("CPU while speaking (% of a core)", lambda s: _fmt(s["cpu_speech_pct"], " %", 1)),
        ("CPU while silent (% of a core)", lambda s: _fmt(s["cpu_silence_pct"], " %", 1)),
        ("peak memory", lambda s: _fmt(s["peak_rss_mb"], " MB", 0)),
        ("UI on screen after launch", lambda s: _fmt(s["ui_s"], " s")),
        ("model ready after launch", lambda s: _fmt(s["model_ready_s"], " s")),
        ("first caption after launch", lambda s: _fmt(s["first_caption_s"], " s")),
        ("cold start: first final, no ONNX build yet", lambda s: _fmt(s["cold_start_s"], " s")),
        ("finals", lambda s: str(s["finals"])),
        ("overflows", lambda s: str(s["overflows"])),
        ("max backlog", lambda s: _fmt(s["max_backlog_s"], " s")),
        ("lag max (oldest uncaptioned speech)", lambda s: _fmt(s["max_lag_s"], " s")),
        ("governor steps (deepest shed)", lambda s: f"{s['governor_steps'] or 0} ({s['deepest_shed'] or 'none'})"),
    ]
    summaries = [r.summary() for r in results]
    width = max(len(name) for name, _ in rows) + 2
    col = max(18, *(len(s["config"]) + 2 for s in summaries))
    print("".ljust(width) + "".join(s["config"].rjust(col) for s in summaries), file=out)
    for name, get in rows:
        print(name.ljust(width) + "".join(get(s).rjust(col) for s in summaries), file=out)
    if len(summaries) > 1:
        base = summaries[0]
        print(f"\nratios against {base['config']} (lower is better):", file=out)
        for key, label in (("latency_p95_s", "final latency p95"), ("peak_rss_mb", "peak memory")):
            cells = [(_fmt(s[key] / base[key], "×") if s[key] and base[key] else "–") for s in summaries]
            print(label.ljust(width) + "".join(c.rjust(col) for c in cells), file=out)
        cells = [(_fmt(s["rtf"]["all"] / base["rtf"]["all"], "×") if s["rtf"].get("all") and base["rtf"].get("all")
                  else "–") for s in summaries]
        print("ASR time per audio second".ljust(width) + "".join(c.rjust(col) for c in cells), file=out)
    for s in summaries:
        if s["error"]:
            print(f"\n{s['config']}: failed: {s['error']}", file=out)


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax3, ax2) = plt.subplots(1, 3, figsize=(17, 4.5))
    for r in results:
        ax1.plot([f["end"] for f in r.finals], r.latencies(), marker=".", label=r.config.label)
        decodes = [(a, w) for kind, a, w in r.stats.get("recent_decodes", [])]
        if decodes:
            ax2.scatter([a for a, _ in decodes], [w for _, w in decodes], s=10, label=r.config.label)
        lags = r.stats.get("lag_samples", [])
        if lags:
            ax3.plot([t for t, _, _ in lags], [lag for _, lag, _ in lags], label=r.config.label)
    ax1.set(xlabel="audio time (s)", ylabel="final latency from end of speech (s)", title="Final-caption latency")
    ax3.set(xlabel="audio time (s)", ylabel="lag (s)", title="Lag: how long the oldest uncaptioned speech waited")
    ax2.set(xlabel="segment length (s)", ylabel="decode time (s)", title="Decode time against segment length")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


