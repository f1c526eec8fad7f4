"""Hours of audio on an accelerated clock, in this process: is memory flat, does the backlog stay bounded?"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from live.audio import SAMPLE_RATE
from live.bench.replay import Config, _proc_sample

# --- long run: hours of audio on an accelerated clock ---------------------------------------------


class LoopSource:
    """Real talks alternated with silence for ``hours`` of audio, released ``speed`` × faster than real time."""

    realtime = True
    overflows = 0

    def __init__(self, clips: list[np.ndarray], hours: float, speed: float, silence_s: float = 60.0) -> None:
        self.clips = clips
        self.total = int(hours * 3600 * SAMPLE_RATE)
        self.speed = speed
        self.silence = np.zeros(int(silence_s * SAMPLE_RATE), np.float32)
        self.handed = 0
        self._t0: float | None = None
        self._cursor = (0, 0)  # (piece number, offset in it)
        self.description = f"loop of {len(clips)} talks, {hours:g} h at ×{speed:g}"

    def start(self) -> None:
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self.total = self.handed

    @property
    def waiting(self) -> bool:
        left = self.total - self.handed
        return left > 0 and int(self.stream_time() * SAMPLE_RATE) - self.handed >= min(1600, left)

    def stream_time(self) -> float:
        released = (time.monotonic() - (self._t0 or time.monotonic())) * self.speed
        return min(released, self.total / SAMPLE_RATE)

    def _piece(self, n: int) -> np.ndarray:
        return self.clips[(n // 2) % len(self.clips)] if n % 2 == 0 else self.silence

    def read(self, timeout: float) -> np.ndarray | None:
        from live.audio import EndOfStream

        if self.handed >= self.total:
            raise EndOfStream
        available = int(self.stream_time() * SAMPLE_RATE) - self.handed
        if available < min(1600, self.total - self.handed):  # the last block may be short
            time.sleep(min(timeout, 0.1 / self.speed))
            return None
        want = min(available, SAMPLE_RATE, self.total - self.handed)
        out = []
        n, off = self._cursor
        while want > 0:
            piece = self._piece(n)
            take = piece[off:off + want]
            out.append(take)
            want -= len(take)
            off += len(take)
            if off >= len(piece):
                n, off = n + 1, 0
        self._cursor = (n, off)
        block = np.concatenate(out)
        self.handed += len(block)
        return block


def long_run(config: Config, clips: list[Path], hours: float, speed: float, every_min: float = 10.0) -> list[dict]:
    """Run in this process; returns samples of (audio minutes, RSS MB, backlog s, finals)."""
    from live.asr.loader import load_engine
    from live.audio import decode_file
    from live.session import Status, Worker

    source = LoopSource([decode_file(p) for p in clips], hours, speed)
    samples: list[dict] = []
    state = {"finals": 0, "next": 0.0}

    def sink(event: object) -> None:
        from live.captions import Caption

        if isinstance(event, Caption) and event.kind == "final" and event.text:
            state["finals"] += 1
        if isinstance(event, Status) and event.clock >= state["next"]:
            state["next"] += every_min * 60
            got = _proc_sample(os.getpid())
            samples.append({"audio_min": event.clock / 60, "rss_mb": got[1] if got else None,
                            "backlog_s": event.backlog_s, "finals": state["finals"]})
            print(f"  {event.clock / 60:6.0f} min  rss {samples[-1]['rss_mb']:7.0f} MB  "
                  f"backlog {event.backlog_s:5.1f} s  finals {state['finals']}", file=sys.stderr, flush=True)

    loader = lambda on_status: load_engine(config.engine, model=config.model, backend=config.backend)  # noqa: E731
    Worker(lambda: source, loader, sink).run()
    return samples


def default_clips() -> list[Path]:
    shared = Path(__file__).resolve().parents[2] / "shared" / "audio" / "en"
    talks = [shared / "ibm_08_ibm_watson_ai_3min.flac", shared / "ibm_11_ibm_culture_2min.flac"]
    if all(p.exists() for p in talks):
        return talks
    from live.session import demo_clip

    return [demo_clip()]


