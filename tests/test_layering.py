"""The layers import only downwards: the import-linter contracts of pyproject.toml hold, and every module
stays a size a reader can take in."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold():
    beside = Path(sys.executable).parent / "lint-imports"  # this interpreter's venv, activated or not
    tool = str(beside) if beside.exists() else shutil.which("lint-imports")
    if tool is None:
        pytest.skip("import-linter is in the test extra")
    done = subprocess.run([tool], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in (REPO / "live").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def test_the_cli_lists_every_subcommand_and_each_takes_its_help():
    from live.cli import COMMANDS, build_parser

    shown = subprocess.run([sys.executable, "-m", "live", "--help"], capture_output=True, text=True, timeout=60,
                           cwd=REPO).stdout
    for name in ("transcribe", "summarize", "search", "sessions", "serve", "keys", "models", "devices", "bench"):
        assert name in COMMANDS and f"live {name}" in shown, name
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([name, "--help"])
        assert done.value.code == 0


def test_shared_options_are_the_same_flags_everywhere():
    from live.cli import build_parser

    parse = build_parser().parse_args
    llm = ["--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--notes-language", "zh"]
    for argv in (["run", *llm], ["transcribe", "talk.mp3", "--summarize", *llm], ["summarize", "DIR", *llm]):
        args = parse(argv)
        assert (args.llm_base_url, args.llm_model, args.notes_language) == ("http://127.0.0.1:9/v1", "m", "zh")
    recognition = ["--engine", "whisper", "--backend", "onnx", "--model", "M", "--language", "en", "--compute", "cpu",
                   "--threads", "2"]
    for argv in (["run"], ["transcribe", "talk.mp3"], ["serve"]):
        args = parse([*argv, *recognition])
        assert (args.engine, args.backend, args.model, args.language, args.threads) == ("whisper", "onnx", "M", "en", 2)
    assert parse(["bench", "--server", "--language", "en"]).language == "en"
    vad = ["--vad-aggressiveness", "3", "--silence-ms", "400", "--max-segment-s", "8"]
    for argv in (["run"], ["transcribe", "talk.mp3"]):
        args = parse([*argv, *vad])
        assert (args.vad_aggressiveness, args.silence_ms, args.max_segment_s) == (3, 400, 8.0)
