"""``live transcribe``: recordings and videos to the same files a live session leaves.

The engine loads once for all files. A bad file is reported in one line and the others go on.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from live.asr.base import Engine
from live.captions import BatchOptions
from live.errors import ConfigError, InputError, LiveError
from live.transcribe.notes import FileNotes
from live.transcribe.job import DEFAULT_FORMATS, FORMATS, check_input, output_folder, transcribe_file
from live.transcribe.progress import Progress, _HeldWarnings
from live.transcript import TRANSCRIPT
from live.timefmt import mmss
from live.vad import VadOptions

if TYPE_CHECKING:
    from live.config import Settings
    from live.translate import Translator
    from live.session.vocabulary import CourseVocabulary

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
                       help="the lecture's slides (.pdf or .pptx): their terms join the vocabulary (--vocab), and "
                       "with --summarize the notes cite slide numbers and spell terms as the slides do")
    notes.add_argument("--translate", metavar="LANG",
                       help="translate each caption into LANG (zh, en, ja, ...) with the LLM: translation lines in "
                       "transcript.jsonl and transcript.LANG.srt/.vtt (needs an API key)")
    asr = p.add_argument_group("recognition")
    asr.add_argument("--engine", metavar="auto|sensevoice|whisper", help="default auto (as for `live run`)")
    asr.add_argument("--backend", metavar="auto|onnx|torch", help="SenseVoice runtime (default auto)")
    asr.add_argument("--model", "-m", metavar="FOLDER|HUB_ID", help="a local model folder or a hub id")
    asr.add_argument("--language", "-l", metavar="auto|zh|en|yue|ja|ko", help="spoken language (default auto)")
    asr.add_argument("--script", metavar="simplified|traditional|traditional-hk",
                     help="Chinese characters (default: Mandarin simplified, Cantonese as recognized)")
    asr.add_argument("--compute", metavar="cpu|cuda", help="where the model runs (default cpu)")
    asr.add_argument("--threads", type=int, metavar="N", help="recognition threads (default: all cores)")
    asr.add_argument("--vocab", type=Path, metavar="FILE",
                     help="the course's terms, one a line: they bias Whisper and correct near-misses in each caption")
    remote = p.add_argument_group("server")
    remote.add_argument("--server", metavar="URL", help="transcribe on a `live serve` (http://HOST:14612) instead "
                        "of here; its key from LIVE_SERVER_API_KEY or --api-key-file")
    remote.add_argument("--api-key-file", type=Path, metavar="FILE", help="file holding the server's API key (chmod 600)")
    asr.add_argument("--batch-s", type=float, metavar="S", default=BatchOptions.max_batch_s,
                     help=f"longest decode batch of merged speech (default {BatchOptions.max_batch_s:g}; "
                     "0: decode each speech segment alone, as live captions do)")


SETTING_KEYS = ("engine", "backend", "model", "language", "script", "compute", "threads", "vocab", "translate")


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
    notes = FileNotes.prepare(args.slides, settings, progress) if args.summarize else None
    if getattr(args, "server", None) and (settings.vocab is not None or settings.translate is not None):
        raise ConfigError("--vocab and --translate work on this machine's transcription, not yet through "
                          "--server: leave --server out to use them")
    language_help = _LanguageHelp.prepare(settings, args.slides, progress)

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
                                 revise=vocabulary.revise if vocabulary is not None else None, translator=translator)
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
    """The course's vocabulary (--vocab, --slides) and the translation (--translate) of every file."""

    vocabulary: CourseVocabulary | None = None
    target: str | None = None
    llm: dict | None = None

    @classmethod
    def prepare(cls, settings: Settings, slides: Path | None, progress: Progress) -> _LanguageHelp:
        from live.session.vocabulary import CourseVocabulary

        vocabulary = CourseVocabulary.load(settings.vocab, slides)  # a bad file: one line, before the model loads
        if settings.translate is not None:
            from live.llm import LLMSettings

            LLMSettings.from_mapping(settings.llm)  # a bad [llm] table: now
        return cls(vocabulary, settings.translate, settings.llm)

    def translator(self) -> Translator | None:
        """A translator of its own for each file (its glossary starts from the course's terms)."""
        if self.target is None:
            return None
        from live.translate import FILE_OPTIONS, translator_for

        return translator_for(self.llm or {}, self.target, options=FILE_OPTIONS,
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


def main(argv: list[str] | None = None) -> int:
    """``python -m live.transcribe FILE...``: the command without the ``live`` front end."""
    parser = argparse.ArgumentParser(prog="live transcribe", description="Transcribe recordings and videos.")
    _add_arguments(parser)
    return transcribe_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
