"""``live run`` (and ``live`` alone): caption live in the TUI, or headless on stdout."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from live.cli.options import (RECOGNITION_KEYS, VAD_KEYS, add_llm, add_recognition, add_server_client, add_slides,
                              add_tls, add_translate, add_vad, llm_table, picked)
from live.errors import LiveError

COMMANDS = {"run": "caption live (the default command)"}
DESCRIPTION = "Caption a lecture live: microphone (or a file) → VAD → SenseVoice/Whisper → terminal."
RUN_KEYS = (*RECOGNITION_KEYS, *VAD_KEYS, "input", "fast", "demo", "device", "mix", "session_dir", "record_audio",
            "headless", "json", "partials", "slides", "start", "server", "api_key_file", "translate", "share",
            "share_host", "share_port", "share_languages", "share_title", "tls_cert", "tls_key", "insecure")

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
! explain the last minute, v the room's QR code and link (--share), V a new room code, ? help, q quit
(saves everything and prints where).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help=COMMANDS["run"], prog="live [run]", description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
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
    add_recognition(p)
    add_vad(p)
    notes = p.add_argument_group("notes (any OpenAI-compatible API; the key comes from the environment)")
    add_slides(notes, "the lecture's slides (.pdf or .pptx): context for the notes, which cite slide numbers")
    add_translate(notes, "translate each caption into LANG (zh, en, ja, ...) with the LLM, shown under it and "
                  "saved as transcript.LANG.srt/.vtt (llm.translate_model picks another model)")
    add_llm(notes, every=True)
    add_server_client(p, "ws://host:14612 or wss://host:14612 (also LIVE_SERVER); audio is still saved here")
    room = p.add_argument_group("share (the captions on every phone and the projector: a page to open, no app)")
    room.add_argument("--share", action="store_true", default=None,
                      help="serve the captions as a room: prints its link, a short code and a QR code (v in the TUI); "
                      "with --server the room is on that server")
    room.add_argument("--share-host", metavar="ADDR",
                      help="listen on this address (default 127.0.0.1: this machine only; the lecture hall: the "
                      "machine's LAN address, with --tls-cert/--tls-key or --insecure)")
    room.add_argument("--share-port", type=int, metavar="N", help="port (default 14613; 0: any free one)")
    room.add_argument("--share-languages", metavar="LANGS",
                      help="languages viewers may choose, e.g. zh,es: each translated once here by the LLM")
    room.add_argument("--share-title", metavar="TEXT", help="the page's heading (default \"Live captions\")")
    add_tls(room, "the room's page")
    out = p.add_argument_group("output")
    out.add_argument("--session-dir", type=Path, metavar="DIR",
                     help="where session folders go (default ~/.local/share/live/sessions)")
    out.add_argument("--no-audio", dest="record_audio", action="store_false", default=None,
                     help="do not keep the session's audio")
    out.add_argument("--headless", action="store_true", default=None, help="print captions to stdout, no TUI")
    out.add_argument("--json", action="store_true", default=None, help="with --headless: JSON lines")
    out.add_argument("--partials", action="store_true", default=None, help="with --headless --json: include partials")
    out.add_argument("--stats-file", type=Path, help=argparse.SUPPRESS)  # for `live bench`
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return _run({**picked(args, RUN_KEYS), "llm": llm_table(args)}, stats_file=args.stats_file, resume=args.resume)


def _run(flags: dict, stats_file: Path | None = None, resume: str | None = None) -> int:
    from live.config import load_settings

    settings = load_settings(flags)  # a bad [llm] table too: one line before the UI
    if resume is not None:  # --resume DIR names the session, so --session-dir does not apply
        from live.session.builder import latest_session

        settings.resume = Path(resume).expanduser() if resume else latest_session(settings.session_dir)
    if settings.start and settings.input is None:
        raise LiveError("--start goes with --input FILE (a microphone cannot start later)")
    if settings.slides is not None:
        from live.slides import slides_context

        slides_context(settings.slides)  # unreadable slides: one line now, not after the UI is up
    if settings.vocab is not None:
        from live.vocab import load_vocab

        load_vocab(settings.vocab)  # a bad --vocab file: one line now
    if settings.input is not None and settings.demo:
        raise LiveError("--input and --demo both name an input; pick one")
    if settings.share:
        from live.room.setup import check_share

        check_share(settings)  # a bad address, port or TLS pair: one line before the UI
    if settings.headless:
        from live.headless import run_headless

        return run_headless(settings, stats_file)
    from live.tui.app import create_app

    app = create_app(settings)
    with _stderr_to_log(app.log_path):
        app.run()
    if app.error:
        print(f"live: error: {app.error}", file=sys.stderr)
    folder = app.session_folder if app.finished else app.folder  # none: a run that never started keeps none
    if folder:
        print(f"session saved in {folder}")
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
