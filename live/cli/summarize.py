"""``live summarize SESSION_DIR``: a saved session's notes rebuilt in one pass, with the LLM options of
``live run``, so any provider can summarize any session."""

from __future__ import annotations

import argparse
from pathlib import Path

from live.cli.options import add_llm, add_slides, llm_table

COMMANDS = {"summarize": "rebuild a saved session's notes in one pass"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summarize", help=COMMANDS["summarize"],
                       description="Rebuild a saved session's notes (summary.md) from its transcript, bookmarks "
                       "included. The options are those of `live run`; unset ones come from the config file and "
                       "LIVE_* variables; the key from LIVE_LLM_API_KEY or DEEPSEEK_API_KEY.")
    p.add_argument("session", type=Path, metavar="SESSION_DIR")
    notes = p.add_argument_group("notes")
    add_slides(notes, "the lecture's slides (.pdf or .pptx): context for the notes, which cite slide numbers")
    add_llm(notes)
    p.set_defaults(func=summarize)


def summarize(args: argparse.Namespace) -> int:
    """``live summarize`` from its parsed options (a bad option or deck raises a LiveError: one line)."""
    from live.config import load_settings
    from live.notes import summarize_main
    from live.slides import slides_context

    settings = load_settings({"slides": args.slides, "llm": llm_table(args)})
    return summarize_main(args.session, settings.llm, context=slides_context(settings.slides))
