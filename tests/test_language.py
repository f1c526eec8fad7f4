"""live.language: the session language follows the lecture, not each sentence."""

from __future__ import annotations

import pytest

from live.errors import ConfigError
from live.language import LanguageOptions, SessionLanguage, lecture_language


def test_one_english_sentence_does_not_flip_a_chinese_lecture():
    policy = SessionLanguage()
    for _ in range(20):
        assert policy.observe("zh", 6.0) == "zh"
    assert policy.observe("en", 9.0) == "zh"  # a quotation
    assert policy.observe("zh", 5.0) == "zh"
    for _ in range(3):  # a code-switched minute: still mostly Chinese
        assert policy.observe("en", 4.0) == "zh"
        assert policy.observe("zh", 6.0) == "zh"
    assert policy.switches == 0


def test_a_lecturer_who_goes_on_in_english_moves_it():
    policy = SessionLanguage()
    for _ in range(20):
        policy.observe("zh", 6.0)
    seconds_to_switch = 0.0
    while policy.observe("en", 6.0) == "zh":
        seconds_to_switch += 6.0
    assert 60.0 <= seconds_to_switch <= 90.0  # most of the two-minute window
    assert (policy.current, policy.switches) == ("en", 1)


def test_the_first_seconds_take_the_majority_so_far():
    policy = SessionLanguage()
    assert policy.current is None
    assert policy.observe("en", 2.0) == "en"  # an English sentence opens a Chinese lecture
    assert policy.observe("zh", 6.0) == "zh"
    assert policy.observe("en", 1.0) == "zh"


def test_no_language_and_empty_segments_change_nothing():
    policy = SessionLanguage()
    for code in (None, "", "auto", "nospeech"):
        assert policy.observe(code, 5.0) is None
    assert policy.observe("zh", 0.0) is None
    policy.observe("zh", 3.0)
    assert policy.observe(None, 100.0) == "zh"


def test_lecture_language_replays_finals_in_order():
    class F:
        def __init__(self, language, start, end):
            self.language, self.start, self.end = language, start, end

    finals = [F("zh", i * 10, i * 10 + 8) for i in range(30)] + [F("en", 300, 309)]
    assert lecture_language(finals) == "zh"
    assert lecture_language([]) is None
    assert lecture_language(finals, LanguageOptions(window_s=10, switch_share=0.5, min_switch_s=5)) == "en"


def test_options_are_checked():
    with pytest.raises(ConfigError, match="switch_share"):
        LanguageOptions(switch_share=0.3)
