"""One recording through the session core, as fast as it decodes: the same worker, VAD and captioner as
live captions, with a file source, partials off and closed segments merged into decode batches of up to
~30 s (``live.captions.BatchOptions``): SenseVoice costs ~0.6 s a call however short the audio, and its
real-time factor falls from 0.33 at 2 s to 0.12 at 30 s. A batch decodes to one caption spanning its
segments; the subtitle renderer splits it into cues. ``live transcribe`` and the server's REST endpoint
both run it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from live.asr.base import Engine
from live.audio import FileSource
from live.captions import BatchOptions, Caption, CaptionOptions
from live.errors import LiveError
from live.events import Finished, Status
from live.session.hooks import WorkerHooks
from live.session.worker import Worker
from live.vad import VadOptions

if TYPE_CHECKING:
    from live.session.speakers import FileSpeakers
    from live.transcript import SessionWriter
    from live.translate import Translator

READ_BLOCK_S = 1.0


class FileTranscription:
    """One file through the session core; iterating yields its final captions in order.

    The file streams through in blocks, so an hour-long lecture never sits in memory whole. With a
    ``writer`` each final is on disk before it is yielded. Figures for the report (audio length,
    decode time, batches) are filled in as it runs. A decode that fails raises LiveError at the end.
    ``revise`` corrects each final before it is saved (the vocabulary); a ``translator`` gets each
    final, and the worker awaits its translations before closing the folder; ``speakers`` keep decode
    batches to one voice each and label every final before the folder closes.
    """

    def __init__(self, path: Path, engine: Engine, *, language: str = "auto", vad: VadOptions | None = None,
                 batching: BatchOptions | None = None, on_progress: Callable[[float], None] | None = None,
                 writer: SessionWriter | None = None, on_notice: Callable[[str], None] | None = None,
                 script: str | None = None, revise: Callable[[Caption], Caption] | None = None,
                 translator: Translator | None = None, speakers: FileSpeakers | None = None) -> None:
        self.path = Path(path)
        self.engine = engine
        self.language = language
        self.script = script
        self.vad = vad or VadOptions()
        self.batching = batching or BatchOptions()
        self.on_progress = on_progress
        self.on_notice = on_notice
        self.writer = writer
        self.revise = revise
        self.translator = translator
        self.speakers = speakers
        self.audio_s = 0.0
        self.decode_s = 0.0
        self.batches = 0
        self.segments = 0
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
        source, self._source = self._source, None
        assert source is not None
        events: queue.SimpleQueue[object] = queue.SimpleQueue()
        engine = self.engine
        translator, speakers = self.translator, self.speakers

        def emit(event: object) -> None:
            if isinstance(event, Caption):  # on the worker's side, so the last finals are in before it settles
                for helper in (translator, speakers):
                    if helper is not None:
                        helper.add(event)
            events.put(event)

        batching = self.batching if speakers is None else replace(self.batching, voice_change=speakers.voice_change)
        worker = Worker(
            lambda: source, lambda _status: (engine, ""), emit, writer=self.writer, vad=self.vad,
            captions=CaptionOptions(partials=False, speculate_ms=0, script=self.script), batching=batching,
            language=self.language, stop_on_failure=True,
            hooks=WorkerHooks(self.revise, [h.settle for h in (translator, speakers) if h is not None],
                              hear=speakers.hear if speakers is not None else None),
        )
        if translator is not None:
            translator.connect(worker.hooks.append, notify=events.put)
        if speakers is not None:
            speakers.connect(worker.hooks.append)
        thread = threading.Thread(target=worker.run, name="live-transcribe", daemon=True)
        thread.start()
        finished: Finished | None = None
        try:
            while finished is None:
                event = events.get()
                if isinstance(event, Caption):
                    if event.kind == "final" and self.on_progress is not None:
                        self.on_progress(event.end)  # each batch done is progress, however fast
                    if event.kind == "final" and event.text.strip():
                        yield event
                elif isinstance(event, Status):
                    if self.on_progress is not None:  # what is read and captioned: speech still to decode is not
                        self.on_progress(max(0.0, event.clock - event.behind_s))
                elif isinstance(event, Finished):
                    finished = event
                elif self.on_notice is not None and getattr(event, "level", "") in ("warning", "error"):
                    self.on_notice(event.message)  # type: ignore[attr-defined]
        finally:
            worker.stop()  # the consumer stopped early (or the session ended): let the worker finish
            thread.join()
            self.audio_s = worker.segmenter.clock
            self.decode_s = worker.stats.decode_s
            self.batches = worker.captioner.final_decodes
            self.segments = worker.captioner.segments
        if self.on_progress is not None:
            self.on_progress(self.audio_s)
        if finished.error:
            raise LiveError(finished.error)
