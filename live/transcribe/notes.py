"""``--summarize`` for files: the LLM client and the slides' block, made once for every file, and each
file's notes written from its transcript (local or server-made alike)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from live.errors import LiveError
from live.transcribe.progress import Progress

if TYPE_CHECKING:
    from live.config import Settings
    from live.llm import LLMClient, LLMSettings
    from live.transcribe.job import FileResult

SLIDES_CONTEXT_CHARS = 12_000


@dataclass
class FileNotes:
    """What --summarize needs: the LLM client and the slides' prompt block (no client: no notes)."""

    client: LLMClient | None = None
    settings: LLMSettings | None = None
    context: str | None = None
    problem: str | None = None  # why notes cannot be written (said once, up front)

    @classmethod
    def prepare(cls, slides: Path | None, settings: Settings, progress: Progress) -> FileNotes:
        """Read the slides (a bad deck stops the command: it is a usage error) and find the API key (a
        missing key is said once; the transcripts are still written)."""
        from live.llm import LLMClient, LLMError, key_hint, resolve_api_key

        notes = cls()
        if slides is not None:
            from live.slides import read_deck, slides_prompt_block

            deck = read_deck(slides)  # parsed once for the notes and the vocabulary
            notes.context = slides_prompt_block(deck, SLIDES_CONTEXT_CHARS)
            progress.message(f"live: slides: {len(deck.slides)} from {slides}")
        llm_settings = settings.llm
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

    def summarize(self, result: FileResult, progress: Progress) -> bool:
        """Write ``result``'s notes beside its transcript; False (said in one line) when they failed."""
        if self.client is None or self.settings is None or result.folder is None:
            return True
        from live.notes import summarize_session

        if not result.captions:
            progress.message(f"live: {result.path.name}: no speech, so no notes")
            return True
        try:
            result.notes = summarize_session(
                result.folder, self.client, self.settings,
                on_progress=lambda text: progress.message(f"live: {result.path.name}: notes: {text}"),
                context=self.context,
            )
        except LiveError as exc:
            progress.message(f"live: error: {result.path}: notes not written: {exc}")
            return False
        return True

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
