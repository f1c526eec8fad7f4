"""What a character is, for every stage that treats Chinese, Japanese and Korean text apart from
Latin text: one set of character classes (regex class bodies, to be put inside ``[...]``) and the
display width of text in a terminal or a subtitle.

The scripts:

- ``HAN``: Chinese characters — the unified ideographs with every extension (A in the BMP, B to H in
  the supplementary planes), the compatibility ideographs, and 々 (iteration mark) and 〇 (zero);
- ``KANA``: hiragana, katakana and their phonetic extensions;
- ``HANGUL``: Korean syllables and jamo;
- ``CJK_SYMBOLS``: what CJK text is set with besides its letters — radicals, CJK punctuation (、。「」),
  bopomofo, strokes, enclosed and compatibility forms, vertical forms, full-width forms (，！Ａ).

And what the stages ask of them:

- ``UNSPACED``: written with no space between words nor beside them (Han, kana and their symbols):
  joining two pieces of Chinese or Japanese adds no space; Korean spaces its words, so it is not here;
- ``CJK``: every character of CJK text, Korean included: a line may break between any two of them;
- ``CJK_LETTERS``: the letters of the three scripts (no symbols): text holding one is CJK text.
"""

from __future__ import annotations

import re
import unicodedata

HAN = "\u3005\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
KANA = "\u3040-\u30ff\u31f0-\u31ff"
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
CJK_SYMBOLS = "\u2e80-\u2fff\u3000-\u303f\u3100-\u312f\u3190-\u31ef\u3200-\u33ff\u4dc0-\u4dff\ufe30-\ufe4f\uff00-\uffef"

UNSPACED = HAN + KANA + CJK_SYMBOLS
CJK = UNSPACED + HANGUL
CJK_LETTERS = HAN + KANA + HANGUL

_UNSPACED = re.compile(f"[{UNSPACED}]")


def is_unspaced(char: str) -> bool:
    """True for a character of ``UNSPACED`` (one character; False for an empty string)."""
    return bool(_UNSPACED.fullmatch(char))


def is_wide(char: str) -> bool:
    """True for a character that takes two columns (East Asian wide or full-width)."""
    return unicodedata.east_asian_width(char) in "WF"


def columns(text: str) -> int:
    """Display width: wide and full-width characters take two columns."""
    return sum(2 if is_wide(ch) else 1 for ch in text)
