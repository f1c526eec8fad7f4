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
    for var in list(os.environ):
        if var.startswith("LIVE_") or var in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY"):
            monkeypatch.delenv(var)
    return home


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"needs the shared real-speech clips at {SHARED_AUDIO} (present in CI, not in a user's checkout)")
    return SHARED_AUDIO
