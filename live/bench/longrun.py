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


class _Sampler:
    """Samples this process every ``every_s`` seconds of audio: RSS, backlog, finals (and the caption
    view's rows when the TUI runs)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.next = 0.0
        self.finals = 0
        self.samples: list[dict] = []

    def __call__(self, event: object, rows: int | None = None) -> None:
        from live.captions import Caption
        from live.session import Status

        if isinstance(event, Caption) and event.kind == "final" and event.text:
            self.finals += 1
        if not isinstance(event, Status) or event.clock < self.next:
            return
        self.next += self.every_s
        got = _proc_sample(os.getpid())
        sample = {"audio_min": event.clock / 60, "rss_mb": got[1] if got else None,
                  "backlog_s": event.backlog_s, "finals": self.finals}
        if rows is not None:
            sample["view_rows"] = rows
        self.samples.append(sample)
        shown = f"  view rows {rows}" if rows is not None else ""
        print(f"  {event.clock / 60:6.0f} min  rss {sample['rss_mb']:7.0f} MB  backlog {event.backlog_s:5.1f} s  "
              f"finals {self.finals}{shown}", file=sys.stderr, flush=True)


def long_run(config: Config, clips: list[Path], hours: float, speed: float, every_min: float = 10.0, *,
             tui: bool = False) -> list[dict]:
    """A whole session (writer, captioner, notes off) over the looped talks, in this process, headless
    or in the TUI (drawn off screen); returns the samples."""
    import tempfile

    from live.asr.loader import load_engine
    from live.audio import decode_file
    from live.config import Settings

    source = LoopSource([decode_file(p) for p in clips], hours, speed)
    sampler = _Sampler(every_min * 60)

    def loader(on_status):
        return load_engine(config.engine, model=config.model, backend=config.backend, on_status=on_status)

    with tempfile.TemporaryDirectory(prefix="live-longrun-") as tmp:
        settings = Settings(engine=config.engine, backend=config.backend, model=config.model,
                            session_dir=Path(tmp), record_audio=False, headless=not tui)
        if tui:
            _run_tui(settings, source, loader, sampler)
        else:
            from live.session import SessionOptions, build_session

            session = build_session(settings, sampler, SessionOptions(notes="off"), open_source=lambda: source,
                                    load_engine=loader)
            session.run()
            session.close()
    return sampler.samples


def _run_tui(settings, source, loader, sampler: _Sampler) -> None:
    from live.session import Finished
    from live.tui.app import LiveApp
    from live.tui.caption_view import CaptionView

    class MeasuredApp(LiveApp):
        def on_pipeline_event(self, message) -> None:
            # Textual calls LiveApp's handler of the same name too (each class in the MRO has its turn).
            view = self.query_one(CaptionView)
            sampler(message.event, rows=len(view.rows))
            if isinstance(message.event, Finished):
                self.exit(0)

    MeasuredApp(settings, open_source=lambda: source, load_engine=loader).run(headless=True, size=(100, 30))


def default_clips() -> list[Path]:
    shared = Path(__file__).resolve().parents[3] / "shared" / "audio" / "en"  # beside the checkout
    talks = [shared / "ibm_08_ibm_watson_ai_3min.flac", shared / "ibm_11_ibm_culture_2min.flac"]
    if all(p.exists() for p in talks):
        return talks
    from live.session import demo_clip

    return [demo_clip()]


