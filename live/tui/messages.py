"""Messages from the pipeline's thread to the app (posted with the thread-safe ``post_message``)."""

from __future__ import annotations

from textual.message import Message

from live.captions import Caption
from live.events import Status


class PipelineEvent(Message):
    """Wraps one event of the pipeline's sink (Caption, Status, EngineState, Notice, Finished)."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # High-rate updates coalesce: a newer status replaces an older one still queued, a newer
        # partial replaces an older partial. Finals and everything else are never replaced.
        if not isinstance(message, PipelineEvent):
            return False
        mine, theirs = self.event, message.event
        if isinstance(mine, Status) and isinstance(theirs, Status):
            return True
        return (
            isinstance(mine, Caption) and isinstance(theirs, Caption)
            and mine.kind == theirs.kind == "partial"
        )
