"""SenseVoice rich tags become fields; the caption text never shows a tag or an emoji."""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pytest

from live.asr.tags import EMOTION_TAGS, EVENT_TAGS, parse_rich

# Real outputs, as FunASR's docs and SenseVoice's model card print them.
FUNASR_EN = ("<|en|><|NEUTRAL|><|Speech|><|withitn|>The tribal chieftain called for the boy and presented "
             "him with 50 pieces of gold.")
FUNASR_ZH = "<|zh|><|NEUTRAL|><|Speech|><|withitn|>欢迎大家来体验达摩院推出的语音识别模型。"


def test_english_output_with_itn():
    result = parse_rich(FUNASR_EN)
    assert result.text == "The tribal chieftain called for the boy and presented him with 50 pieces of gold."
    assert result.language == "en"
    assert result.emotion == "neutral"
    assert result.events == ("Speech",)


def test_chinese_output():
    result = parse_rich(FUNASR_ZH)
    assert result.text == "欢迎大家来体验达摩院推出的语音识别模型。"
    assert (result.language, result.emotion, result.events) == ("zh", "neutral", ("Speech",))


def test_merged_sub_segments_keep_every_event_once_and_separate_words():
    result = parse_rich("<|en|><|HAPPY|><|BGM|><|woitn|>a<|en|><|NEUTRAL|><|Speech|><|woitn|>b"
                        "<|en|><|HAPPY|><|BGM|><|woitn|>c")
    assert result.text == "a b c"
    assert result.language == "en"
    assert result.emotion == "happy"  # twice against once
    assert result.events == ("BGM", "Speech")


def test_merged_chinese_pieces_join_without_spaces():
    result = parse_rich("<|zh|><|NEUTRAL|><|Speech|><|withitn|>广州市房地产"
                        "<|zh|><|NEUTRAL|><|Speech|><|withitn|>中介协会分析")
    assert result.text == "广州市房地产中介协会分析"


def test_language_is_the_one_carrying_most_text():
    result = parse_rich("<|zh|><|NEUTRAL|><|Speech|><|woitn|>好<|en|><|NEUTRAL|><|Speech|><|woitn|>"
                        "he must be home now for the light is on")
    assert result.language == "en"
    assert result.text == "好 he must be home now for the light is on"


def test_no_speech_has_no_language():
    result = parse_rich("<|nospeech|><|EMO_UNKNOWN|><|Event_UNK|><|woitn|>")
    assert result.text == ""
    assert result.language is None
    assert result.emotion is None
    assert result.events == ("Event_UNK",)


def test_language_without_text_still_counts():
    result = parse_rich("<|en|><|EMO_UNKNOWN|><|Speech|><|withitn|>")
    assert (result.text, result.language, result.emotion, result.events) == ("", "en", None, ("Speech",))


def test_text_without_tags_passes_through_normalized():
    result = parse_rich("  hello \n\t world  ")
    assert (result.text, result.language, result.emotion, result.events) == ("hello world", None, None, ())


def test_every_emotion_and_event_tag():
    for emotion in EMOTION_TAGS:
        assert parse_rich(f"<|en|><|{emotion}|><|Speech|><|woitn|>hi").emotion == emotion.lower()
    for event in EVENT_TAGS:
        assert parse_rich(f"<|en|><|NEUTRAL|><|{event}|><|woitn|>hi").events == (event,)


def test_unknown_tags_are_dropped_and_logged(caplog):
    with caplog.at_level(logging.DEBUG, logger="live.asr.tags"):
        result = parse_rich("<|en|><|NEUTRAL|><|Sing|><|woitn|>la la<|GBG|> la")
    assert result.text == "la la la"
    assert result.events == ()
    assert "<|Sing|>" in caplog.text and "<|GBG|>" in caplog.text


def test_emoji_never_reach_the_text():
    # What funasr's rich_transcription_postprocess makes of BGM + HAPPY.
    result = parse_rich("🎼 Welcome to the lecture. 😊")
    assert result.text == "Welcome to the lecture."
    assert not re.search("[\U0001F000-\U0001FAFF\u2600-\u27BF]", result.text)


def _funasr_tags() -> list[str]:
    spec = importlib.util.find_spec("funasr")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("funasr is not installed")
    source = Path(spec.submodule_search_locations[0]) / "utils" / "postprocess_utils.py"
    tags = sorted(set(re.findall(r"<\|[^|<>]+\|>", source.read_text(encoding="utf-8"))))
    assert len(tags) > 20, "funasr's tag tables moved; update this test"
    return tags


def test_every_tag_funasr_knows_is_removed_from_text():
    """Every tag in funasr's own post-processing tables (read from its source, not imported)."""
    for tag in _funasr_tags():
        result = parse_rich(f"{tag}word{tag} other")
        assert result.text == "word other", tag
        assert "<|" not in result.text
