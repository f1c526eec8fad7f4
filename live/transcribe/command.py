"""``live transcribe``: recordings and videos to the same files a live session leaves.

The engine loads once for all files. A bad file is reported in one line and the others go on.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from live.asr.base import Engine
from live.captions import BatchOptions
from live.errors import ConfigError, InputError, LiveError
from live.llm import LLMSettings
from live.transcribe.notes import FileNotes
from live.transcribe.job import FORMATS, check_input, output_folder, transcribe_file
from live.transcribe.progress import Progress, _HeldWarnings
from live.transcript import TRANSCRIPT
from live.timefmt import mmss

if TYPE_CHECKING:
    from live.config import Settings
    from live.vad import VadOptions
    from live.translate import Translator
    from live.session.speakers import FileSpeakers
    from live.session.vocabulary import CourseVocabulary

# --- the command ----------------------------------------------------------------------------------


def parse_formats(text: str) -> tuple[str, ...]:
    wanted = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise ConfigError(f"unknown --format {', '.join(unknown) or repr(text)}; choose from {','.join(FORMATS)}")
    return tuple(dict.fromkeys(wanted))


def transcribe_main(args: argparse.Namespace, settings: Settings, *, stdout: TextIO | None = None,
                    stderr: TextIO | None = None) -> int:
    """Run ``live transcribe`` from parsed arguments; 0 when every file succeeded, 1 when one
    failed, 2 for a usage error (bad flag, slides that cannot be read, no model)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    progress = Progress(err)
    try:
        return _run(args, settings, out, progress)
    except LiveError as exc:
        progress.finish()
        progress.message(f"live: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        progress.finish()
        progress.message("live: interrupted; the transcript so far is saved")
        return 130


def _run(args: argparse.Namespace, settings: Settings, out: TextIO, progress: Progress) -> int:
    formats = parse_formats(args.format)
    batching = BatchOptions(max_batch_s=args.batch_s)
    vad = settings.vad_options()
    notes = FileNotes.prepare(args.slides, settings, progress) if args.summarize else None
    if getattr(args, "server", None) and (settings.vocab is not None or settings.translate is not None):
        raise ConfigError("--vocab and --translate work on this machine's transcription, not yet through "
                          "--server: leave --server out to use them")
    language_help = _LanguageHelp.prepare(settings, args.slides, progress, remote=bool(getattr(args, "server", None)))

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

    if getattr(args, "server", None):  # on a `live serve`, through its OpenAI-shaped endpoint
        from live.transcribe.remote import run_remote

        return run_remote(args, paths, formats, settings.language, notes, progress, out) or (1 if failed else 0)
    held = _HeldWarnings(progress.message)
    logger = logging.getLogger("live")
    logger.addHandler(held)
    taken: set[Path] = set()
    try:
        engine, reason = _load_engine(settings, progress)
        if language_help.vocabulary is not None:
            reason = f"{reason} · {language_help.vocabulary.prepare(engine)}"
        progress.message(f"live: using {reason}")
        for path in paths:
            folder = output_folder(path, args.output_dir, taken)
            taken.add(folder)
            held.held.clear()
            if not _one_file(path, folder, engine, reason, formats, settings, vad, batching, notes,
                             progress, held, out, language_help):
                failed += 1
    finally:
        logger.removeHandler(held)
        if notes is not None:
            notes.close()
    if notes is not None and notes.problem:
        progress.message(f"live: no notes were written: {notes.problem}")
        failed = failed or len(paths)
    return 1 if failed else 0


def _one_file(path: Path, folder: Path, engine: Engine, reason: str, formats: tuple[str, ...], settings: Settings,
              vad: VadOptions, batching: BatchOptions, notes: FileNotes | None, progress: Progress,
              held: _HeldWarnings, out: TextIO, language_help: _LanguageHelp) -> bool:
    """Transcribe one file, say how it went in one line; True when it fully succeeded."""
    vocabulary = language_help.vocabulary
    translator = language_help.translator()
    try:
        result = transcribe_file(path, engine, folder, formats=formats, language=settings.language,
                                 script=settings.script, vad=vad, batching=batching, engine_label=reason,
                                 on_start=lambda stated: progress.start(path.name, stated),
                                 on_progress=progress.update,
                                 revise=vocabulary.revise if vocabulary is not None else None, translator=translator,
                                 speakers=language_help.speakers())
    except LiveError as exc:
        progress.finish()
        progress.message(f"live: error: {_with_reason(str(exc), held.held)}")
        return False
    finally:
        if translator is not None:
            translator.close()
    progress.finish()
    if translator is not None:
        stats = translator.stats
        progress.message(f"live: {path.name}: {stats.translated} of {result.captions} captions translated into "
                         f"{translator.target} ({stats.requests} requests)")
    if held.held and result.error is None:  # decoding stopped early although the length looked right
        result.error = (f"{held.held[0]} (the file is truncated or damaged); {folder} holds the transcript "
                        "of the part before")
    ok = result.error is None
    if notes is not None:
        ok = notes.summarize(result, progress) and ok
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


@dataclass
class _LanguageHelp:
    """The course's vocabulary (--vocab, --slides), the translation (--translate) and the speaker labels
    (--speakers) of every file."""

    vocabulary: CourseVocabulary | None = None
    target: str | None = None
    llm: LLMSettings = field(default_factory=LLMSettings)
    embed: Callable[[Any], Any] | None = None  # the voice encoder, when the speakers are labelled

    @classmethod
    def prepare(cls, settings: Settings, slides: Path | None, progress: Progress, *,
                remote: bool = False) -> _LanguageHelp:
        from live.session.vocabulary import CourseVocabulary

        vocabulary = CourseVocabulary.load(settings.vocab, slides)  # a bad file: one line, before the model loads
        embed = None
        if settings.speakers and not remote:
            from live.speakers import VoiceEncoder

            try:
                embed = VoiceEncoder.load(on_status=lambda text: progress.message(f"live: {text}")).embed_partials
            except LiveError as error:  # the transcript is worth having without them
                progress.message(f"live: speaker labels off: {error}")
        return cls(vocabulary, settings.translate, settings.llm, embed)

    def speakers(self) -> FileSpeakers | None:
        """Labels of their own for each file: who is the lecturer is decided file by file."""
        if self.embed is None:
            return None
        from live.session.speakers import FileSpeakers

        return FileSpeakers(self.embed)

    def translator(self) -> Translator | None:
        """A translator of its own for each file (its glossary starts from the course's terms)."""
        if self.target is None:
            return None
        from live.translate import FILE_OPTIONS, translator_for

        return translator_for(self.llm, self.target, options=FILE_OPTIONS,
                              terms=self.vocabulary.terms if self.vocabulary is not None else ())


def _with_reason(message: str, held: list[str]) -> str:
    return f"{message} ({held[0]})" if held and held[0] not in message else message


def _load_engine(settings: Settings, progress: Progress) -> tuple[Engine, str]:
    from live.asr.loader import load_engine
    from live.session import check_model

    check_model(settings)
    return load_engine(settings.engine, model=settings.model, device=settings.compute, threads=settings.threads,
                       backend=settings.backend, language=settings.language,
                       on_status=lambda text: progress.message(f"live: {text}"))
