"""SenseVoiceEngine on a real funasr model folder (random weights: the text is garbage, the path is real)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from asr_helpers import damage_checkpoint, demo_speech

from live.asr.base import Transcription
from live.asr.sensevoice import SenseVoiceEngine
from live.asr.tags import EVENT_TAGS
from live.errors import ConfigError, ModelError

REPO = Path(__file__).resolve().parents[1]
LANGUAGE_CODES = {"zh", "en", "yue", "ja", "ko", None}


@pytest.fixture(scope="module")
def engine(tiny_sensevoice) -> SenseVoiceEngine:
    return SenseVoiceEngine(tiny_sensevoice, threads=2)


def _plain(result: Transcription) -> None:
    """What a caption may contain: no tags, known language/events."""
    assert "<|" not in result.text and "|>" not in result.text
    assert result.language in LANGUAGE_CODES
    assert set(result.events) <= EVENT_TAGS


def test_loads_through_funasr_and_names_the_folder(engine, tiny_sensevoice):
    assert engine.name == "sensevoice"
    assert engine.model == tiny_sensevoice.name
    assert engine.threads == 2


def test_decodes_a_float32_array(engine):
    speech = demo_speech(6.0)
    raw = engine.decode_raw(speech)
    assert "<|" in raw, "the tiny model scatters rich tags in its output; the parse below must remove them"
    result = engine.transcribe(speech)
    assert result.text
    _plain(result)


def test_same_audio_gives_the_same_caption(engine):
    # Partials re-decode the same audio: funasr's default dither would make them flicker.
    speech = demo_speech(4.0, start=10.0)
    assert engine.transcribe(speech) == engine.transcribe(speech.copy())


def test_empty_and_too_short_audio_give_empty_text(engine):
    assert engine.transcribe(np.zeros(0, dtype=np.float32)) == Transcription(text="")
    assert engine.transcribe(np.zeros(100, dtype=np.float32)) == Transcription(text="")


def test_forced_language_and_no_itn(tiny_sensevoice):
    plain = SenseVoiceEngine(tiny_sensevoice, threads=1, use_itn=False)
    result = plain.transcribe(demo_speech(3.0), language="en")
    assert result.text
    _plain(result)


def test_bad_arguments(engine):
    with pytest.raises(ConfigError, match="unknown language"):
        engine.transcribe(demo_speech(1.0), language="fr")
    with pytest.raises(ValueError, match="mono"):
        engine.transcribe(np.zeros((2, 16000), dtype=np.float32))


@pytest.mark.parametrize("how", ["shape", "missing"])
def test_a_checkpoint_that_does_not_fit_is_refused(tiny_sensevoice, tmp_path, how):
    """funasr logs "All keys matched successfully" for these too; the engine must not believe it."""
    broken = damage_checkpoint(tiny_sensevoice, tmp_path / f"sv-{how}", how)
    with pytest.raises(ModelError, match=r"model\.pt does not fit .*1 of \d+ weights") as caught:
        SenseVoiceEngine(broken, threads=1)
    assert "\n" not in str(caught.value)


def test_a_truncated_checkpoint_is_a_model_error(tiny_sensevoice, tmp_path):
    import shutil

    broken = shutil.copytree(tiny_sensevoice, tmp_path / "sv-cut")
    weights = (broken / "model.pt").read_bytes()
    (broken / "model.pt").write_bytes(weights[: len(weights) // 2])  # an interrupted copy
    with pytest.raises(ModelError, match=r"sv-cut cannot be loaded .*download it again") as caught:
        SenseVoiceEngine(broken, threads=1)
    assert "\n" not in str(caught.value)


def test_folder_is_checked_before_anything_loads(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        SenseVoiceEngine(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a SenseVoice model folder"):
        SenseVoiceEngine(tmp_path / "empty")


def test_cuda_when_there_is_none(tiny_sensevoice):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelError, match=r"CUDA asked for but not available; drop --device cuda"):
        SenseVoiceEngine(tiny_sensevoice, device="cuda")


def test_loading_leaves_root_logging_alone(tiny_sensevoice, capsys):
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    SenseVoiceEngine(tiny_sensevoice, threads=1).transcribe(demo_speech(1.0))
    assert (list(root.handlers), root.level) == before
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.slow
def test_a_fresh_process_prints_nothing(tiny_sensevoice):
    """The first funasr import (INFO logging on stderr, version banner on stdout) must not reach a TUI."""
    script = textwrap.dedent(f"""
        import logging, sys
        from pathlib import Path
        from live.asr.sensevoice import SenseVoiceEngine
        import numpy as np
        root = logging.getLogger()
        engine = SenseVoiceEngine(Path({str(tiny_sensevoice)!r}), threads=1)
        engine.transcribe(np.zeros(16000, dtype=np.float32))
        logging.getLogger("funasr.anything").info("should not show")
        sys.stdout.write(f"root={{logging.getLevelName(root.level)}} handlers={{len(root.handlers)}}")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "root=WARNING handlers=0"
    assert done.stderr == ""
