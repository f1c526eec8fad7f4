"""The transcript rendered from ``transcript.jsonl``: text, SRT and VTT (cues of at most two lines: see
``live.transcript.cues``), and ``transcript.LANG.srt``/``.vtt`` from its translation lines, each translation
timed as its final and split into cues the way the originals are (a final with no translation has no cue
in the translated files).

Where the finals carry speaker labels, each cue starts with a WebVTT voice tag, ``<v Lecturer>`` or
``<v Audience>`` (SRT players show or drop the tag; subtitle parsers keep it), and an audience line of
the text transcript reads ``Question: ...``. The files the writer grows during a session get them when
it closes (the labels come after their captions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from live.captions import Caption
from live.events import Marker, Translation
from live.files import atomic_write
from live.timefmt import hms
from live.text import columns
from live.transcript.cues import split_cues
from live.transcript.schema import Line, Speakers, read_entries, read_transcript, speaker_labels

VOICES = {"lecturer": "Lecturer", "audience": "Audience"}  # speaker -> the name in a voice tag


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cues(finals: Iterable[Caption], speakers: Speakers | None = None) -> list[tuple[float, float, str]]:
    """Split finals into subtitle cues of at most two lines (live.transcript.cues: 42 characters a line for
    Latin text, 16 for Chinese), timed in proportion to their text; with ``speakers``, each cue of a
    labelled final starts with its voice tag."""
    out: list[tuple[float, float, str]] = []
    for cap in finals:
        blocks = ["\n".join(lines) for lines in split_cues(cap.text)]
        if not blocks:
            continue
        label = (speakers or {}).get(cap.index)
        tag = f"<v {VOICES.get(label[0], 'Lecturer')}>" if label else ""
        blocks = [tag + block for block in blocks]
        total = sum(columns(b) for b in blocks) - len(tag) * len(blocks)
        t = cap.start
        for block in blocks:
            dur = (cap.end - cap.start) * (columns(block) - len(tag)) / total
            out.append((t, t + dur, block))
            t += dur
    return out


def to_srt(finals: Iterable[Caption], speakers: Speakers | None = None) -> str:
    return srt_cues(finals, speakers=speakers)


def to_vtt(finals: Iterable[Caption], speakers: Speakers | None = None) -> str:
    return "WEBVTT\n\n" + vtt_cues(finals, speakers)


MARKS = {"pause": "⏸ paused", "resume": "▶ resumed"}


def mark_line(m: Marker) -> str:
    """A marker as a line of transcript.txt (bookmarks with their note, pause, resume, a resumed session's gap)."""
    if m.kind == "bookmark":
        return f"[{hms(m.at)}] ★ bookmark {m.note}".rstrip()
    if m.kind in MARKS:
        return f"[{hms(m.at)}] {MARKS[m.kind]}"
    return f"[{hms(m.at)}] ⏭ {m.note or 'continued'}"


def caption_line(caption: Caption, asked: bool = False) -> str:
    """A final as a line of transcript.txt (``Question:`` when the audience said it)."""
    return f"[{hms(caption.start)}] {'Question: ' if asked else ''}{caption.text}"


def srt_cues(finals: Iterable[Caption], first: int = 1, speakers: Speakers | None = None) -> str:
    """SRT cues numbered from ``first`` (the writer appends each final's as it comes)."""
    return "".join(f"{i}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{text}\n\n"
                   for i, (a, b, text) in enumerate(cues(finals, speakers), first))


def vtt_cues(finals: Iterable[Caption], speakers: Speakers | None = None) -> str:
    return "".join(f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{text}\n\n" for a, b, text in cues(finals, speakers))


def to_txt(finals: Iterable[Caption], marks: Iterable[Marker] = (), speakers: Speakers | None = None) -> str:
    asked = {i for i, (speaker, _) in (speakers or {}).items() if speaker == "audience"}
    rows = [(c.start, caption_line(c, c.index in asked)) for c in finals if c.text.strip()]
    rows += [(m.at, mark_line(m)) for m in marks]
    return "".join(line + "\n" for _, line in sorted(rows, key=lambda r: r[0]))


def render_all(folder: Path) -> None:
    """(Re)write transcript.txt/.srt/.vtt from transcript.jsonl, e.g. after a crash."""
    finals, marks = read_entries(folder)
    speakers = speaker_labels(read_transcript(folder))
    for name, text in (
        ("transcript.txt", to_txt(finals, marks, speakers)),
        ("transcript.srt", to_srt(finals, speakers)),
        ("transcript.vtt", to_vtt(finals, speakers)),
    ):
        atomic_write(folder / name, text, durable=False)
    render_translations(folder)  # transcript.LANG.srt/.vtt from the translation lines, if any


def translated_finals(lines: Iterable[Line]) -> dict[str, list[Caption]]:
    """For each language: its finals with the translated text, in the order of the finals."""
    finals: dict[int, Caption] = {}
    order: list[int] = []
    texts: dict[str, dict[int, str]] = {}
    for line in lines:
        if isinstance(line, Caption):
            if line.index not in finals:
                order.append(line.index)
            finals[line.index] = line
        elif isinstance(line, Translation) and line.text.strip():
            texts.setdefault(line.lang, {})[line.index] = line.text.strip()
    return {lang: [replace(finals[i], text=by_index[i]) for i in order if i in by_index]
            for lang, by_index in texts.items()}


def translation_files(folder: Path, lang: str) -> tuple[Path, Path]:
    return folder / f"transcript.{lang}.srt", folder / f"transcript.{lang}.vtt"


def render_translations(folder: Path) -> list[Path]:
    """Write the translated subtitle files of every language in ``folder``'s transcript; the paths written."""
    written: list[Path] = []
    lines = list(read_transcript(folder))
    speakers = speaker_labels(lines)
    for lang, finals in translated_finals(lines).items():
        if not lang.replace("-", "").isalnum():  # it names a file: never a path
            continue
        srt, vtt = translation_files(folder, lang)
        atomic_write(srt, to_srt(finals, speakers), durable=False)
        atomic_write(vtt, to_vtt(finals, speakers), durable=False)
        written += [srt, vtt]
    return written
