"""The prompts: built-in ones from ``live/prompts/*.md``, a user's own from ``llm.prompts_dir``,
and the rules for what a user's prompt must keep and what language the notes are written in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from live.errors import ConfigError
from live.language import LANGUAGE_NAMES, is_chinese, lecture_language
from live.llm import LLMSettings
from live.notes.finals import Final

# Placeholders a prompt must keep, or the model would never see that part of the request.
REQUIRED = {
    "refine": ("notes", "transcript"),
    "summarize": ("transcript",),
    "map": ("transcript",),
    "reduce": ("partial_notes",),
    "translate": ("captions",),
}
PROMPT_NAMES = ("notes_system", "shape", "shape_zh", "refine", "summarize", "map", "reduce", "explain", "qa_system",
                "translate_system", "translate")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class Prompts:
    """The built-in prompts (``live/prompts/*.md``), each replaceable by a file of the same name in
    ``prompts_dir``. ``{{name}}`` placeholders are filled in one pass, so text that happens to
    contain ``{{...}}`` (or LaTeX braces) is never re-expanded."""

    def __init__(self, prompts_dir: Path | None = None) -> None:
        self.prompts_dir = prompts_dir
        self._cache: dict[str, str] = {}

    def text(self, name: str) -> str:
        if name not in self._cache:
            override = self.prompts_dir / f"{name}.md" if self.prompts_dir is not None else None
            if override is not None and override.is_file():
                try:
                    text = override.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise ConfigError(f"cannot read prompt {override}: {exc}") from None
                missing = [p for p in REQUIRED.get(name, ()) if "{{" + p + "}}" not in text]
                if missing:
                    raise ConfigError(f"prompt {override} lacks {', '.join('{{' + p + '}}' for p in missing)}; "
                                      "add it or delete the file to use the built-in prompt")
            else:
                text = (resources.files("live") / "prompts" / f"{name}.md").read_text(encoding="utf-8")
            self._cache[name] = text.strip()
        return self._cache[name]

    def render(self, name: str, **values: object) -> str:
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), self.text(name))


def clean_answer(text: str) -> str:
    """The notes without a code fence the model may have wrapped around the whole answer."""
    text = text.strip()
    fenced = re.fullmatch(r"```(?:markdown|md)?\s*\n(.*?)\n?```", text, flags=re.DOTALL)
    return (fenced.group(1) if fenced else text).strip() + "\n"


def notes_language(settings: LLMSettings, finals: Sequence[Final]) -> str | None:
    """What the notes are written in: ``notes_language`` when set, else the lecture's language (the
    session language of live.language: one English sentence does not make a Chinese lecture English)."""

    return settings.notes_language or lecture_language(finals)


def _written_traditional(finals: Sequence[Final]) -> bool:
    """True when the transcript's Chinese is mostly in traditional characters (``--script traditional``)."""
    from live.textnorm import convert

    text = "".join(f.text for f in finals if f.language in ("zh", "yue", None))
    if not text:
        return False
    changed = sum(a != b for a, b in zip(text, convert(text, "t2s")))
    return changed > 0.02 * len(text)


def language_rule(settings: LLMSettings, finals: Sequence[Final]) -> str:
    """The sentence telling the model which language to write in."""
    if settings.notes_language:
        return f"Write in {settings.notes_language}."
    code = notes_language(settings, finals)
    if code is None:
        return "Write in the language the lecture is given in."
    name = LANGUAGE_NAMES.get(code, code)
    if code == "zh":
        name = f"Chinese ({'繁體中文' if _written_traditional(finals) else '简体中文'})"
    return f"Write in {name}, the language of the lecture."


def notes_system(prompts: Prompts, settings: LLMSettings, finals: Sequence[Final]) -> str:
    """The notes' system prompt: the language to write in, and the shape of the notes in it (for a
    Chinese lecture 讲座内容摘要 → 1. 核心主题 → 2. 主要知识点与结构 → 3. 重要细节 → 4. 拓展与补充 → 5. 总结)."""
    shape = prompts.text("shape_zh" if is_chinese(notes_language(settings, finals)) else "shape")
    return prompts.render("notes_system", language_rule=language_rule(settings, finals), shape=shape)
