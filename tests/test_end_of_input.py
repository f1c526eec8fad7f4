"""The end of a file is captioned on every engine: speech that runs to the last frame is in the last final.

Each file is replayed in real time with partials on (as the TUI runs), so a partial or a speculative
decode may be in flight when the input ends; the session must still decode the open segment and show
its final before it finishes. The SenseVoice engines are the tiny random-weight models (their text is
noise): there the last final must reach the end of the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_helpers import clip
from live.captions import Caption
from live.config import Settings
from live.events import Finished
from live.session import SessionOptions, build_session
from live.session.builder import demo_clip

pytest.importorskip("faster_whisper", reason="the Whisper engines are the `whisper` extra")


def cut(tmp_path: Path, audio: np.ndarray, seconds: float) -> Path:
    """The first ``seconds`` of ``audio``, cut in the middle of speech, as a file."""
    path = tmp_path / "cut.flac"
    sf.write(path, audio[: int(seconds * 16000)], 16000)
    return path


def replay(tmp_path: Path, path: Path, engine, language: str) -> list[Caption]:
    """Every final of a real-time replay of ``path`` (partials on), empty ones included."""
    events: list[object] = []
    settings = Settings(input=path, language=language, session_dir=tmp_path / "sessions")
    session = build_session(settings, events.append, SessionOptions(notes="off", partials=True),
                            load_engine=lambda _status: (engine, "test engine"))
    session.run()
    finished = [e for e in events if isinstance(e, Finished)]
    assert finished and finished[0].error is None
    return [e for e in events if isinstance(e, Caption) and e.kind == "final"]


def speech_end(path: Path) -> float:
    audio, rate = sf.read(path, dtype="float32")
    return audio.size / rate


@pytest.mark.slow
def test_whisper_tiny_en_captions_the_last_words(tmp_path, whisper_engine):
    # JFK cut at 9.45 s, inside "ask what you can do for your country".
    path = cut(tmp_path, clip("jfk.flac"), 9.45)
    finals = replay(tmp_path, path, whisper_engine, "en")
    assert finals[-1].end >= speech_end(path) - 0.2
    assert "ask what you can" in finals[-1].text.lower()


@pytest.mark.slow
def test_whisper_base_captions_the_last_words_of_the_mandarin_demo(tmp_path, whisper_base):
    # The demo's last sentence, its speech running to the file's end (28.5 of 28.6 s).
    audio, _ = sf.read(demo_clip("zh"), dtype="float32")
    path = cut(tmp_path, audio[int(19.5 * 16000):], 30.0)
    finals = replay(tmp_path, path, whisper_base, "zh")
    assert finals[-1].end >= speech_end(path) - 0.2
    assert "解释的" in finals[-1].text or "解釋的" in finals[-1].text


@pytest.mark.slow
def test_sensevoice_torch_captions_to_the_end(tmp_path, tiny_sensevoice):
    from live.asr.sensevoice import SenseVoiceEngine

    path = cut(tmp_path, clip("jfk.flac"), 9.45)
    finals = replay(tmp_path, path, SenseVoiceEngine(tiny_sensevoice, threads=2), "en")
    assert finals and finals[-1].end >= speech_end(path) - 0.2


@pytest.mark.slow
def test_sensevoice_onnx_captions_to_the_end(tmp_path, onnx_tiny):
    pytest.importorskip("onnxruntime", reason="the ONNX engine is the `onnx` extra")
    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    path = cut(tmp_path, clip("jfk.flac"), 9.45)
    finals = replay(tmp_path, path, OnnxSenseVoiceEngine(onnx_tiny, threads=2), "en")
    assert finals and finals[-1].end >= speech_end(path) - 0.2
