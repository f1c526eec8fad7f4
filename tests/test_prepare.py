"""`live models prepare`: the model downloaded (from a real local hub server) and its ONNX export built
ahead of time, with progress and an ETA; offline, one line that says what to do."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from asr_helpers import closed_port_url, local_hub
from live.cli.models import Ticker

pytest.importorskip("onnxruntime", reason="the ONNX build is the `onnx` extra")


def prepare(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", "models", "prepare", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


@pytest.mark.slow
def test_prepare_downloads_builds_and_says_where_and_how_big(tiny_sensevoice, tmp_path):
    models = tmp_path / "models"
    with local_hub("iic/SenseVoiceSmall", tiny_sensevoice) as hub:
        done = prepare({"LIVE_MODELS_DIR": str(models), "MODELSCOPE_ENDPOINT": hub.endpoint,
                        "HF_ENDPOINT": closed_port_url()})
    assert done.returncode == 0, done.stderr
    assert "downloading" in done.stderr and "Converting SenseVoice to ONNX" in done.stderr
    assert "ONNX model ready" in done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"ready: {models / 'sensevoice-small' / 'onnx' / 'model_int8.onnx'} (")
    assert last.endswith("`live` now starts with fast captions") and " MB)" in last
    again = prepare({"LIVE_MODELS_DIR": str(models), "MODELSCOPE_ENDPOINT": closed_port_url(),
                     "HF_ENDPOINT": closed_port_url()})
    assert again.returncode == 0 and "Converting" not in again.stderr  # ready: nothing to do, no network


def test_prepare_offline_is_one_line_and_leaves_nothing(tmp_path, offline_hubs):
    models = tmp_path / "models"
    # --speakers off: the speaker model comes from the package index, which this test leaves reachable
    done = prepare({"LIVE_MODELS_DIR": str(models)}, "--speakers", "off")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("live: error: cannot download iic/SenseVoiceSmall")
    assert "--model FOLDER" in lines[0] and "Traceback" not in done.stderr
    assert not models.exists() or not any(models.iterdir())


def test_the_ticker_gives_elapsed_time_and_an_estimate_left():
    out = io.StringIO()
    ticker = Ticker(out, every_s=0.05)
    ticker.start("ONNX build", estimate_s=90.0)
    import time

    time.sleep(0.2)
    ticker.stop()
    ticker.download(50 * 2**20, 100 * 2**20)
    text = out.getvalue()
    assert "ONNX build: 00:00 elapsed, about 01:29 left (estimated)" in text or "about 01:30 left" in text
    assert "\r" not in text  # not a terminal: plain lines
