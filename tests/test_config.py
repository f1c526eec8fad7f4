"""Settings: config file < LIVE_* environment < flags; bad values are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.config import load_settings
from live.errors import ConfigError
from live.llm import LLMSettings


def test_precedence_file_env_flags(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('engine = "whisper"\nlanguage = "zh"\nsilence_ms = 700\n[llm]\nmodel = "x"\n')
    env = {"LIVE_CONFIG": str(cfg), "LIVE_LANGUAGE": "en"}
    s = load_settings({"silence_ms": 400, "device": None}, env=env)
    assert (s.engine, s.language, s.silence_ms) == ("whisper", "en", 400)
    assert s.llm == LLMSettings(model="x")  # the [llm] table, parsed once


def test_the_llm_flags_win_over_the_llm_table_key_by_key_and_a_bad_table_is_one_line(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[llm]\nmodel = "from-file"\nbase_url = "http://127.0.0.1:9/v1"\n')
    s = load_settings({"llm": {"model": "from-flag"}}, env={"LIVE_CONFIG": str(cfg)})
    assert (s.llm.model, s.llm.base_url) == ("from-flag", "http://127.0.0.1:9/v1")
    cfg.write_text('[llm]\ntimeout_s = "soon"\n')
    with pytest.raises(ConfigError, match="bad value for llm.timeout_s"):
        load_settings({}, env={"LIVE_CONFIG": str(cfg)})


def test_the_stages_options_come_from_the_settings(tmp_path):
    s = load_settings({"silence_ms": 400, "vad_aggressiveness": 3, "max_segment_s": 8, "script": "traditional"},
                      env={"XDG_CONFIG_HOME": str(tmp_path)})
    vad = s.vad_options()
    assert (vad.silence_ms, vad.aggressiveness, vad.max_segment_s) == (400, 3, 8.0)
    assert s.caption_options().partials and s.caption_options().script == "traditional"  # the TUI shows partials
    s.headless = True
    assert not s.caption_options().partials and s.caption_options(partials=True).partials


def test_xdg_config_home_is_read(tmp_path):
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "config.toml").write_text('session_dir = "~/lectures"\nfast = true\n')
    s = load_settings({}, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert s.session_dir == Path("~/lectures").expanduser() and s.fast is True


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"engine": "kaldi"}, "unknown engine 'kaldi'; choose one of: auto, sensevoice, whisper"),
        ({"language": "fr"}, "unknown language 'fr'"),
        ({"silence_ms": 10}, "silence_ms must be between"),
        ({"vad_aggressiveness": 7}, "vad_aggressiveness must be"),
    ],
)
def test_bad_values(flags, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_settings(flags, env={"XDG_CONFIG_HOME": str(tmp_path)})


def test_bad_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("engine = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, env={"LIVE_CONFIG": str(cfg)})
    cfg.write_text('egnine = "whisper"\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings({}, env={"LIVE_CONFIG": str(cfg)})
    with pytest.raises(ConfigError, match="bad value for threads"):
        load_settings({}, env={"XDG_CONFIG_HOME": str(tmp_path), "LIVE_THREADS": "many"})


def test_script_for_taiwan_and_hong_kong_from_file_env_or_flag(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('script = "traditional"\n')
    assert load_settings({}, env={"LIVE_CONFIG": str(cfg)}).script == "traditional"
    assert load_settings({}, env={"LIVE_SCRIPT": "traditional-hk"}).script == "traditional-hk"
    assert load_settings({}, env={}).script is None  # Mandarin simplified, Cantonese as recognized
    with pytest.raises(ConfigError, match="unknown script 'latin'; choose one of: simplified, traditional"):
        load_settings({"script": "latin"}, env={})


def test_demo_names_a_clip_and_true_still_means_the_english_one(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("demo = true\n")
    assert load_settings({}, env={"LIVE_CONFIG": str(cfg)}).demo == "en"
    assert load_settings({"demo": "zh"}, env={}).demo == "zh"
    assert load_settings({}, env={"LIVE_DEMO": "0"}).demo is None
    with pytest.raises(ConfigError, match="unknown demo 'fr'"):
        load_settings({"demo": "fr"}, env={})


def test_the_demo_knows_its_clips_language_unless_one_is_given(tmp_path):
    assert load_settings({"demo": "en"}, env={}).language == "en"  # tiny.en, no detection
    assert load_settings({"demo": "zh"}, env={}).language == "zh"
    assert load_settings({"demo": "zh", "language": "auto"}, env={}).language == "auto"
    assert load_settings({"demo": "en"}, env={"LIVE_LANGUAGE": "auto"}).language == "auto"
    cfg = tmp_path / "config.toml"
    cfg.write_text('language = "zh"\n')
    assert load_settings({"demo": "en"}, env={"LIVE_CONFIG": str(cfg)}).language == "zh"
    assert load_settings({}, env={}).language == "auto"
