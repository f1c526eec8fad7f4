"""The ``live`` command.

    live [run] [options]         caption the microphone (or --input FILE, --demo) in the TUI
    live devices                 list input devices
    live summarize SESSION_DIR   rebuild a saved session's notes in one pass
    live transcribe FILE...      recordings and videos to transcripts, subtitles and notes
    live bench [--compare ...]   measure latency, speed, CPU and memory on a replayed recording
    live search WORDS...         search the captions of every saved session
    live sessions                list saved sessions, newest first
    live models prepare          download and build the speech model ahead of time
    live serve                   the classroom recognition server (`live run --server URL` streams to it)
    live keys create|list|revoke API keys for live serve

Errors a user can fix print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

from live import __version__
from live.errors import LiveError

COMMANDS = ("run", "devices", "summarize", "transcribe", "bench", "search", "sessions", "models", "serve",
            "keys")

EPILOG = """\
settings come from, later winning: the config file ($LIVE_CONFIG or ~/.config/live/config.toml, keys
named like the options: engine = "whisper", silence_ms = 600, and an [llm] table), LIVE_* environment
variables (LIVE_ENGINE, LIVE_MODEL, LIVE_LANGUAGE, LIVE_DEVICE, LIVE_SESSION_DIR, ...), then these flags.
The LLM key comes from LIVE_LLM_API_KEY or DEEPSEEK_API_KEY, or the file named by llm.api_key_file.

headless JSON lines (--headless --json): {"type": "partial"|"final", "start", "end", "text", "language",
"emotion", "events", "emitted", "index", "speech_end"} (+ "corrections" where the vocabulary fixed a word);
times are seconds of audio since the stream began, and emitted - speech_end is the caption's latency from
the end of the words. With --translate: {"type": "translation", "index", "lang", "text"} after its final.

keys in the TUI: p pause/resume, b bookmark, B bookmark with a note, / search, s notes so far, a ask,
! explain the last minute, ? help, q quit (saves everything and prints where).
"""


def _run_parser(sub: argparse._SubParsersAction | None = None) -> argparse.ArgumentParser:
    kwargs = dict(
        prog="live [run]",
        description="Caption a lecture live: microphone (or a file) → VAD → SenseVoice/Whisper → terminal.\n\n"
        "other commands: live devices (list microphones), live summarize SESSION_DIR (rebuild notes),\n"
        "live transcribe FILE... (recordings and videos to transcripts and subtitles),\n"
        "live bench (latency, speed, CPU and memory; see live bench --help)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p = sub.add_parser("run", help="caption live (the default command)", **kwargs) if sub else argparse.ArgumentParser(**kwargs)
    src = p.add_argument_group("input")
    src.add_argument("--input", "-i", type=Path, metavar="FILE",
                     help="replay an audio or video file in real time instead of the microphone")
    src.add_argument("--fast", action="store_true", default=None, help="with --input: as fast as the machine can")
    src.add_argument("--demo", nargs="?", const="en", choices=("en", "zh"), metavar="en|zh",
                     help="replay a lecture clip that ships with live: en (default) or zh (Mandarin)")
    src.add_argument("--device", "-d", metavar="INDEX|NAME", help="microphone (see `live devices`); default: the system's; "
                     "'monitor': what this computer plays (an online lecture)")
    src.add_argument("--mix", nargs="?", const="monitor", metavar="SYSTEM_AUDIO",
                     help="the microphone and what this computer plays, together (default: the speakers' monitor)")
    src.add_argument("--resume", nargs="?", const="", metavar="SESSION_DIR",
                     help="continue a saved session (default: the latest): same folder, its clock, audio and notes go on")
    src.add_argument("--start", type=float, metavar="SECONDS",
                     help="with --input: begin this far into the file (e.g. to continue a replay that stopped)")
    asr = p.add_argument_group("recognition")
    asr.add_argument("--engine", metavar="auto|sensevoice|whisper",
                     help="auto (default): SenseVoice if present or downloadable, else Whisper")
    asr.add_argument("--backend", metavar="auto|onnx|torch", help="SenseVoice runtime (default auto: onnx when available)")
    asr.add_argument("--model", "-m", metavar="FOLDER|HUB_ID", help="a local model folder or a hub id (iic/SenseVoiceSmall)")
    asr.add_argument("--language", "-l", metavar="auto|zh|en|yue|ja|ko", help="spoken language (default auto)")
    asr.add_argument("--script", metavar="simplified|traditional|traditional-hk",
                     help="Chinese characters (default: Mandarin simplified, Cantonese as recognized)")
    asr.add_argument("--compute", metavar="cpu|cuda", help="where the model runs (default cpu)")
    asr.add_argument("--threads", type=int, metavar="N", help="recognition threads (default: all cores)")
    asr.add_argument("--vocab", type=Path, metavar="FILE",
                     help="the course's terms, one a line (optional weight: 'Laplacian, 2'); with the slides' "
                     "terms they bias Whisper and correct near-misses in every caption")
    vad = p.add_argument_group("voice activity detection")
    vad.add_argument("--vad-aggressiveness", type=int, metavar="0-3", help="webrtcvad aggressiveness (default 2)")
    vad.add_argument("--silence-ms", type=int, metavar="MS", help="silence that ends a caption (default 500)")
    vad.add_argument("--max-segment-s", type=float, metavar="S", help="longest caption segment (default 15)")
    notes = p.add_argument_group("notes (any OpenAI-compatible API; the key comes from the environment)")
    notes.add_argument("--slides", type=Path, metavar="DECK",
                       help="the lecture's slides (.pdf or .pptx): context for the notes, which cite slide numbers")
    notes.add_argument("--translate", metavar="LANG",
                       help="translate each caption into LANG (zh, en, ja, ...) with the LLM, shown under it and "
                       "saved as transcript.LANG.srt/.vtt (llm.translate_model picks another model)")
    notes.add_argument("--llm-base-url", metavar="URL", help="default https://api.deepseek.com")
    notes.add_argument("--llm-model", metavar="NAME", help="default deepseek-flash")
    notes.add_argument("--notes-language", metavar="LANG", help="language of the notes (default: the lecture's)")
    notes.add_argument("--notes-every", type=float, metavar="MIN",
                       help="rolling notes update every MIN minutes (default 5; 0 turns them off)")
    remote = p.add_argument_group("server (recognize on a `live serve` machine; audio is still saved here)")
    remote.add_argument("--server", metavar="URL", help="ws://host:14612 or wss://host:14612 (also LIVE_SERVER)")
    remote.add_argument("--api-key-file", type=Path, metavar="FILE",
                        help="file holding the server's API key, chmod 600 (else LIVE_SERVER_API_KEY)")
    out = p.add_argument_group("output")
    out.add_argument("--session-dir", type=Path, metavar="DIR",
                     help="where session folders go (default ~/.local/share/live/sessions)")
    out.add_argument("--no-audio", dest="record_audio", action="store_false", default=None,
                     help="do not keep the session's audio")
    out.add_argument("--headless", action="store_true", default=None, help="print captions to stdout, no TUI")
    out.add_argument("--json", action="store_true", default=None, help="with --headless: JSON lines")
    out.add_argument("--partials", action="store_true", default=None, help="with --headless --json: include partials")
    out.add_argument("--stats-file", type=Path, help=argparse.SUPPRESS)  # for `live bench`
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="live",
        description="Real-time lecture captions in the terminal, with rolling notes from an LLM.",
        epilog="`live` alone is `live run`; `live run --help` lists its options.\n\n" + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"live {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _run_parser(sub)
    sub.add_parser("devices", help="list input devices")
    from live.bench import build_parser as bench_parser
    from live.library.commands import add_library_parsers
    from live.notes.summarize import add_summarize_parser
    from live.serve import add_serve_parsers

    add_summarize_parser(sub)
    from live.transcribe import add_transcribe_parser

    add_transcribe_parser(sub)
    add_serve_parsers(sub)
    bench_parser(sub)
    add_library_parsers(sub)
    from live.models.prepare import add_models_parser

    add_models_parser(sub)
    return parser


RUN_KEYS = ("input", "fast", "demo", "device", "mix", "engine", "backend", "model", "language", "script",
            "compute", "threads", "vad_aggressiveness", "silence_ms", "max_segment_s", "session_dir", "record_audio",
            "headless", "json", "partials", "slides", "start", "server", "api_key_file", "vocab", "translate")


LLM_FLAGS = {"llm_base_url": "base_url", "llm_model": "model", "notes_language": "notes_language",
             "notes_every": "interval_minutes"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `live` alone is `live run`, and so is its --help: the options a newcomer needs are the run options.
    if not argv or (argv[0] not in COMMANDS and argv[0] != "--version"):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "devices":
            return _devices()
        if args.command == "summarize":
            from live.notes.summarize import summarize_command

            return summarize_command(args)
        if args.command == "transcribe":
            from live.transcribe import transcribe_main

            return transcribe_main(args)
        if args.command == "bench":
            from live.bench import bench_main

            return bench_main(args)
        if args.command == "models":
            from live.models.prepare import models_main

            return models_main(args)
        if args.command in ("serve", "keys"):
            from live.serve import keys_main, serve_main

            return serve_main(args) if args.command == "serve" else keys_main(args)
        if args.command in ("search", "sessions"):
            from live.library.commands import library_main

            return library_main(args)
        llm = {key: getattr(args, flag) for flag, key in LLM_FLAGS.items() if getattr(args, flag) is not None}
        return _run({k: getattr(args, k) for k in RUN_KEYS}, llm, stats_file=args.stats_file, resume=args.resume)
    except LiveError as exc:
        print(f"live: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _devices() -> int:
    from live.audio import install_hint, list_devices, list_system_inputs

    devices, system = list_devices(), list_system_inputs()
    if not devices:
        print("no input devices found (no sound card?); use --input FILE to caption a recording", file=sys.stderr)
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.channels} ch, {d.default_samplerate:.0f} Hz)")
    print("\nsystem audio (what this computer plays: --device monitor or a name below; --mix adds it to the mic):")
    for s in system:
        print(f"{'*' if s.is_default else ' '}      {s.name}" + (f"  ({s.description})" if s.description != s.name else ""))
    if not system:
        print(f"  none: {install_hint()}")
    return 0 if devices or system else 1


def _run(flags: dict, llm: dict | None = None, stats_file: Path | None = None, resume: str | None = None) -> int:
    from live.config import load_settings
    from live.llm import LLMSettings

    settings = load_settings(flags)
    if resume is not None:  # --resume DIR names the session, so --session-dir does not apply
        from live.session.builder import latest_session

        settings.resume = Path(resume).expanduser() if resume else latest_session(settings.session_dir)
    if settings.start and settings.input is None:
        raise LiveError("--start goes with --input FILE (a microphone cannot start later)")
    settings.llm = {**settings.llm, **(llm or {})}
    LLMSettings.from_mapping(settings.llm)  # a bad [llm] table is a one-line error before the UI
    if settings.slides is not None:
        from live.slides import slides_context

        slides_context(settings.slides)  # unreadable slides: one line now, not after the UI is up
    if settings.vocab is not None:
        from live.vocab import load_vocab

        load_vocab(settings.vocab)  # a bad --vocab file: one line now
    if settings.input is not None and settings.demo:
        raise LiveError("--input and --demo both name an input; pick one")
    if settings.headless:
        return _run_headless(settings, stats_file)
    from live.tui.app import create_app

    app = create_app(settings)
    with _stderr_to_log(app.log_path):
        app.run()
    if app.error:
        print(f"live: error: {app.error}", file=sys.stderr)
    if app.session_folder or app.folder:
        print(f"session saved in {app.session_folder or app.folder}")
    return app.exit_code


@contextlib.contextmanager
def _stderr_to_log(path: Path | None):
    """Keep native stderr (PortAudio, ALSA, funasr's prints) off the TUI: it goes to the session's log.

    Textual draws on ``sys.__stderr__``, so it gets a file object on a copy of the terminal's fd 2
    while fd 2 itself points at the log (the session adds its own handler for live's logger).
    """
    if path is None:
        yield
        return
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
    saved_dunder = sys.__stderr__
    with open(path, "a", encoding="utf-8") as log_file:
        os.dup2(log_file.fileno(), 2)
        sys.__stderr__ = terminal
        try:
            yield
        finally:
            sys.__stderr__ = saved_dunder
            os.dup2(terminal.fileno(), 2)
            terminal.close()


def _run_headless(settings, stats_file: Path | None = None) -> int:
    from live.headless import HeadlessPrinter
    from live.session import build_session

    printer = HeadlessPrinter(as_json=settings.json, partials=settings.partials)
    session = build_session(settings, printer, notes="when-key")
    if session.folder is not None:
        printer.summary_path = str(session.folder / "summary.md")

    # The first Ctrl-C (or SIGTERM) ends the session cleanly: the open segment is decoded and
    # everything written. A second Ctrl-C stops at once; what was final is on disk already.
    def stop(signum, frame):
        if session.stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt
        print("live: finishing (Ctrl-C again to stop at once)…", file=sys.stderr, flush=True)
        session.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        session.run()
        error = printer.finished.error if printer.finished else None
        if not error:
            session.finish_notes(timeout=60)  # the notes take in the last finals
    finally:
        session.close()
    if stats_file is not None:
        import json

        stats_file.write_text(json.dumps(session.stats.to_json()), encoding="utf-8")
    if error:
        print(f"live: error: {error}", file=sys.stderr)
    if session.folder is not None:
        print(f"live: session saved in {session.folder}", file=sys.stderr)
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
