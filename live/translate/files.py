"""``transcript.LANG.srt`` and ``.vtt`` beside the originals, rendered from transcript.jsonl's
``{"type": "translation", "index": N, "lang": ..., "text": ...}`` lines: each translation is timed as
its final (the line with the same index), and split into cues the way the originals are. A final with no
translation has no cue in the translated files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from live.captions import Caption
from live.files import atomic_write, read_jsonl


def translated_finals(entries: Iterable[dict]) -> dict[str, list[Caption]]:
    """For each language: its finals with the translated text, in the order of the finals."""
    finals: dict[int, Caption] = {}
    order: list[int] = []
    texts: dict[str, dict[int, str]] = {}
    for obj in entries:
        try:
            if obj.get("type") == "final":
                index = int(obj.get("index", 0))
                if index not in finals:
                    order.append(index)
                finals[index] = Caption.from_json(obj)
            elif obj.get("type") == "translation" and str(obj.get("text") or "").strip():
                texts.setdefault(str(obj["lang"]), {})[int(obj["index"])] = str(obj["text"]).strip()
        except (KeyError, TypeError, ValueError):
            continue
    return {lang: [replace(finals[i], text=by_index[i]) for i in order if i in by_index]
            for lang, by_index in texts.items()}


def translation_files(folder: Path, lang: str) -> tuple[Path, Path]:
    return folder / f"transcript.{lang}.srt", folder / f"transcript.{lang}.vtt"


def render_translations(folder: Path) -> list[Path]:
    """Write the translated subtitle files of every language in ``folder``'s transcript; the paths written."""
    from live.transcript import TRANSCRIPT, to_srt, to_vtt

    written: list[Path] = []
    for lang, finals in translated_finals(read_jsonl(folder / TRANSCRIPT)).items():
        if not lang.replace("-", "").isalnum():  # it names a file: never a path
            continue
        srt, vtt = translation_files(folder, lang)
        atomic_write(srt, to_srt(finals), durable=False)
        atomic_write(vtt, to_vtt(finals), durable=False)
        written += [srt, vtt]
    return written
