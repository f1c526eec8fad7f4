"""live.textnorm: Chinese in one script, no stray spaces in CJK text, Chinese punctuation in Chinese."""

from __future__ import annotations

import re

import numpy as np
import pytest

from live.asr.base import Transcription
from live.captions import CaptionOptions, Captioner
from live.errors import ConfigError
from live.textnorm import SCRIPTS, TextNormalizer, TextOptions, convert, is_simplified, join_text
from live.vad import Segmenter, VadOptions

# What Whisper base wrote for the Mandarin clips of ../shared/audio (measured), and what a lecture says.
WHISPER_TRADITIONAL = ["我認為跑步最重要的就是給我帶來了身體健康", "廣州市佛地產中間協會分析",
                       "正是因為存在絕對正義,所以我們接受現實的相對正義", "這個工廠裡面的機器學習模型"]


@pytest.mark.parametrize("text", WHISPER_TRADITIONAL)
def test_mandarin_comes_out_simplified_with_nothing_left_for_t2s(text):
    out = TextNormalizer()(text, "zh")
    assert is_simplified(out), out
    assert convert(out, "t2s") == out
    assert len(out) == len(text)  # character for character: nothing dropped


def test_simplified_text_is_left_as_it_is_and_not_counted():
    normalize = TextNormalizer()
    assert normalize("欢迎大家来体验达摩院推出的语音识别模型", "zh") == "欢迎大家来体验达摩院推出的语音识别模型"
    assert normalize.converted == 0
    normalize("我認為", "zh")
    assert normalize.converted == 1


def test_traditional_on_request_for_taiwan_and_hong_kong():
    assert TextNormalizer(TextOptions("traditional"))("我认为广州市的头发里面", "zh") == "我認為廣州市的頭髮裡面"
    assert TextNormalizer(TextOptions("traditional-hk"))("我认为广州市的头发里面", "zh") == "我認為廣州市的頭髮裏面"
    already = "我認為跑步最重要"
    assert TextNormalizer(TextOptions("traditional"))(already, "zh") == already


def test_cantonese_keeps_its_characters_unless_a_script_is_asked_for():
    cantonese = "佢哋喺度講緊嘢，我覺得好有意思"
    assert TextNormalizer()(cantonese, "yue") == cantonese
    simplified = TextNormalizer(TextOptions("simplified"))(cantonese, "yue")
    assert is_simplified(simplified) and simplified != cantonese
    assert TextNormalizer(TextOptions("traditional"))("佢哋讲紧嘢", "yue") == "佢哋講緊嘢"


def test_japanese_and_korean_are_never_converted():
    japanese = "機械学習の講義を始めます。"  # 機械 would become 机械 under t2s
    assert TextNormalizer(TextOptions("simplified"))(japanese, "ja") == japanese
    assert TextNormalizer()("今日は 機械学習", None) == "今日は機械学習"  # kana: Japanese, not converted
    assert TextNormalizer()("안녕하세요 여러분", "ko") == "안녕하세요 여러분"


def test_no_stray_spaces_in_cjk_text_but_latin_words_keep_theirs():
    normalize = TextNormalizer()
    assert normalize("说不配合就不配合的好 以上的话", "zh") == "说不配合就不配合的好以上的话"
    assert normalize("我们用 Fourier transform 来分析信号", "zh") == "我们用Fourier transform来分析信号"
    assert normalize("  and so   my fellow Americans ", "en") == "and so my fellow Americans"
    assert join_text(["he must be home now", "他一定在家", "因为灯亮着", "the light is on", "OK"]) == (
        "he must be home now他一定在家因为灯亮着the light is on OK")
    assert join_text(["안녕하세요", "여러분"]) == "안녕하세요 여러분"  # Korean spaces its words


def test_one_definition_of_a_cjk_character_serves_every_stage():
    """The classes of live.text, as the engines' text step, the subtitles, the caption view, the
    translation's line joining and the library's index see them."""
    from live.asr.tags import parse_rich
    from live.library.text import tokens
    from live.text import CJK, CJK_LETTERS, UNSPACED, columns, is_unspaced
    from live.transcript.cues import line_limit
    from live.translate.prompt import parse_answer
    from live.tui.caption_view import wrap

    rare = "\U00020000"  # a Han character of extension B, outside the basic plane
    assert all(is_unspaced(ch) for ch in f"中か、。，Ａ々〇㎡{rare}") and not any(map(is_unspaced, "a 1한"))
    assert re.fullmatch(f"[{CJK}]+", f"中か、Ａ{rare}한") and re.fullmatch(f"[{CJK_LETTERS}]+", "中か한")
    assert not re.match(f"[{UNSPACED}]", "한") and not re.match(f"[{CJK_LETTERS}]", "、")
    assert join_text([f"这是{rare}", "字"]) == f"这是{rare}字"
    assert parse_rich("<|zh|><|NEUTRAL|><|Speech|><|woitn|>第一句<|zh|><|NEUTRAL|><|Speech|><|woitn|>第二句").text == \
        "第一句第二句"
    assert line_limit("안녕하세요") == line_limit("中文") == 32 and line_limit("plain words") == 42
    assert wrap(f"中文{rare}字", 4) == ["中文", f"{rare}字"] and columns("中a") == 3
    assert parse_answer("[0] 第一部分\n第二部分", [0])[0] == {0: "第一部分第二部分"}
    assert tokens("广州市的工厂 factory々") == ["广", "州", "市", "的", "工", "厂", "factory", "々"]


def test_ascii_punctuation_after_chinese_becomes_full_width():
    normalize = TextNormalizer()
    assert normalize("正是因為存在絕對正義 ,所以我們?對!", "zh") == "正是因为存在绝对正义，所以我们？对！"
    assert normalize("他在家.", "zh") == "他在家。"
    assert normalize("打开文件.txt, 版本3.5,很好...", "zh") == "打开文件.txt,版本3.5,很好..."  # after Latin: kept
    assert normalize("Hello, world.", "en") == "Hello, world."


def test_an_unknown_script_is_a_config_error():
    assert SCRIPTS == ("simplified", "traditional", "traditional-hk")
    with pytest.raises(ConfigError, match="unknown script 'cyrillic'"):
        TextOptions("cyrillic")


class Traditional:
    """An engine that writes traditional characters and spaces, as Whisper base does."""

    name, model = "whisper", "base"

    def transcribe(self, audio, language="auto"):
        return Transcription("我認為 跑步最重要", "zh")


def _speech(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.mark.parametrize("script, expected", [(None, "我认为跑步最重要"), ("traditional", "我認為跑步最重要")])
def test_every_caption_the_captioner_makes_goes_through_the_text_step(script, expected):
    captioner = Captioner(Segmenter(VadOptions(aggressiveness=0)), Traditional(), options=CaptionOptions(script=script))
    captioner.insert_audio(np.concatenate([_speech(1.5), np.zeros(16000, np.float32)]))
    captions = []
    for _ in range(20):
        captions += captioner.process_iter()
    captions += captioner.finish()
    assert captions and all(c.text == expected for c in captions if c.text)
    assert any(c.kind == "final" for c in captions)
