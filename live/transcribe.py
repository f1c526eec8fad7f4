"""``live transcribe``: recordings and videos to the same files a live session leaves.

A file is read as fast as it decodes (PyAV, any format FFmpeg reads), cut into speech segments by the
same VAD as the live path, and adjacent segments are merged into decode batches of up to ~30 s:
SenseVoice costs ~0.6 s a call however short the audio, and its real-time factor falls from 0.33 at
2 s to 0.12 at 30 s. Silence between merged segments is left out (each segment keeps its own short
lead-in and tail), and a long pause ends a batch, so captions still start where speech starts. A
batch decodes to one caption spanning its segments; the subtitle renderer splits it into cues.

The engine loads once for all files. A bad file is reported in one line and the others go on.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from live import __version__
from live.asr.base import Engine
from live.audio import EndOfStream, FileSource, media_duration
from live.captions import Caption
from live.errors import ConfigError, InputError, LiveError, SessionError
from live.files import atomic_write
from live.timefmt import hms, mmss
from live.transcript import TRANSCRIPT, SessionWriter, read_entries
from live.vad import Segment, Segmenter, VadOptions

if TYPE_CHECKING:
    from live.config import Settings
    from live.llm import LLMClient, LLMSettings

log = logging.getLogger("live.transcribe")

FORMATS = ("txt", "srt", "vtt", "jsonl", "md")
DEFAULT_FORMATS = ("txt", "srt", "vtt", "jsonl")  # what a live session leaves
OUTPUT_FILES = {"txt": "transcript.txt", "srt": "transcript.srt", "vtt": "transcript.vtt",
                "jsonl": TRANSCRIPT, "md": "transcript.md"}
READ_BLOCK_S = 1.0
# A file whose audio ends this much before its stated length was cut short (AAC priming and
# rounding account for a few tens of milliseconds; a truncated download for much more).
TRUNCATION_TOLERANCE = (2.0, 0.03)  # seconds, or this share of the length, whichever is more
SLIDES_CONTEXT_CHARS = 12_000


# --- batching -------------------------------------------------------------------------------------


@dataclass
class BatchOptions:
    """How VAD segments are merged into decode calls.

    Attributes:
        max_batch_s: longest merged audio; 0 decodes each segment alone (the live path's way).
        max_gap_s: a pause longer than this between two segments ends the batch, so a caption never
            spans a long silence (its cues are timed across its whole span).
    """

    max_batch_s: float = 28.0  # under Whisper's 30 s window, so a batch is one window
    max_gap_s: float = 2.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_batch_s <= 120.0:
            raise ConfigError(f"batch length must be between 0 and 120 seconds (got {self.max_batch_s:g})")
        if self.max_gap_s < 0:
            raise ConfigError(f"the longest pause inside a batch must be 0 or more (got {self.max_gap_s:g})")


@dataclass(frozen=True)
class Batch:
    """Adjacent speech segments decoded together; the caption spans ``start``..``end``."""

    segments: tuple[Segment, ...]

    @property
    def start(self) -> float:
        return self.segments[0].start

    @property
    def end(self) -> float:
        return self.segments[-1].end

    @property
    def speech_s(self) -> float:
        return sum(s.duration for s in self.segments)

    def audio(self) -> np.ndarray:
        """The segments end to end. The silence between them is dropped: each segment already
        carries its VAD lead-in and tail, and segments cut out of one long stretch of speech meet
        at the same sample, so joining them restores that stretch exactly."""
        if len(self.segments) == 1:
            return self.segments[0].audio
        return np.concatenate([s.audio for s in self.segments])


class Batcher:
    """Groups segments as they close: ``add`` returns the batches that are complete, ``flush`` the rest."""

    def __init__(self, options: BatchOptions | None = None) -> None:
        self.options = options or BatchOptions()
        self._open: list[Segment] = []
        self._length = 0.0

    def add(self, segment: Segment) -> list[Batch]:
        done: list[Batch] = []
        if self._open:
            gap = segment.start - self._open[-1].end
            if gap > self.options.max_gap_s or self._length + segment.duration > self.options.max_batch_s:
                done += self.flush()
        self._open.append(segment)
        self._length += segment.duration
        if self._length >= self.options.max_batch_s:
            done += self.flush()
        return done

    def flush(self) -> list[Batch]:
        if not self._open:
            return []
        batch = Batch(tuple(self._open))
        self._open, self._length = [], 0.0
        return [batch]


# --- one file -------------------------------------------------------------------------------------


class FileTranscription:
    """One file through VAD, batching and the engine; iterating yields its final captions in order.

    The file streams through in blocks, so an hour-long lecture never sits in memory whole. Figures
    for the report (audio length, decode time, batches) are filled in as it runs.
    """

    def __init__(self, path: Path, engine: Engine, *, language: str = "auto", vad: VadOptions | None = None,
                 batching: BatchOptions | None = None,
                 on_progress: Callable[[float], None] | None = None) -> None:
        self.path = Path(path)
        self.engine = engine
        self.language = language
        self.vad = vad or VadOptions()
        self.batching = batching or BatchOptions()
        self.on_progress = on_progress
        self.audio_s = 0.0
        self.decode_s = 0.0
        self.batches = 0
        self.segments = 0
        self.batch_lengths: list[float] = []
        self._source: FileSource | None = None

    def open(self) -> None:
        """Open the file and decode its first block: InputError now for a file FFmpeg cannot read or
        that has no audio (iterating opens it too)."""
        if self._source is None:
            source = FileSource(self.path, realtime=False, block_seconds=READ_BLOCK_S)
            source.start()
            self._source = source

    def close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.stop()

    def __iter__(self) -> Iterator[Caption]:
        self.open()
        source = self._source
        assert source is not None
        self.decode_s, self.batches, self.segments, self.batch_lengths = 0.0, 0, 0, []
        segmenter = Segmenter(self.vad)
        batcher = Batcher(self.batching)
        try:
            while True:
                try:
                    block = source.read(0.0)
                except EndOfStream:
                    break
                if block is None:
                    continue
                for segment in segmenter.feed(block):
                    for batch in batcher.add(segment):
                        yield from self._decode(batch, segmenter)
            for segment in segmenter.flush():
                for batch in batcher.add(segment):
                    yield from self._decode(batch, segmenter)
            for batch in batcher.flush():
                yield from self._decode(batch, segmenter)
        finally:
            self.close()
            self.audio_s = segmenter.clock
        if self.on_progress is not None:
            self.on_progress(self.audio_s)

    def _decode(self, batch: Batch, segmenter: Segmenter) -> Iterator[Caption]:
        began = time.perf_counter()
        result = self.engine.transcribe(batch.audio(), self.language)
        self.decode_s += time.perf_counter() - began
        self.batches += 1
        self.segments += len(batch.segments)
        self.batch_lengths.append(batch.speech_s)
        if self.on_progress is not None:
            self.on_progress(segmenter.clock)
        if result.text.strip():
            yield Caption(kind="final", start=batch.start, end=batch.end, text=result.text,
                          language=result.language, emotion=result.emotion, events=result.events,
                          emitted=segmenter.clock, index=self.batches - 1)


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
    """The checks that need no decoder, each with a message for this command."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give audio or video files (e.g. {path}/*.mp4)")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); give a recording with sound in it")


def _writer(folder: Path, meta: dict) -> SessionWriter:
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
                    language: str = "auto", vad: VadOptions | None = None, batching: BatchOptions | None = None,
                    engine_label: str = "", on_start: Callable[[float | None], None] | None = None,
                    on_progress: Callable[[float], None] | None = None) -> FileResult:
    """Transcribe ``path`` into ``folder`` (the files named by ``formats``).

    Raises LiveError for a file or folder that cannot be used, before anything is written. A file
    that ends early is written and reported in ``FileResult.error``. ``on_start`` gets the file's
    stated length once it is open and its folder made; ``on_progress`` the seconds of audio done.
    """
    began = time.monotonic()
    path = Path(path)
    check_input(path)
    result = FileResult(path, folder, stated_s=media_duration(path))
    job = FileTranscription(path, engine, language=language, vad=vad, batching=batching, on_progress=on_progress)
    meta = {
        "live_version": __version__,
        "started": datetime.now().isoformat(timespec="seconds"),
        "input": str(path.resolve()),
        "engine": getattr(engine, "name", None),
        "model": getattr(engine, "model", None),
        "engine_reason": engine_label or None,
        "language": language,
        "batching": asdict(job.batching),
    }
    job.open()  # an unreadable file fails here, before its folder is made
    try:
        writer = _writer(folder, meta)
    except LiveError:
        job.close()
        raise
    if on_start is not None:
        on_start(result.stated_s)
    try:
        for caption in job:
            writer.add_final(caption)
    finally:
        job.close()
        writer.close()
    if writer.error:
        raise SessionError(writer.error)
    finals, _ = read_entries(folder)
    if "md" in formats:
        atomic_write(folder / OUTPUT_FILES["md"], to_markdown(finals, f"Transcript of {path.name}"))
    for fmt, name in OUTPUT_FILES.items():
        if fmt not in formats and fmt != "jsonl":  # jsonl may still feed the notes; dropped by the caller
            (folder / name).unlink(missing_ok=True)
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


# --- progress -------------------------------------------------------------------------------------


class Progress:
    """Progress of one file at a time on stderr: a redrawn bar on a terminal, else a line every ``step`` %.

    ``message`` prints a line without tearing the bar (it is redrawn below the line).
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None, step: int = 10,
                 clock: Callable[[], float] = time.monotonic, min_redraw_s: float = 0.1) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.step = step
        self._clock = clock
        self._min_redraw = min_redraw_s
        self._label = ""
        self._total: float | None = None
        self._t0 = 0.0
        self._next_mark = 0.0
        self._last_draw = -math.inf
        self._drawn = False
        self._done = 0.0

    def start(self, label: str, total_s: float | None) -> None:
        self._label, self._total = label, total_s if total_s and total_s > 0 else None
        self._t0 = self._clock()
        self._done = 0.0
        self._next_mark = self.step if self._total else 60.0
        self._last_draw = -math.inf
        if not self.tty:
            length = f" ({mmss(self._total)} of audio)" if self._total else ""
            self._line(f"live: {label}: transcribing{length}")
        else:
            self._draw()

    def update(self, done_s: float) -> None:
        self._done = done_s
        if self.tty:
            if self._clock() - self._last_draw >= self._min_redraw:
                self._draw()
            return
        elapsed = self._clock() - self._t0
        if self._total:
            percent = min(100.0, 100.0 * done_s / self._total)
            if percent + 1e-9 < self._next_mark or percent >= 100.0:
                return  # 100 % is said by the caller's closing line
            while self._next_mark <= percent + 1e-9:
                self._next_mark += self.step
            eta = elapsed * (self._total - done_s) / done_s if done_s > 0 else None
            eta_text = f", ETA {mmss(eta)}" if eta is not None else ""
            self._line(f"live: {self._label}: {int(percent)} % ({mmss(done_s)} of {mmss(self._total)}), "
                       f"{mmss(elapsed)} elapsed{eta_text}")
        elif done_s >= self._next_mark:
            self._next_mark = (done_s // 60 + 1) * 60
            self._line(f"live: {self._label}: {mmss(done_s)} of audio done, {mmss(elapsed)} elapsed")

    def message(self, line: str) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False
        self._line(line)
        if self.tty and self._label:
            self._draw()

    def finish(self) -> None:
        """Take the bar off the screen (on a terminal); the caller prints the closing line."""
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self._drawn = False
        self._label = ""

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def render_bar(self, width: int) -> str:
        """The bar line, shorter than ``width``: label, bar, percent, audio done, elapsed time, ETA.

        On a narrow terminal the label is shortened first, then the audio counts and the bar go;
        the percent, elapsed time and ETA stay.
        """
        elapsed = self._clock() - self._t0
        done, total = self._done, self._total
        room = max(1, width - 1)
        if not total:
            line = f"{self._label}  {mmss(done)} of audio  {mmss(elapsed)} elapsed"
            return line if len(line) <= room else line[-room:]
        fraction = min(1.0, done / total)
        eta = f"ETA {mmss(elapsed * (total - done) / done)}" if done > 0 else "ETA --:--"
        essential = f"{fraction * 100:3.0f}%  {mmss(elapsed)} elapsed  {eta}"
        full = f"{fraction * 100:3.0f}%  {mmss(done)}/{mmss(total)}  {mmss(elapsed)} elapsed  {eta}"

        def bar(n: int) -> str:
            filled = int(round(fraction * n))
            return "[" + "#" * filled + "." * (n - filled) + "]"

        short = _shorten_label(self._label, 16)
        for label, tail in ((self._label, full), (short, full), (short, essential), ("", essential)):
            free = room - len(tail) - (len(label) + 1 if label else 0) - 3  # brackets and a space
            if free >= 10:
                return f"{label} {bar(min(30, free))} {tail}".lstrip()
        return essential if len(essential) <= room else essential[:room]

    def _draw(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r\x1b[K" + self.render_bar(width))
        self.stream.flush()
        self._drawn = True
        self._last_draw = self._clock()


def _shorten_label(label: str, keep: int) -> str:
    return label if len(label) <= keep else "…" + label[-(keep - 1):]


class _HeldWarnings(logging.Handler):
    """live's warnings while files are transcribed: the audio stage's are held for the file's own
    line (a damaged file is reported once); the others are printed as they come."""

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.say = say
        self.held: list[str] = []
        self._said: set[str] = set()  # an engine may warn at every decode: once is enough

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "live.audio":
            self.held.append(message)
        elif message not in self._said:
            self._said.add(message)
            self.say(f"live: warning: {message}")


# --- the command ----------------------------------------------------------------------------------


def parse_formats(text: str) -> tuple[str, ...]:
    wanted = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise ConfigError(f"unknown --format {', '.join(unknown) or repr(text)}; choose from {','.join(FORMATS)}")
    return tuple(dict.fromkeys(wanted))


def add_transcribe_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``transcribe`` to ``live``'s subcommands."""
    p = subparsers.add_parser(
        "transcribe", help="transcribe recordings and videos into transcripts and subtitles",
        description="Transcribe audio or video files (anything FFmpeg reads) into the files a live session "
        "leaves: transcript.jsonl/.txt/.srt/.vtt, and optionally a Markdown transcript and notes.\n\n"
        "Each FILE gets its own folder, named after it, next to it or in -o DIR. A bad file is reported in "
        "one line and the others go on; the exit code is 0 only when every file succeeded.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(p)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio or video files")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output-dir", type=Path, metavar="DIR",
                     help="put each file's folder here (default: next to the file)")
    out.add_argument("--format", default=",".join(DEFAULT_FORMATS), metavar="LIST",
                     help=f"comma-separated, from {','.join(FORMATS)} (default {','.join(DEFAULT_FORMATS)}; "
                     "md: a Markdown transcript with timestamps)")
    notes = p.add_argument_group("notes")
    notes.add_argument("--summarize", action="store_true",
                       help="write notes (summary.md) with the LLM, as `live summarize` does (needs an API key)")
    notes.add_argument("--slides", type=Path, metavar="DECK",
                       help="the lecture's slides (.pdf or .pptx) as context for --summarize: the notes cite "
                       "slide numbers and spell terms as the slides do")
    asr = p.add_argument_group("recognition")
    asr.add_argument("--engine", metavar="auto|sensevoice|whisper", help="default auto (as for `live run`)")
    asr.add_argument("--backend", metavar="auto|onnx|torch", help="SenseVoice runtime (default auto)")
    asr.add_argument("--model", "-m", metavar="FOLDER|HUB_ID", help="a local model folder or a hub id")
    asr.add_argument("--language", "-l", metavar="auto|zh|en|yue|ja|ko", help="spoken language (default auto)")
    asr.add_argument("--compute", metavar="cpu|cuda", help="where the model runs (default cpu)")
    asr.add_argument("--threads", type=int, metavar="N", help="recognition threads (default: all cores)")
    asr.add_argument("--batch-s", type=float, metavar="S", default=BatchOptions.max_batch_s,
                     help=f"longest decode batch of merged speech (default {BatchOptions.max_batch_s:g}; "
                     "0: decode each speech segment alone, as live captions do)")


SETTING_KEYS = ("engine", "backend", "model", "language", "compute", "threads")


@dataclass
class _Notes:
    """What --summarize needs: the LLM client and the slides' prompt block (None: no notes)."""

    client: LLMClient | None = None
    settings: LLMSettings | None = None
    context: str | None = None
    problem: str | None = None  # why notes cannot be written (said once, up front)


def transcribe_main(args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``live transcribe`` from parsed arguments; 0 when every file succeeded, 1 when one
    failed, 2 for a usage error (bad flag, slides that cannot be read, no model)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    progress = Progress(err)
    try:
        return _run(args, out, progress)
    except LiveError as exc:
        progress.finish()
        progress.message(f"live: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        progress.finish()
        progress.message("live: interrupted; the transcript so far is saved")
        return 130


def _run(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from live.config import load_settings

    formats = parse_formats(args.format)
    settings = load_settings({k: getattr(args, k, None) for k in SETTING_KEYS})
    batching = BatchOptions(max_batch_s=args.batch_s)
    vad = VadOptions(aggressiveness=settings.vad_aggressiveness, silence_ms=settings.silence_ms,
                     max_segment_s=settings.max_segment_s)
    if args.slides is not None and not args.summarize:
        raise ConfigError("--slides gives the notes their context: add --summarize (or leave --slides out)")
    notes = _prepare_notes(args, settings, progress) if args.summarize else None

    # Files that fail the cheap checks are reported now; the model loads only if one is left.
    paths: list[Path] = []
    failed = 0
    seen: set[Path] = set()
    for path in args.files:
        try:
            check_input(path)
        except InputError as exc:
            progress.message(f"live: error: {exc}")
            failed += 1
            continue
        key = path.resolve()
        if key in seen:
            progress.message(f"live: {path} is given twice; transcribing it once")
            continue
        seen.add(key)
        paths.append(path)
    if not paths:
        return 1

    held = _HeldWarnings(progress.message)
    logger = logging.getLogger("live")
    logger.addHandler(held)
    taken: set[Path] = set()
    try:
        engine, reason = _load_engine(settings, progress)
        progress.message(f"live: using {reason}")
        for path in paths:
            folder = output_folder(path, args.output_dir, taken)
            taken.add(folder)
            held.held.clear()
            if not _one_file(path, folder, engine, reason, formats, settings.language, vad, batching, notes,
                             progress, held, out):
                failed += 1
    finally:
        logger.removeHandler(held)
        _close_client(notes)
    if notes is not None and notes.problem:
        progress.message(f"live: no notes were written: {notes.problem}")
        failed = failed or len(paths)
    return 1 if failed else 0


def _one_file(path: Path, folder: Path, engine: Engine, reason: str, formats: tuple[str, ...], language: str,
              vad: VadOptions, batching: BatchOptions, notes: _Notes | None, progress: Progress,
              held: _HeldWarnings, out: TextIO) -> bool:
    """Transcribe one file, say how it went in one line; True when it fully succeeded."""
    try:
        result = transcribe_file(path, engine, folder, formats=formats, language=language, vad=vad,
                                 batching=batching, engine_label=reason,
                                 on_start=lambda stated: progress.start(path.name, stated),
                                 on_progress=progress.update)
    except LiveError as exc:
        progress.finish()
        progress.message(f"live: error: {_with_reason(str(exc), held.held)}")
        return False
    progress.finish()
    if held.held and result.error is None:  # decoding stopped early although the length looked right
        result.error = (f"{held.held[0]} (the file is truncated or damaged); {folder} holds the transcript "
                        "of the part before")
    ok = result.error is None
    if notes is not None and notes.client is not None:
        ok = _summarize(result, notes, progress) and ok
    if "jsonl" not in formats:
        (folder / TRANSCRIPT).unlink(missing_ok=True)
    if result.error:
        progress.message(f"live: error: {result.error}")
    else:
        rtf = f", RTF {result.rtf:.2f}" if result.audio_s else ""
        speech = {0: "no speech found", 1: "1 caption"}.get(result.captions, f"{result.captions} captions")
        progress.message(f"live: {path.name}: {speech} from {mmss(result.audio_s)} of audio in "
                         f"{mmss(result.wall_s)}{rtf} → {folder}")
    print(folder, file=out, flush=True)
    return ok


def _with_reason(message: str, held: list[str]) -> str:
    return f"{message} ({held[0]})" if held and held[0] not in message else message


def _load_engine(settings: Settings, progress: Progress) -> tuple[Engine, str]:
    from live.asr.loader import load_engine
    from live.session import check_model

    check_model(settings)
    return load_engine(settings.engine, model=settings.model, device=settings.compute, threads=settings.threads,
                       backend=settings.backend, on_status=lambda text: progress.message(f"live: {text}"))


def _prepare_notes(args: argparse.Namespace, settings: Settings, progress: Progress) -> _Notes:
    """Read the slides (a bad deck stops the command: it is a usage error) and find the API key (a
    missing key is said once; the transcripts are still written)."""
    from live.llm import LLMClient, LLMError, LLMSettings, key_hint, resolve_api_key

    notes = _Notes()
    if args.slides is not None:
        from live.slides import load_slides, slides_prompt_block

        deck = load_slides(args.slides)
        notes.context = slides_prompt_block(deck, SLIDES_CONTEXT_CHARS)
        progress.message(f"live: slides: {len(deck.slides)} from {args.slides}")
    llm_settings = LLMSettings.from_mapping(settings.llm)
    try:
        key = resolve_api_key(llm_settings)
    except LLMError as exc:
        key, notes.problem = None, str(exc)
    else:
        if key is None:
            notes.problem = key_hint(llm_settings)
    if notes.problem:
        progress.message(f"live: --summarize: {notes.problem}; transcribing without notes")
        return notes
    notes.settings = llm_settings
    notes.client = LLMClient(llm_settings, key)
    return notes


def _summarize(result: FileResult, notes: _Notes, progress: Progress) -> bool:
    from live.notes import summarize_session

    assert result.folder is not None and notes.client is not None and notes.settings is not None
    if not result.captions:
        progress.message(f"live: {result.path.name}: no speech, so no notes")
        return True
    try:
        result.notes = summarize_session(
            result.folder, notes.client, notes.settings,
            on_progress=lambda text: progress.message(f"live: {result.path.name}: notes: {text}"),
            context=notes.context,
        )
    except LiveError as exc:
        progress.message(f"live: error: {result.path}: notes not written: {exc}")
        return False
    return True


def _close_client(notes: _Notes | None) -> None:
    if notes is not None and notes.client is not None:
        notes.client.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m live.transcribe FILE...``: the command without the ``live`` front end."""
    parser = argparse.ArgumentParser(prog="live transcribe", description="Transcribe recordings and videos.")
    _add_arguments(parser)
    return transcribe_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
