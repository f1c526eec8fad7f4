"""One recording into one folder: the session core's file job (``live.session.filejob``) writes the
transcript, this module the formats asked for, and says what became of the file (``FileResult``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from live import __version__
from live.asr.base import Engine
from live.audio import check_media, check_media_path, media_duration
from live.captions import BatchOptions, Caption
from live.errors import LiveError, SessionError
from live.files import atomic_write
from live.session.filejob import FileTranscription
from live.timefmt import hms, mmss
from live.transcript import TRANSCRIPT, SessionWriter, read_entries
from live.vad import VadOptions

if TYPE_CHECKING:
    from live.session.speakers import FileSpeakers
    from live.translate import Translator

FORMATS = ("txt", "srt", "vtt", "jsonl", "md")
DEFAULT_FORMATS = ("txt", "srt", "vtt", "jsonl")  # what a live session leaves
OUTPUT_FILES = {"txt": "transcript.txt", "srt": "transcript.srt", "vtt": "transcript.vtt",
                "jsonl": TRANSCRIPT, "md": "transcript.md"}
# A file whose audio ends this much before its stated length was cut short (AAC priming and
# rounding account for a few tens of milliseconds; a truncated download for much more).
TRUNCATION_TOLERANCE = (2.0, 0.03)  # seconds, or this share of the length, whichever is more


@dataclass
class FileResult:
    """What became of one input file."""

    path: Path
    folder: Path | None = None
    captions: int = 0
    audio_s: float = 0.0
    stated_s: float | None = None
    decode_s: float = 0.0
    wall_s: float = 0.0
    batches: int = 0
    segments: int = 0
    error: str | None = None
    notes: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rtf(self) -> float:
        """Wall time over audio time, decoding and writing included."""
        return self.wall_s / self.audio_s if self.audio_s else 0.0


def to_markdown(finals: Sequence[Caption], title: str) -> str:
    """A readable transcript: a heading, then one timestamped paragraph per caption."""
    lines = [f"# {title}", ""]
    for cap in finals:
        if cap.text.strip():
            lines += [f"**[{hms(cap.start)}]** {cap.text.strip()}", ""]
    return "\n".join(lines).rstrip() + "\n"


def output_folder(path: Path, out_dir: Path | None, taken: set[Path] | None = None) -> Path:
    """``<stem>`` next to the file (or in ``out_dir``); ``<stem>-<ext>`` when two inputs share a stem."""
    name = path.stem if path.suffix else f"{path.name}-transcript"
    folder = (out_dir if out_dir is not None else path.parent) / name
    if taken is not None and folder in taken and path.suffix:
        folder = folder.with_name(f"{path.stem}-{path.suffix.lstrip('.').lower()}")
    n = 2
    while taken is not None and folder in taken:
        folder = folder.with_name(f"{name}-{n}")
        n += 1
    return folder


def check_input(path: Path) -> None:
    """The checks before any model loads, worded for files given on the command line: the path, then
    FFmpeg's look at the file's headers (a text file is said at once, not after seconds of loading)."""
    check_media_path(path, flag=None)
    check_media(path)


def open_writer(folder: Path, meta: dict) -> SessionWriter:
    """The output folder's writer, an earlier run's transcript gone (SessionError in one line)."""
    if folder.exists() and not folder.is_dir():
        raise SessionError(f"cannot write {folder}: a file of that name is in the way; pass -o DIR")
    # The writer appends: an earlier run's lines must go. Where that fails, so does the writer below,
    # with the message the user needs.
    with contextlib.suppress(OSError):
        (folder / TRANSCRIPT).unlink(missing_ok=True)
    try:
        return SessionWriter(folder, meta=meta, record_audio=False)
    except SessionError:
        raise SessionError(f"cannot write the output folder {folder}: {_os_reason(folder)}; pass -o DIR with a "
                           "folder you can write") from None


def _os_reason(folder: Path) -> str:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".live-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return "it cannot be written"


def transcribe_file(path: Path, engine: Engine, folder: Path, *, formats: Sequence[str] = DEFAULT_FORMATS,
                    language: str = "auto", script: str | None = None, vad: VadOptions | None = None,
                    batching: BatchOptions | None = None, engine_label: str = "", on_start: Callable[[float | None], None] | None = None,
                    on_progress: Callable[[float], None] | None = None,
                    revise: Callable[[Caption], Caption] | None = None,
                    translator: Translator | None = None, speakers: FileSpeakers | None = None) -> FileResult:
    """Transcribe ``path`` into ``folder`` (the files named by ``formats``); ``revise``, ``translator`` and
    ``speakers`` as for FileTranscription (with a translator, ``transcript.LANG.srt``/``.vtt`` too, as formats allow).

    Raises LiveError for a file or folder that cannot be used, before anything is written. A file
    that ends early is written and reported in ``FileResult.error``. ``on_start`` gets the file's
    stated length once it is open and its folder made; ``on_progress`` the seconds of audio done.
    """
    began = time.monotonic()
    path = Path(path)
    check_input(path)
    result = FileResult(path, folder, stated_s=media_duration(path))
    job = FileTranscription(path, engine, language=language, vad=vad, batching=batching, on_progress=on_progress,
                            script=script, revise=revise, translator=translator, speakers=speakers)
    meta = {
        "live_version": __version__,
        "started": datetime.now().isoformat(timespec="seconds"),
        "input": str(path.resolve()),
        "engine": getattr(engine, "name", None),
        "model": getattr(engine, "model", None),
        "engine_reason": engine_label or None,
        "language": language,
        "script": script,
        "batching": {"max_batch_s": job.batching.max_batch_s, "max_gap_s": job.batching.max_gap_s},
    }
    job.open()  # an unreadable file fails here, before its folder is made
    try:
        writer = open_writer(folder, meta)
    except LiveError:
        job.close()
        raise
    if on_start is not None:
        on_start(result.stated_s)
    job.writer = writer  # the session core writes each final (and closes the folder at the end)
    try:
        for _caption in job:
            pass
    finally:
        job.close()
    if writer.error:
        raise SessionError(writer.error)
    finals, _ = read_entries(folder)
    if "md" in formats:
        atomic_write(folder / OUTPUT_FILES["md"], to_markdown(finals, f"Transcript of {path.name}"))
    for fmt, name in OUTPUT_FILES.items():
        if fmt not in formats and fmt != "jsonl":  # jsonl may still feed the notes; dropped by the caller
            (folder / name).unlink(missing_ok=True)
    if translator is not None:
        from live.transcript import translation_files

        for fmt, translated in zip(("srt", "vtt"), translation_files(folder, translator.target)):
            if fmt not in formats:
                translated.unlink(missing_ok=True)
    result.captions = len(finals)
    result.audio_s = job.audio_s
    result.decode_s = job.decode_s
    result.batches, result.segments = job.batches, job.segments
    result.wall_s = time.monotonic() - began
    result.error = _truncation(result)
    return result


def _truncation(result: FileResult) -> str | None:
    stated = result.stated_s
    if stated is None:
        return None
    tolerance = max(TRUNCATION_TOLERANCE[0], TRUNCATION_TOLERANCE[1] * stated)
    if result.audio_s >= stated - tolerance:
        return None
    return (f"{result.path}: the audio stops at {mmss(result.audio_s)} of {mmss(stated)} (the file is "
            f"truncated or damaged); {result.folder} holds the transcript of the part before")


