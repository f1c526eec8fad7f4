"""How caption text becomes searchable tokens, and how a query becomes an FTS5 MATCH expression.

Words are what FTS5's ``unicode61`` tokenizer makes of them: runs of letters and digits, case and
diacritics folded, so ``Entropy`` finds ``entropy`` and ``cafe`` finds ``café``. Chinese (and Japanese
kana) has no spaces, and unicode61 would keep a whole CJK run as one token, so a search for 工厂 would
miss 广州市的工厂. Each CJK character is therefore indexed as a token of its own (``广 州 市 的 工 厂``) and a
CJK query becomes a phrase of its characters: a phrase matches consecutive tokens, which is exactly
"this substring", for 1, 2 or any number of characters, in one index.

A query is terms ANDed together: a bare word, a ``"quoted phrase"`` (its words in order) or ``word*``
(a prefix). FTS5 operators typed by the user (AND, OR, NEAR, ``-``, ``:``) are plain words here: the
expression is built from quoted strings only, so no query can be a syntax error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from live.text import HAN, KANA, columns, is_wide

# Han and kana: scripts written without spaces, so each character is a word to the index.
_CJK = HAN + KANA
_CJK_CHAR = re.compile(f"([{_CJK}])")
# A token as the index sees it: one CJK character, or a run of letters/digits that are not CJK.
_TOKEN = re.compile(f"[{_CJK}]|(?:(?![{_CJK}])[^\\W_])+")
_PHRASE = re.compile(r'"([^"]*)"?')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

TOKENIZER = "unicode61 remove_diacritics 2"


def index_text(text: str) -> str:
    """The text as it goes into the FTS5 column: each CJK character set apart by spaces."""
    return _CJK_CHAR.sub(r" \1 ", unicodedata.normalize("NFC", text))


def is_cjk(token: str) -> bool:
    return bool(_CJK_CHAR.fullmatch(token))


def fold(token: str) -> str:
    """Case and diacritics folded, as unicode61 with remove_diacritics does."""
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` as typed (FTS5 folds them itself when it reads the query)."""
    return _TOKEN.findall(unicodedata.normalize("NFC", text))


def clean_line(text: str) -> str:
    """Caption text for one output line: control characters (a stray escape) and line breaks out."""
    return " ".join(_CONTROL.sub(" ", text).split())


@dataclass(frozen=True)
class Term:
    """One thing every hit must contain.

    Attributes:
        words: its tokens, in order (a CJK run is one token per character).
        prefix: the last token may be the start of a longer word (``entrop*``).
    """

    words: tuple[str, ...]
    prefix: bool = False

    def expression(self) -> str:
        quoted = '"' + " ".join(self.words).replace('"', '""') + '"'
        return quoted + " *" if self.prefix else quoted


@dataclass(frozen=True)
class Query:
    """A parsed search: the terms a caption must all contain.

    Attributes:
        text: what the user typed.
        terms: the terms, in the order typed; empty when the text has no letters or digits.
    """

    text: str
    terms: tuple[Term, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        terms: list[Term] = []
        rest = 0
        for m in _PHRASE.finditer(text):
            terms.extend(_bare_terms(text[rest:m.start()]))
            words = tuple(tokens(m.group(1)))
            if words:
                terms.append(Term(words))
            rest = m.end()
        terms.extend(_bare_terms(text[rest:]))
        return cls(text, tuple(dict.fromkeys(terms)))

    @classmethod
    def from_args(cls, args: list[str]) -> Query:
        """The command line's words: an argument with a space in it (``live search "ask not"``,
        quoted in the shell) is a phrase."""
        parts = [f'"{a}"' if any(c.isspace() for c in a.strip()) and '"' not in a else a for a in args]
        return cls.parse(" ".join(parts))

    def expression(self) -> str:
        """The FTS5 MATCH expression: the terms' quoted strings, ANDed."""
        return " ".join(term.expression() for term in self.terms)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the terms occur in ``text`` (a hit's caption), as sorted, merged ``(start, end)``."""
        toks = [(fold(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        found: list[tuple[int, int]] = []
        for term in self.terms:
            *head, last = [fold(w) for w in term.words]
            n = len(head) + 1
            for i in range(len(toks) - n + 1):
                window = toks[i:i + n]
                end = window[-1][0]
                if [t for t, _, _ in window[:-1]] == head and (end.startswith(last) if term.prefix else end == last):
                    found.append((window[0][1], window[-1][2]))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def _bare_terms(text: str) -> list[Term]:
    terms = []
    for word in text.split():
        prefix = word.endswith("*")
        words = tuple(tokens(word))
        if words:
            # 广州市 is a phrase of three characters; so is don't (don, t), as in the index.
            terms.append(Term(words, prefix=prefix and not is_cjk(words[-1])))
    return terms


def width(text: str) -> int:
    """Terminal columns: wide (CJK) characters take two."""
    return columns(text)


def cut(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` terminal columns, with an ellipsis when something was cut."""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        w = 2 if is_wide(ch) else 1
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out).rstrip() + "…"


def quoted(text: str) -> str:
    """The query as the user typed it, in quotes once: a phrase typed in double quotes keeps its own
    (``repr`` made it '"heat engine"')."""
    return text if len(text) >= 2 and text[0] == text[-1] == '"' else f"'{text}'"
