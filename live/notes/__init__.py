"""Lecture notes from an LLM: rolling refinement, "explain that", questions, and offline summaries.

Only final captions ever reach the model (``finals``). ``keeper`` keeps the rolling notes and the
session's files, ``conversation`` the questions, ``service`` runs both on one worker thread for the
UI, ``summarize`` rebuilds the notes of a saved session; ``prompts`` are the texts sent. Everything
here is UI-agnostic: the TUI drives it through ``NotesService`` and shows ``NotesEvent``s.
"""

from live.notes.conversation import Conversation, Turn
from live.notes.finals import (
    CaptionLike,
    Final,
    chunk_finals,
    format_finals,
    span,
)
from live.notes.keeper import (
    HISTORY_DIR,
    QA,
    RETRY_AFTER_FAILURE_S,
    SUMMARY,
    ClientSource,
    ContextSource,
    NotesKeeper,
    NothingYet,
    OnToken,
    UpdateStats,
    write_notes,
)
from live.notes.prompts import (
    PROMPT_NAMES,
    REQUIRED,
    Prompts,
    clean_answer,
    language_rule,
)
from live.notes.service import EventKind, NotesEvent, NotesService, RequestKind
from live.notes.summarize import summarize_main, summarize_session

__all__ = [
    "HISTORY_DIR", "PROMPT_NAMES", "QA", "REQUIRED", "RETRY_AFTER_FAILURE_S", "SUMMARY",
    "CaptionLike", "ClientSource", "ContextSource", "Conversation", "EventKind", "Final", "NotesEvent",
    "NotesKeeper", "NotesService", "NothingYet", "OnToken", "Prompts", "RequestKind", "Turn", "UpdateStats",
    "chunk_finals", "clean_answer", "format_finals", "language_rule", "span",
    "summarize_main", "summarize_session", "write_notes",
]
