"""Whisper decodes a segment on its own length (plus a second of silence), not on a 30 s window: the
same text on real clips, silence still silent, and a decode that loops (or is unsure) on the short
window done again on the whole one."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asr_helpers import SHARED_AUDIO, gold_english_clips
from live.asr.whisper_window import FULL_FRAMES, WindowDecoder, WindowOptions
from live.errors import ConfigError
from live.textnorm import TextNormalizer
from wer_helpers import cer, wer

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")


def test_the_window_is_the_audio_and_a_second_at_least_fifteen_seconds_long():
    options = WindowOptions()
    assert options.frames(200) == 1500  # 2 s of speech: a 15 s window
    assert options.frames(1601) == 1702  # 16 s: 17 s, even (the encoder halves it)
    assert options.frames(2100) == FULL_FRAMES  # over max_s: the whole window
    assert WindowOptions(trim=False).frames(200) == FULL_FRAMES
    assert WindowOptions(min_s=0, bucket_s=5).frames(620) == 1000
    with pytest.raises(ConfigError):
        WindowOptions(pad_s=-1)


def test_the_encoder_gets_the_short_window(whisper_engine):
    window = whisper_engine.window
    speech = np.zeros(16 * 16000, np.float32)
    assert window.features(speech).shape == (1, 80, 1700)
    assert window.features(speech, full=True).shape == (1, 80, FULL_FRAMES)


def clips(language: str) -> list[tuple[np.ndarray, str]]:
    import csv

    with (SHARED_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t")
                if r["language"] == language and r["reference_kind"] in ("gold", "silver")]
    return [(sf.read(SHARED_AUDIO / r["file"], dtype="float32")[0], r["reference"]) for r in rows]


def errors(engine, items, language: str) -> int:
    norm, measure = TextNormalizer(), (wer if language == "en" else cer)
    total = 0
    for audio, reference in items:
        result = engine.transcribe(audio, language)
        total += measure(reference, norm(result.text, result.language))[0]
    return total


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "zh"])
def test_base_on_the_short_window_is_as_accurate_as_on_30_s(whisper_base, language):
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"needs the shared real-speech clips at {SHARED_AUDIO}")
    items = clips(language) if language == "zh" else [(sf.read(c.path, dtype="float32")[0], c.reference)
                                                      for c in gold_english_clips()]
    short = errors(whisper_base, items, language)
    padded = WindowDecoder(whisper_base._whisper, WindowOptions(trim=False))
    trimmed, whisper_base.window = whisper_base.window, padded
    try:
        whole = errors(whisper_base, items, language)
    finally:
        whisper_base.window = trimmed
    size = sum(len(reference.split()) if language == "en" else len(reference) for _, reference in items)
    print(f"base {language}: {short} errors on the short window, {whole} on 30 s, of {size}")
    assert short <= whole + 0.02 * size


@pytest.mark.slow
def test_a_decode_that_loops_on_the_short_window_is_done_again_on_30_s(whisper_base):
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"needs the shared real-speech clips at {SHARED_AUDIO}")
    # Harvard sentences cut at 15 s, in the middle of a word: on a 16 s window base repeats
    # "A cold dip restores health and zest" to the token cap; on 30 s it stops where the audio does.
    audio, _ = sf.read(SHARED_AUDIO / "en" / "realpython_harvard.flac", dtype="float32")
    before = whisper_base.fallbacks
    text = whisper_base.transcribe(audio[: 15 * 16000], "en").text
    assert whisper_base.fallbacks == before + 1
    assert text.startswith("The stale smell of old beer lingers.") and text.count("cold dip") == 1
