"""Subtitle cues from one caption's text: at most two lines, each as long as its script's standard.

- Latin text: 42 characters a line (Netflix, BBC), broken between words.
- Chinese and Japanese: 16 characters a line (the Chinese subtitle standard; Netflix's Chinese guides
  say the same), measured by display width, so a Latin letter or digit in a code-switched line counts
  half a character. Lines break between characters, preferably after punctuation; never before
  closing punctuation (，。！？、）」…), never after an opening one, and never inside a Latin word or a
  number.
- A caption too long for one cue is cut into cues of about equal length at its sentence ends when it
  has them, and a cue's two lines are balanced: no second line of one word.

``split_cues(text)`` returns the cues, each a list of one or two lines.
"""

from __future__ import annotations

import re

from live.text import CJK_LETTERS, columns, is_wide

LATIN_LINE = 42  # characters
CJK_LINE = 16  # Chinese characters (32 display columns)

_CLOSING = "，。、；：！？）」』】》〉〕…—,.;:!?)%\u201d\u2019"
_OPENING = "（「『【《〈〔(\u201c\u2018"
# One unbreakable piece: opening punctuation, then a CJK character or a run of anything else that is not
# a space, then the punctuation that closes it. Spaces are pieces of their own.
_PIECE = re.compile(rf"\s+|[{_OPENING}]*(?:[{CJK_LETTERS}]|[^\s{CJK_LETTERS}{_CLOSING}{_OPENING}]+)?[{_CLOSING}]*")
_SENTENCE_END = set("。！？.!?…")
_CLAUSE_END = set("，、；：,;:—")


def line_limit(text: str) -> int:
    """The longest line for ``text``, in columns: 16 Chinese characters when it holds CJK, else 42."""
    return CJK_LINE * 2 if re.search(f"[{CJK_LETTERS}]", text) else LATIN_LINE


def _pieces(text: str, limit: int) -> list[str]:
    out = [p for p in _PIECE.findall(" ".join(text.split())) if p]
    fitted: list[str] = []
    for piece in out:  # a piece wider than a line (a long URL) is cut where it must be
        while columns(piece) > limit:
            cut = 1
            while columns(piece[:cut + 1]) <= limit:
                cut += 1
            fitted.append(piece[:cut])
            piece = piece[cut:]
        fitted.append(piece)
    return fitted


def _join(pieces: list[str]) -> str:
    return "".join(pieces).strip()


def _penalty(piece: str) -> float:
    """What breaking after ``piece`` costs: nothing after a sentence, a little after a clause."""
    last = piece.rstrip()[-1:] if piece.strip() else ""
    if last in _SENTENCE_END:
        return 0.0
    if last in _CLAUSE_END:
        return 0.05
    return 0.5


def _breaks(pieces: list[str]) -> list[tuple[int, int, float]]:
    """(index after which a line may break, width of the text before it, cost) for every break: at a
    space, or beside a CJK character; never inside a Latin word, a number or a URL (3.5, e.g.)."""
    found = []
    width = 0
    for i, piece in enumerate(pieces[:-1]):
        width += columns(piece)
        after = pieces[i + 1]
        if piece.isspace() or after.isspace() or is_wide(piece[-1]) or is_wide(after[0]):
            found.append((i + 1, width, _penalty(piece)))
    return found


def _two_lines(pieces: list[str], limit: int) -> list[str]:
    """Two balanced lines (or one, when it fits) for pieces that fit two lines."""
    text = _join(pieces)
    if columns(text) <= limit:
        return [text]
    total = columns("".join(pieces))
    best: tuple[float, int] | None = None
    # Any boundary between pieces will do where no good break fits (a long URL cut in pieces).
    anywhere = [(at, columns("".join(pieces[:at])), 1.0) for at in range(1, len(pieces))]
    for at, width, cost in _breaks(pieces) + anywhere:
        first, second = _join(pieces[:at]), _join(pieces[at:])
        if not first or not second or columns(first) > limit or columns(second) > limit:
            continue
        score = abs(total - 2 * width) / limit + cost
        if best is None or score < best[0]:
            best = (score, at)
    assert best is not None, "two lines that fit always have a boundary between them"
    return [_join(pieces[:best[1]]), _join(pieces[best[1]:])]


def _lines(pieces: list[str], limit: int) -> list[tuple[int, int]]:
    """Pieces cut into lines within ``limit``, as (first, end) indices: each line as full as it gets,
    unless punctuation past about half of it makes a better end. The spaces at a break belong to no line."""
    lines: list[tuple[int, int]] = []
    first = 0
    while first < len(pieces):
        rest = pieces[first:]
        if columns(_join(rest)) <= limit:
            lines.append((first, len(pieces)))
            break
        best: tuple[float, int] | None = None
        for at, width, cost in _breaks(rest):
            if columns(_join(rest[:at])) > limit:
                break
            score = width / limit - cost
            if best is None or score > best[0]:
                best = (score, at)
        if best is None:  # no break fits: as many pieces as fit (each fits alone)
            fits = [at for at in range(1, len(rest)) if columns(_join(rest[:at])) <= limit]
            best = (0.0, max(fits, default=1))
        end = first + best[1]
        lines.append((first, end))
        first = end
        while first < len(pieces) and pieces[first].isspace():
            first += 1
    return lines


def split_cues(text: str, limit: int | None = None) -> list[list[str]]:
    """The cues for one caption's ``text``: each a list of one or two lines within ``limit`` columns
    (default: by the text's script, ``line_limit``). No character is lost or reordered."""
    text = " ".join(text.split())
    if not text:
        return []
    limit = limit or line_limit(text)
    pieces = _pieces(text, limit)
    lines = _lines(pieces, limit)
    cues = []
    for i in range(0, len(lines), 2):
        first, end = lines[i][0], lines[min(i + 1, len(lines) - 1)][1]
        cues.append(_two_lines(pieces[first:end], limit))
    return cues
