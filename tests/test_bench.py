"""`live bench` measures a real replay through the real pipeline and prints the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from audio_helpers import DATA
from serve_helpers import REPO

pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")


def bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


@pytest.mark.slow
def test_bench_reports_latency_speed_memory_and_time_to_ui(monkeypatch):
    monkeypatch.setenv("LIVE_LANGUAGE", "en")  # the runs it starts: English, so --engine whisper is tiny.en
    done = bench("--input", str(DATA / "jfk.flac"), "--engine", "whisper", "--json")
    assert done.returncode == 0, done.stderr
    [summary] = json.loads(done.stdout)
    assert summary["config"] == "whisper" and summary["finals"] >= 3 and summary["error"] is None
    assert 0 < summary["latency_p50_s"] <= summary["latency_p95_s"] <= summary["latency_max_s"] < 30
    assert summary["first_partial_p50_s"] is not None
    assert 0 < summary["rtf"]["all"] < 5
    assert 50 < summary["peak_rss_mb"] < 4000
    assert 0 < summary["ui_s"] < 30  # the TUI, launched in a pseudo-terminal, drew its status bar
    assert summary["first_caption_s"] > summary["model_ready_s"] > 0
    assert summary["overflows"] == 0


def test_bench_compare_prints_a_table_with_ratios(tmp_path):
    plot = tmp_path / "bench.png"
    done = bench("--input", str(DATA / "jfk.flac"), "--fast", "--no-ui", "--compare", "whisper", "auto",
                 "--plot", str(plot))
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["whisper", "auto"]
    assert any(row.startswith("final latency p95") for row in rows)
    assert "ratios against whisper" in done.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_long_run_reports_memory_and_backlog_over_time():
    done = bench("--input", str(DATA / "jfk.flac"), "--engine", "whisper", "--hours", "0.03", "--speed", "40",
                 "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["hours"] == 0.03 and len(report["samples"]) >= 2
    assert all(s["rss_mb"] > 50 for s in report["samples"])
    assert report["samples"][-1]["finals"] > 0
    assert report["max_backlog_s"] is not None


def test_bad_configuration_is_a_one_line_error():
    done = bench("--compare", "kaldi", "--no-ui")
    assert done.returncode == 2 and "engine[:backend][@model]" in done.stderr


@pytest.mark.slow
def test_bench_server_runs_in_an_install_without_httpx(tmp_path, shared_audio):
    """The README's install (`pip install -e '.[whisper,onnx]'`) has no httpx: hidden here as it is there."""
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "sitecustomize.py").write_text('import sys\nsys.modules["httpx"] = None\n')
    env = {**os.environ, "PYTHONPATH": f"{plain}:{REPO}"}
    done = subprocess.run([sys.executable, "-m", "live", "bench", "--server", "--streams", "1", "--stream-seconds", "4",
                           "--engine", "whisper", "--language", "en"], capture_output=True, text=True, timeout=400,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr
    assert "p50" in done.stdout + done.stderr


@pytest.mark.slow
def test_bench_room_measures_viewers_of_a_shared_lecture_and_takes_screenshots(tmp_path):
    done = bench("--room", "--viewers", "5", "--input", str(DATA / "jfk.flac"), "--engine", "whisper", "--language",
                 "en", "--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    baseline, shared = json.loads(done.stdout)
    assert baseline["viewers"] == 0 and shared["viewers"] == 5 and shared["errors"] == 0
    assert shared["finals"] >= 3 and shared["finals_read_min"] == 1.0  # every viewer read every final
    assert 0 <= shared["final_p50_ms"] <= shared["final_p95_ms"] < 5000
    assert shared["kb_per_viewer"] is not None and "sharer_change_s" in shared
    assert (tmp_path / "room-delivery.png").stat().st_size > 0 and json.loads((tmp_path / "room.json").read_text())
    from live.bench.browser import available

    if available() is None:
        assert {p.name for p in tmp_path.glob("room-*.png")} >= {"room-phone.png", "room-projector.png"}
