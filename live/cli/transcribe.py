"""``live transcribe FILE...``: recordings and videos to the files a live session leaves."""

from __future__ import annotations

import argparse
from pathlib import Path

from live.captions import BatchOptions
from live.cli.options import (RECOGNITION_KEYS, VAD_KEYS, add_llm, add_recognition, add_server_client, add_slides,
                              add_translate, add_vad, llm_table, picked)

COMMANDS = {"transcribe": "transcribe recordings and videos into transcripts, subtitles and notes"}
SETTING_KEYS = (*RECOGNITION_KEYS, *VAD_KEYS, "translate")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transcribe", help=COMMANDS["transcribe"],
        description="Transcribe audio or video files (anything FFmpeg reads) into the files a live session "
        "leaves: transcript.jsonl/.txt/.srt/.vtt, and optionally a Markdown transcript and notes.\n\n"
        "Each FILE gets its own folder, named after it, next to it or in -o DIR. A bad file is reported in "
        "one line and the others go on; the exit code is 0 only when every file succeeded.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio or video files")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output-dir", type=Path, metavar="DIR",
                     help="put each file's folder here (default: next to the file)")
    out.add_argument("--format", default="txt,srt,vtt,jsonl", metavar="LIST",
                     help="comma-separated, from txt,srt,vtt,jsonl,md (default txt,srt,vtt,jsonl; "
                     "md: a Markdown transcript with timestamps)")
    asr = add_recognition(p)
    asr.add_argument("--batch-s", type=float, metavar="S", default=BatchOptions.max_batch_s,
                     help=f"longest decode batch of merged speech (default {BatchOptions.max_batch_s:g}; "
                     "0: decode each speech segment alone, as live captions do)")
    add_vad(p)
    notes = p.add_argument_group("notes and translation (any OpenAI-compatible API; the key from the environment)")
    notes.add_argument("--summarize", action="store_true",
                       help="write notes (summary.md) with the LLM, as `live summarize` does (needs an API key)")
    add_slides(notes, "the lecture's slides (.pdf or .pptx): their terms join the vocabulary (--vocab), and with "
               "--summarize the notes cite slide numbers and spell terms as the slides do")
    add_translate(notes, "translate each caption into LANG (zh, en, ja, ...) with the LLM: translation lines in "
                  "transcript.jsonl and transcript.LANG.srt/.vtt (needs an API key)")
    add_llm(notes)
    add_server_client(p, "transcribe on a `live serve` (http://HOST:14612) instead of here")
    p.set_defaults(func=transcribe)


def transcribe(args: argparse.Namespace) -> int:
    from live.config import load_settings
    from live.transcribe import transcribe_main

    settings = load_settings({**picked(args, SETTING_KEYS), "llm": llm_table(args)})
    return transcribe_main(args, settings)
