"""--language auto: the language is settled once from the first seconds of speech; English then moves the
session to tiny.en between two decodes with nothing lost or repeated, and a short segment is decoded in
the session language instead of whatever one second of it sounds like."""

from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf

from asr_helpers import SHARED_AUDIO
from audio_helpers import clip
from live.captions import Caption
from live.config import Settings
from live.errors import ConfigError
from live.events import EngineState, Finished, Notice
from live.session import SessionOptions, build_session
from live.session.autolang import AutoLanguage, AutoLanguageOptions
from live.vad import Segmenter, VadOptions


def caption(kind: str, seconds: float, language: str | None, text: str = "words", start: float = 0.0) -> Caption:
    return Caption(kind, start, start + seconds, text, language=language)  # type: ignore[arg-type]


def test_a_long_enough_partial_settles_the_language_once():
    auto = AutoLanguage()
    assert auto.observe(caption("partial", 2.0, "en")) is None  # too little heard
    assert auto.observe(caption("partial", 3.5, "zh", text="")) is None  # nothing recognized
    assert auto.observe(caption("partial", 3.5, "en")) == "en"
    assert auto.observe(caption("final", 20.0, "zh")) is None  # settled once: never again
    assert auto.language == "en"


def test_finals_add_up_to_the_detection_and_their_majority_wins():
    auto = AutoLanguage(options=AutoLanguageOptions(detect_s=3.0))
    assert auto.observe(caption("final", 1.0, "en")) is None
    assert auto.observe(caption("final", 1.0, "nn")) is None  # not a language we caption: not counted
    assert auto.observe(caption("final", 2.5, "zh", start=2.0)) == "zh"


def test_short_segments_are_decoded_in_the_session_language_once_it_is_known():
    auto = AutoLanguage(options=AutoLanguageOptions(short_s=2.0))
    assert auto.language_for(0.8) == "auto"  # nothing settled yet
    auto.observe(caption("partial", 4.0, "zh"))
    assert auto.language_for(0.8) == "zh"
    assert auto.language_for(np.zeros(16000, np.float32)) == "zh"
    assert auto.language_for(6.0) == "auto"  # long enough to detect its own (an English aside)
    asked = AutoLanguage("en")  # a language asked for is never overridden, nor settled
    assert asked.observe(caption("partial", 4.0, "zh")) is None and asked.language_for(0.8) == "en"
    with pytest.raises(ConfigError):
        AutoLanguageOptions(detect_s=0)


def finals_of(events: list[object]) -> list[Caption]:
    return [e for e in events if isinstance(e, Caption) and e.kind == "final"]


@pytest.mark.slow
def test_english_heard_moves_the_session_to_tiny_en_with_nothing_lost_or_repeated(tmp_path, offline_hubs):
    pytest.importorskip("faster_whisper", reason="the Whisper engines are the `whisper` extra")
    from live.models.packaged import packages_installed

    if not packages_installed():
        pytest.skip("--language auto starts with Whisper base, which is not installed")
    pause = np.zeros(16000, np.float32)
    audio = np.concatenate([clip("realpython_harvard.flac"), pause, clip("jfk.flac"), pause,
                            clip("realpython_harvard.flac"), pause])
    path = tmp_path / "lecture.flac"
    sf.write(path, audio, 16000)
    events: list[object] = []
    # The default path a newcomer gets offline: no SenseVoice, so Whisper base for --language auto.
    settings = Settings(input=path, fast=True, language="auto", session_dir=tmp_path / "s")
    session = build_session(settings, events.append, SessionOptions(notes="off"))
    session.run()
    assert isinstance(events[-1], Finished) and events[-1].error is None
    ready = [e for e in events if isinstance(e, EngineState) and e.state == "ready"]
    assert [e.model for e in ready] == ["base", "tiny.en"]
    said = [e.message for e in events if isinstance(e, Notice)]
    assert "language: English; loading a faster engine for it…" in said
    assert any(m.startswith("switched to whisper tiny.en") for m in said)
    finals = finals_of(events)
    # Every segment the VAD cut has exactly one final, in order, across the switch.
    reference = Segmenter(VadOptions())
    expected = [(s.index, s.start) for s in reference.feed(audio) + reference.flush()]
    assert [(f.index, f.start) for f in finals] == expected
    assert all(a.end <= b.start for a, b in zip(finals, finals[1:]))
    switched = events.index(ready[1])
    assert [f for f in finals if events.index(f) < switched], "base captioned the first seconds"
    assert [f for f in finals if events.index(f) > switched], "tiny.en captioned the rest"
    text = " ".join(f.text for f in finals).lower()
    assert text.count("smell of old beer") == 2 and text.count("your country") == 2


@pytest.mark.slow
def test_a_short_mandarin_reply_stays_mandarin_once_the_lecture_is(tmp_path, whisper_base):
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"needs the shared real-speech clips at {SHARED_AUDIO}")
    zh = SHARED_AUDIO / "zh"
    welcome, _ = sf.read(zh / "funasr_asr_example.flac", dtype="float32")
    sentence, _ = sf.read(zh / "paddlespeech_zh.flac", dtype="float32")
    pause = np.zeros(16000, np.float32)
    # 0.7 s cut from a Mandarin sentence, alone between pauses: on its own base hears English ("Yeah.").
    path = tmp_path / "reply.flac"
    sf.write(path, np.concatenate([welcome, pause, sentence[32000:43200], pause]), 16000)
    events: list[object] = []
    settings = Settings(input=path, fast=True, language="auto", session_dir=tmp_path / "s")
    build_session(settings, events.append, SessionOptions(notes="off"),
                  load_engine=lambda _status: (whisper_base, "whisper base")).run()
    finals = finals_of(events)
    assert [f.language for f in finals] == ["zh", "zh"]
    assert "language: Chinese" in [e.message for e in events if isinstance(e, Notice)]
    assert all("\u4e00" <= ch <= "\u9fff" for ch in finals[1].text), finals[1].text
