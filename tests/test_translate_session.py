"""Bilingual captions in whole sessions: headless (in process and as `live --headless --json`), the
TUI, `live transcribe --translate`, and a model that hangs or fails while the captions go on in real
time at the latency they have without translation. The model is a real local OpenAI-compatible server
(tests/llm_server.py) whose stand-in answers read the request."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from audio_helpers import DATA
from live.captions import Caption
from live.config import Settings
from live.llm import LLMSettings
from live.session import Finished, Notice, SessionOptions, Translation, build_session
from live.translate import TranslateOptions
from translate_helpers import KEY, asked, translating


# --- sessions --------------------------------------------------------------------------------------


def session_settings(tmp_path: Path, llm, input: Path = DATA / "jfk.flac", **kw) -> Settings:
    kw.setdefault("fast", True)
    kw.setdefault("translate", "zh")
    return Settings(input=input, engine="whisper", session_dir=tmp_path / "sessions",
                    llm=LLMSettings(base_url=llm.url + "/v1", model="m", interval_minutes=0), **kw)


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []
        self.lock = threading.Lock()

    def __call__(self, event: object) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, kind) -> list:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]

    def finals(self) -> list[Caption]:
        return [c for c in self.of(Caption) if c.kind == "final" and c.text]


def run_session(tmp_path, server, engine, recorder, options=None, **kw):
    session = build_session(session_settings(tmp_path, server, **kw), recorder,
                            SessionOptions(notes="off", translate=options or TranslateOptions(min_interval_s=0.0)),
                            load_engine=lambda _s: (engine, "whisper tiny.en (test)"))
    try:
        session.run()
    finally:
        session.close()
    return session


def jsonl(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]


def test_a_session_writes_each_translation_once_after_its_final(tmp_path, llm_server, whisper_engine, monkeypatch):
    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    llm_server.responder = translating
    rec = Recorder()
    session = run_session(tmp_path, llm_server, whisper_engine, rec)
    lines = jsonl(session.folder)
    finals = [x for x in lines if x["type"] == "final"]
    translations = [x for x in lines if x["type"] == "translation"]
    assert len(finals) >= 3 and "your country" in " ".join(f["text"] for f in finals).lower()
    assert sorted(t["index"] for t in translations) == [f["index"] for f in finals]  # each once
    position = {(x["type"], x["index"]): i for i, x in enumerate(lines)}
    assert all(position[("translation", t["index"])] > position[("final", t["index"])] for t in translations)
    assert all(set(t) == {"type", "index", "lang", "text"} and t["lang"] == "zh" for t in translations)
    by_index = {f["index"]: f["text"] for f in finals}
    assert all(t["text"] == f"译{t['index']}：{by_index[t['index']]}" for t in translations)
    # every request held finals in order, and together they held each final once
    sent = [i for r in llm_server.requests for i, _ in asked(r.body)]
    assert sent == sorted(sent) == [f["index"] for f in finals]
    # the front end saw each translation after its final, and the end only after the last one
    shown = [e for e in rec.events if isinstance(e, (Caption, Translation, Finished))
             and not (isinstance(e, Caption) and e.kind == "partial")]
    assert isinstance(shown[-1], Finished) and shown[-1].error is None
    order = [(type(e).__name__, getattr(e, "index", None)) for e in shown]
    assert all(order.index(("Translation", t["index"])) > order.index(("Caption", t["index"])) for t in translations)
    srt = (session.folder / "transcript.zh.srt").read_text()
    vtt = (session.folder / "transcript.zh.vtt").read_text()
    assert srt.count(" --> ") >= len(finals) and "译0：" in srt and vtt.startswith("WEBVTT") and "译1：" in vtt
    assert (session.folder / "transcript.srt").read_text().count(" --> ") >= len(finals)  # the originals too


def test_headless_json_prints_translations_after_their_finals(tmp_path, llm_server):
    llm_server.responder = translating
    done = subprocess.run(
        [sys.executable, "-m", "live", "--input", str(DATA / "jfk.flac"), "--fast", "--headless", "--json",
         "--engine", "whisper", "--language", "en", "--translate", "zh", "--llm-base-url", llm_server.url + "/v1",
         "--llm-model", "m", "--notes-every", "0", "--session-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "LIVE_LLM_API_KEY": KEY})
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    finals = [p for p in printed if p["type"] == "final"]
    translations = [p for p in printed if p["type"] == "translation"]
    assert finals and sorted(t["index"] for t in translations) == [f["index"] for f in finals]
    assert all(printed.index(t) > printed.index(next(f for f in finals if f["index"] == t["index"]))
               for t in translations)
    on_disk = [x for x in jsonl(next(tmp_path.iterdir())) if x["type"] == "translation"]
    assert on_disk == translations and KEY not in done.stderr + done.stdout


def latencies(rec: Recorder) -> list[float]:
    return [c.latency for c in rec.finals()]


@pytest.mark.slow
def test_a_failing_or_hanging_model_never_slows_the_captions(tmp_path, llm_server, whisper_engine, monkeypatch):
    """Real time (the clip replayed as a microphone would hear it): the same finals at the same latency
    with translation off, with a model that hangs, and with one that fails every request."""
    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    quick = TranslateOptions(min_interval_s=0.0, finish_timeout_s=1.0, retry_after_s=0.5, request_timeout_s=30.0)
    runs = {}
    for name in ("off", "hanging", "failing", "off again"):  # off twice: the cores are shared, load drifts
        llm_server.requests.clear()
        if name == "hanging":
            llm_server.enqueue_hang()
        elif name == "failing":
            llm_server.enqueue_error(500, "down", times=50)
        rec = Recorder()
        began = time.monotonic()
        session = build_session(
            session_settings(tmp_path / name, llm_server, fast=False,
                             translate=None if name.startswith("off") else "zh"),
            rec, SessionOptions(notes="off", translate=quick), load_engine=lambda _s: (whisper_engine, "test"))
        try:
            session.run()
        finally:
            session.close()
        runs[name] = (rec, time.monotonic() - began, len(llm_server.requests))
        llm_server.release()
    texts = {name: [c.text for c in rec.finals()] for name, (rec, _, _) in runs.items()}
    # the same captions (in real time a decode may differ by a word between any two runs)
    assert len({len(t) for t in texts.values()}) == 1 and len(texts["off"]) >= 3, texts
    assert all("your country" in " ".join(t).lower() for t in texts.values()), texts
    # A caption held up by the model would be seconds late (the hanging request lasts the whole clip).
    base = max(statistics.median(latencies(runs[off][0])) for off in ("off", "off again"))
    for name in ("hanging", "failing"):
        rec, wall, requests = runs[name]
        assert requests >= 1, name
        assert statistics.median(latencies(rec)) <= base + 0.5, (name, latencies(rec), latencies(runs["off"][0]))
        assert wall <= max(runs["off"][1], runs["off again"][1]) + 3.0, name  # the end waits finish_timeout_s at most
        notices = " ".join(n.message for n in rec.of(Notice))
        assert "translat" in notices, name
        assert rec.of(Finished)[-1].error is None
    assert "not translated before the end" in " ".join(n.message for n in runs["hanging"][0].of(Notice))


async def test_the_tui_shows_each_translation_dimmed_under_its_caption(tmp_path, llm_server, whisper_engine,
                                                                      monkeypatch):
    from live.tui.app import create_app
    from live.tui.caption_view import CaptionView

    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    llm_server.responder = translating
    app = create_app(session_settings(tmp_path, llm_server), load_engine=lambda _s: (whisper_engine, "test"))
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(CaptionView)
        for _ in range(600):
            if app.finished and sum("译" in line for line in view.text_lines()) >= 3:
                break
            await pilot.pause(0.1)
        lines = view.text_lines()
        at = next(i for i, line in enumerate(lines) if "Ask not" in line)
        assert "译1：Ask not" in lines[at + 1]  # right under its caption
        strips = [view.render_line(y) for y in range(view.scrollable_content_region.height)]  # as drawn
        dimmed = [s for s in strips if "译" in s.text]
        assert dimmed and all(any(seg.style and seg.style.dim for seg in s if "译" in seg.text) for s in dimmed)
        await pilot.press("q")
    folder = Path(app.session_folder)
    assert (folder / "transcript.zh.srt").is_file()
    # read back from disk (a long lecture, or a resumed one) the translations come back under their captions
    again = CaptionView(folder / "transcript.jsonl")
    assert any(r.sub and r.sub.startswith("译1：") for r in again.saved_rows())


def test_live_transcribe_translates_files_with_the_courses_terms(tmp_path, llm_server):
    llm_server.responder = translating
    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nbase_url = "{llm_server.url}/v1"\nmodel = "notes-model"\n'
                      'translate_model = "translate-model"\nmax_retries = 0\n')
    done = subprocess.run(
        [sys.executable, "-m", "live", "transcribe", str(DATA / "jfk.flac"), "-o", str(tmp_path / "out"),
         "--engine", "whisper", "--language", "en", "--translate", "zh", "--vocab", str(DATA / "course_vocab.txt"),
         "--format", "srt,jsonl"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "LIVE_CONFIG": str(config), "LIVE_LLM_API_KEY": KEY})
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "out" / "jfk"
    lines = jsonl(folder)
    finals = [x for x in lines if x["type"] == "final"]
    translations = [x for x in lines if x["type"] == "translation"]
    assert finals and sorted(t["index"] for t in translations) == [f["index"] for f in finals]
    assert (folder / "transcript.zh.srt").is_file() and not (folder / "transcript.zh.vtt").exists()  # --format
    assert {r.body["model"] for r in llm_server.requests} == {"translate-model"}
    assert "Laplacian; Heaviside" in llm_server.requests[0].messages[0]["content"]  # the course's terms
    assert f"{len(finals)} of {len(finals)} captions translated into zh" in done.stderr
    assert "vocabulary: 52 terms, 43 in Whisper's prompt" in done.stderr


def test_through_a_live_serve_the_client_corrects_and_translates(tmp_path, llm_server, whisper_engine, monkeypatch):
    """`live run --server`: recognition on the server, the course's vocabulary and the translation on the
    client, which writes both into its local session folder as a local run does."""
    pytest.importorskip("fastapi", reason="live serve is the `serve` extra")
    from serve_helpers import LiveServer

    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    llm_server.responder = translating
    terms = tmp_path / "terms.txt"
    terms.write_text("Amerikans\n", encoding="utf-8")  # a spelling of the course's own: 'Americans' is near it
    with LiveServer(tmp_path / "server", whisper_engine) as server:
        monkeypatch.setenv("LIVE_SERVER_API_KEY", server.key())
        settings = session_settings(tmp_path, llm_server, server=server.url.replace("http", "ws"), vocab=terms,
                                    language="en")
        rec = Recorder()
        session = build_session(settings, rec, SessionOptions(notes="off", translate=TranslateOptions(min_interval_s=0.0)))
        try:
            session.run()
        finally:
            session.close()
    assert rec.of(Finished)[-1].error is None
    lines = jsonl(session.folder)
    finals = [x for x in lines if x["type"] == "final"]
    assert "Amerikans" in finals[0]["text"] and finals[0]["corrections"][0]["from"] == "Americans"
    translations = [x for x in lines if x["type"] == "translation"]
    assert sorted(t["index"] for t in translations) == [f["index"] for f in finals]
    assert translations[0]["text"].startswith("译") and (session.folder / "transcript.zh.srt").is_file()
