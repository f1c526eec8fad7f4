"""The session core driven without any UI: a real file source, Whisper tiny.en, the real session folder.

Faults are injected at each boundary — the engine (at load and at the Nth decode), the audio source,
the writer, the notes — and each must end well: a clear message, the files intact, a prompt end.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from audio_helpers import DATA
from live.audio import FileSource
from live.captions import Caption
from live.config import Settings
from live.llm import LLMSettings
from live.session import EngineState, Finished, Marker, Notice, SessionOptions, Status, build_session
from live.transcript import SessionWriter

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")


class Flaky:
    """A real engine that raises on the chosen decodes (or at load), as a runtime error inside
    CTranslate2 / ONNX Runtime would."""

    def __init__(self, engine, fail_on=(), error=RuntimeError("CUDA error: an illegal memory access")):
        self.engine, self.fail_on, self.error, self.calls = engine, set(fail_on), error, 0
        self.name, self.model = engine.name, engine.model

    def transcribe(self, audio, language="auto"):
        self.calls += 1
        if self.calls in self.fail_on:
            raise self.error
        return self.engine.transcribe(audio, language)


class Recorder:
    """A front end that keeps every event, and checks that a final is on disk when it arrives."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.folder: Path | None = None
        self.finished = threading.Event()
        self.on_disk_when_shown: list[bool] = []
        self._arrived = threading.Condition()

    def __call__(self, event: object) -> None:
        if isinstance(event, Caption) and event.kind == "final" and event.text and self.folder is not None:
            self.on_disk_when_shown.append(event.text in (self.folder / "transcript.jsonl").read_text())
        with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()
        if isinstance(event, Finished):
            self.finished.set()

    def wait(self, holds, timeout: float = 30.0, what: str = "an event") -> None:
        """Until ``holds()`` is true of the events so far (checked as each arrives)."""
        with self._arrived:
            assert self._arrived.wait_for(holds, timeout), f"timed out waiting for {what}"

    def finals(self) -> list[Caption]:
        return [e for e in self.events if isinstance(e, Caption) and e.kind == "final" and e.text]

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def settings(tmp_path: Path, input: Path = DATA / "jfk.flac", **kw) -> Settings:
    kw.setdefault("fast", True)
    return Settings(input=input, engine="whisper", session_dir=tmp_path / "sessions", **kw)


def session_for(tmp_path, engine, recorder, *, open_source=None, **kw):
    load = engine if callable(engine) and not hasattr(engine, "transcribe") else (lambda _s: (engine, "test engine"))
    session = build_session(settings(tmp_path, **kw.pop("settings", {})), recorder, SessionOptions(notes="off", **kw),
                            load_engine=load, open_source=open_source)
    recorder.folder = session.folder
    return session


def disk_finals(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()
            if json.loads(line)["type"] == "final"]


def test_events_in_order_and_finals_on_disk_before_the_front_end_sees_them(tmp_path, whisper_engine):
    rec = Recorder()
    session = session_for(tmp_path, whisper_engine, rec, partials=True)
    session.run()
    kinds = [type(e).__name__ for e in rec.events if not isinstance(e, Status)]
    assert kinds[0] == "EngineState" and kinds[-1] == "Finished"
    states = [e.state for e in rec.of(EngineState)]
    assert states[0] == "loading" and "ready" in states
    finals = rec.finals()
    assert finals and all(rec.on_disk_when_shown)
    assert "your country" in " ".join(f.text for f in finals).lower()
    assert [f.index for f in finals] == sorted(f.index for f in finals)
    assert rec.of(Finished)[0].error is None
    # A --fast replay is always behind (audio is waiting): no partial is decoded, finals only.
    decoded = {kind for key, row in session.stats.decode_bins.items() for kind in [key.split()[0]]}
    assert decoded == {"final"}


def test_engine_that_fails_to_load_leaves_the_audio_recording_and_retry_restarts(tmp_path, whisper_engine):
    """Real time, so the 'microphone' goes on while recognition is down; r (Retry) reloads the model."""
    loads = {"n": 0}

    def load(_status):
        loads["n"] += 1
        if loads["n"] == 1:
            raise MemoryError("out of memory while loading the weights")
        return whisper_engine, "whisper (second try)"

    rec = Recorder()
    session = session_for(tmp_path, load, rec, settings={"fast": False}, stop_on_failure=False)
    session.start()
    rec.wait(lambda: any(e.state == "failed" for e in rec.of(EngineState)), 20, "the load to fail")
    failed = [e for e in rec.of(EngineState) if e.state == "failed"][0]
    assert "recognition stopped: could not load the model: MemoryError: out of memory" in failed.message
    assert str(session.folder) in failed.message  # captions so far are saved in …
    down = session.clock()
    rec.wait(lambda: any(s.clock >= down + 1.0 for s in rec.of(Status)), 20, "a second of audio while down")
    session.retry()
    rec.wait(lambda: bool(rec.finals()), 40, "a final after the retry")
    session.stop()
    assert session.join(timeout=20)
    assert [e.state for e in rec.of(EngineState)][-1] == "ready"
    assert any("recognition restarted" in n.message for n in rec.of(Notice))
    assert rec.finals() and rec.of(Finished)[0].error is None
    audio, rate = sf.read(session.folder / "audio.wav")
    assert len(audio) / rate > 1.0  # recorded all along


def test_decode_that_raises_stops_recognition_with_a_message_and_ends_promptly(tmp_path, whisper_engine):
    rec = Recorder()
    flaky = Flaky(whisper_engine, fail_on={2})
    session = session_for(tmp_path, flaky, rec, settings={"input": DATA / "realpython_harvard.flac"},
                          stop_on_failure=True)
    began = time.monotonic()
    session.run()
    assert time.monotonic() - began < 30
    done = rec.of(Finished)[0]
    assert done.error.startswith("recognition stopped: RuntimeError: CUDA error: an illegal memory access")
    assert str(session.folder) in done.error
    shown = [f.text for f in rec.finals()]
    assert shown and [f["text"] for f in disk_finals(session.folder)] == shown  # every final shown is saved
    audio, rate = sf.read(session.folder / "audio.wav")
    assert rate == 16000 and len(audio) > 0
    assert "Traceback" in (session.folder / "live.log").read_text()  # the traceback is in the log


def test_retry_after_a_failed_decode_captions_the_rest_without_loss_or_repeat(tmp_path, whisper_engine):
    rec = Recorder()
    flaky = Flaky(whisper_engine, fail_on={2})
    session = session_for(tmp_path, lambda _s: (flaky, "flaky"), rec,
                          settings={"input": DATA / "realpython_harvard.flac"}, stop_on_failure=False)
    session.start()
    rec.wait(lambda: any(e.state == "failed" for e in rec.of(EngineState)), 60, "the decode to fail")
    session.retry()
    assert rec.finished.wait(60)
    finals = rec.finals()
    indices = [f.index for f in finals]
    assert indices == sorted(set(indices))  # nothing repeated, in order
    assert len(finals) >= 5  # the final that failed came out after the retry, and the rest after it
    assert rec.of(Finished)[0].error is None
    assert [f["index"] for f in disk_finals(session.folder)] == indices


class BrokenSource(FileSource):
    """A real file source whose device driver raises after a few reads."""

    def __init__(self, path, after: int):
        super().__init__(path, realtime=False)
        self.after, self.reads = after, 0

    def read(self, timeout):
        self.reads += 1
        if self.reads > self.after:
            raise OSError(5, "Input/output error")
        return super().read(timeout)


def test_a_source_that_raises_ends_the_session_with_a_message(tmp_path, whisper_engine):
    rec = Recorder()
    session = session_for(tmp_path, whisper_engine, rec,
                          open_source=lambda: BrokenSource(DATA / "realpython_harvard.flac", after=60))
    began = time.monotonic()
    session.run()
    assert time.monotonic() - began < 30
    assert rec.of(Finished)[0].error == "audio stopped: OSError: [Errno 5] Input/output error"
    assert [f["text"] for f in disk_finals(session.folder)] == [f.text for f in rec.finals()]
    sf.read(session.folder / "audio.wav")  # readable


class FailingWriter(SessionWriter):
    def __init__(self, *args, fail_at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail_at, self.count = fail_at, 0

    def add_final(self, caption):
        self.count += 1
        if self.count == self.fail_at:
            raise ValueError("the encoder met a surrogate it cannot write")
        super().add_final(caption)


def test_a_writer_that_raises_ends_the_session_and_keeps_what_was_saved(tmp_path, whisper_engine, monkeypatch):
    import live.session.builder as builder

    monkeypatch.setattr(builder, "SessionWriter", type("W", (FailingWriter,), {
        "__init__": lambda self, *a, **k: FailingWriter.__init__(self, *a, fail_at=2, **k),
        "create": classmethod(lambda cls, root, **k: cls(root / "s", **k)),
    }))
    rec = Recorder()
    session = session_for(tmp_path, whisper_engine, rec, settings={"input": DATA / "realpython_harvard.flac"})
    session.run()
    error = rec.of(Finished)[0].error
    assert error.startswith("saving stopped: ValueError: the encoder met a surrogate")
    assert len(disk_finals(session.folder)) == 1 == len(rec.finals())
    assert (session.folder / "transcript.txt").exists()  # the folder was still closed properly


def test_bookmark_during_a_decode_lands_after_the_caption_on_screen_exactly_once(tmp_path, whisper_engine):
    class Slow:
        name, model = whisper_engine.name, whisper_engine.model

        def __init__(self):
            self.decoding = threading.Event()

        def transcribe(self, audio, language="auto"):
            self.decoding.set()
            time.sleep(0.5)
            return whisper_engine.transcribe(audio, language)

    slow = Slow()
    rec = Recorder()
    session = session_for(tmp_path, slow, rec, settings={"input": DATA / "realpython_harvard.flac"})
    session.start()
    assert slow.decoding.wait(30)
    rec.wait(lambda: bool(rec.finals()), 60, "the first final")
    session.bookmark("exam!")
    assert rec.finished.wait(60)
    lines = [json.loads(line) for line in (session.folder / "transcript.jsonl").read_text().splitlines()]
    lines = [line for line in lines if line["type"] != "speaker"]  # who said each final: lines of their own
    marks = [i for i, line in enumerate(lines) if line["type"] == "bookmark"]
    assert len(marks) == 1 and lines[marks[0]]["note"] == "exam!"
    assert lines[0]["type"] == "final" and marks[0] >= 1  # after the caption that was on screen
    shown = [e for e in rec.events if isinstance(e, (Caption, Marker)) and getattr(e, "kind", "") != "partial"]
    assert [getattr(e, "text", None) or "bookmark" for e in shown if not isinstance(e, Caption) or e.text] == \
        [line.get("text") or "bookmark" for line in lines]  # the screen's order is the file's


def test_far_behind_keeps_memory_flat_and_says_what_was_not_captioned(tmp_path, whisper_engine):
    """Recognition down while speech goes on: the waiting speech is bounded, the user told."""
    rec = Recorder()
    session = build_session(settings(tmp_path, input=DATA / "realpython_harvard.flac", fast=False), rec,
                            SessionOptions(notes="off", stop_on_failure=False),
                            load_engine=lambda _s: (_ for _ in ()).throw(RuntimeError("no")))
    session.worker.max_pending_s = 4.0
    rec.folder = session.folder
    session.start()
    rec.wait(lambda: any("not captioned yet" in n.message for n in rec.of(Notice)), 30, "the not-captioned notice")
    session.stop()
    session.join(10)
    assert session.worker.captioner.pending_audio_s <= 4.0
    told = [n.message for n in rec.of(Notice) if "not captioned yet" in n.message]
    assert "captions it from the session's audio" in told[0]  # `live finish` can, later


def test_notes_failure_reaches_the_front_end_and_captions_go_on(tmp_path, whisper_engine, llm_server, monkeypatch):
    from live.notes import NotesEvent

    monkeypatch.setenv("LIVE_LLM_API_KEY", "sk-test-notes-failure-0123456789")
    llm_server.enqueue_error(401, "invalid api key")
    rec = Recorder()
    session = build_session(
        settings(tmp_path, llm=LLMSettings(base_url=llm_server.url, model="m", interval_minutes=0)), rec,
        SessionOptions(notes="on"), load_engine=lambda _s: (whisper_engine, "w"))
    rec.folder = session.folder
    session.run()
    session.request_notes("update")
    rec.wait(lambda: any(isinstance(e, NotesEvent) and e.kind == "error" for e in rec.events), 30, "the notes' error")
    session.close()
    errors = [e for e in rec.events if isinstance(e, NotesEvent) and e.kind == "error"]
    assert errors and errors[0].error == "AuthError"
    assert rec.finals() and rec.of(Finished)[0].error is None


def test_headless_failure_is_one_line_without_traceback_and_exit_1(tmp_path, whisper_engine, monkeypatch, capsys):
    import live.session.builder as builder
    from live.cli import main

    flaky = Flaky(whisper_engine, fail_on={1})
    monkeypatch.setattr(builder, "engine_loader", lambda settings: (lambda _s: (flaky, "flaky")))
    code = main(["--headless", "--input", str(DATA / "jfk.flac"), "--fast", "--engine", "whisper",
                 "--session-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("live: error:")]
    assert len(lines) == 1 and "recognition stopped: RuntimeError: CUDA error" in lines[0]
    assert "Traceback" not in err
    folder = next((tmp_path / "s").iterdir())
    assert "Traceback" in (folder / "live.log").read_text()


class SlowCancellable:
    """A real engine behind decodes that take ``seconds`` each unless cancelled (as ONNX Runtime's
    terminate flag stops a run): the scripted slow engine a final must never queue behind."""

    def __init__(self, engine, seconds: float):
        self.engine, self.seconds = engine, seconds
        self.name, self.model = engine.name, engine.model
        self._stop = threading.Event()
        self.cancelled = 0
        self.longest_own = 0.0  # the real engine's own time, which the machine's load decides

    def transcribe(self, audio, language="auto"):
        self._stop.clear()
        if self._stop.wait(self.seconds):
            self.cancelled += 1
            raise RuntimeError("terminated")
        began = time.monotonic()
        result = self.engine.transcribe(audio, language)
        self.longest_own = max(self.longest_own, time.monotonic() - began)
        return result

    def cancel(self):
        self._stop.set()


def test_a_final_never_waits_behind_a_partial(tmp_path, whisper_engine):
    """Real time, decodes of 1.2 s: a partial still running when its segment goes quiet is stopped,
    so the final's latency is the closing silence and one decode, never a partial's rest on top."""
    slow = SlowCancellable(whisper_engine, 1.2)
    rec = Recorder()
    session = session_for(tmp_path, slow, rec, settings={"input": DATA / "realpython_harvard.flac", "fast": False},
                          partials=True)
    session.run()
    finals = rec.finals()
    assert len(finals) >= 4 and slow.cancelled >= 1
    closing, decode = 0.5, 1.2 + slow.longest_own
    # Waiting behind a partial would add up to another 1.2 s; the worker's polling adds at most ~0.1 s.
    assert max(f.latency for f in finals) <= closing + decode + 0.35, [round(f.latency, 2) for f in finals]
    assert all(f.speech_end is not None and f.start < f.speech_end <= f.end for f in finals)
