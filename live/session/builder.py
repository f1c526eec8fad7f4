"""One session builder for every front end: the TUI, headless mode, file transcription, the server.

``build_session`` turns Settings into a ready ``Session``: source, engine, segmenter, captioner,
writer, notes, the course's vocabulary, the translator and the speaker labels. Its events reach the
front end through one callback, and every final is teed to the notes keeper, the translator and the
speaker labels on the worker's side of that callback, so no front end wires them itself.
Tests pass their own ``open_source`` or ``load_engine``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from live import __version__
from live.audio import AudioSource, FileSource, input_factory
from live.captions import Caption
from live.config import Settings
from live.errors import SessionError
from live.events import Marker, SpeakerLabel
from live.session.autolang import AutoLanguage
from live.session.hooks import WorkerHooks
from live.session.loading import EngineLoader, StatusCallback
from live.session.options import NotesMode, SessionOptions
from live.timefmt import mmss
from live.session.worker import Worker
from live.transcript import SessionWriter, read_transcript, resume_point

if TYPE_CHECKING:
    from live.notes import NotesService
    from live.session.speakers import SpeakerService
    from live.translate import TranslateOptions, Translator
    from live.session.vocabulary import CourseVocabulary

log = logging.getLogger("live.session")

Sink = Callable[[object], None]


def demo_clip(language: str = "en") -> Path:
    """A short real lecture clip that ships with the package: "en" or "zh" (see live/data/SOURCES.md)."""
    name = "demo.flac" if language == "en" else f"demo-{language}.flac"
    return Path(str(resources.files("live") / "data" / name))


def source_factory(settings: Settings) -> Callable[[], AudioSource]:
    """Check the input now (a clear error before any UI), open it later in the worker."""
    path = demo_clip(settings.demo) if settings.demo else settings.input
    if path is not None:
        probe = FileSource(path, realtime=False)
        probe.start()  # decodes the first block: a corrupt or audio-less file fails here, in one line
        probe.stop()
        realtime, start = not settings.fast, settings.start
        return lambda: FileSource(path, realtime=realtime, start_s=start)
    # A microphone, the computer's own audio (--device monitor), or both (--mix): checked now, before any UI.
    return input_factory(settings.device, settings.mix)


def check_model(settings: Settings) -> None:
    """A --model folder that cannot be SenseVoice fails now, not after the UI is up."""
    if settings.model and settings.engine in ("auto", "sensevoice") and Path(settings.model).expanduser().exists():
        from live.models import check_sensevoice_folder, is_whisper_folder

        folder = Path(settings.model).expanduser()
        if settings.engine == "auto" and is_whisper_folder(folder):
            return  # auto runs a Whisper folder with Whisper
        check_sensevoice_folder(folder)


def faster_engine(settings: Settings) -> Callable[..., EngineLoader | None]:
    """For the lag governor: a faster engine for the running one and the session language, if any."""
    def faster(current, language: str | None) -> EngineLoader | None:
        from live.asr.loader import faster_engine as find

        return find(current, language, device=settings.compute, threads=settings.threads)

    return faster


def engine_loader(settings: Settings) -> EngineLoader:
    def load(on_status: StatusCallback):
        from live.asr.loader import load_engine

        return load_engine(
            settings.engine, model=settings.model, device=settings.compute, threads=settings.threads,
            backend=settings.backend, language=settings.language, on_status=on_status,
            interim=True,  # captions before an ONNX build ends
        )

    return load


class Session:
    """A built session: its worker, its folder, its notes. Commands are safe from any thread."""

    def __init__(self, worker: Worker, writer: SessionWriter | None, notes: NotesService | None,
                 translator: Translator | None = None, vocabulary: CourseVocabulary | None = None,
                 speakers: SpeakerService | None = None) -> None:
        self.worker = worker
        self.writer = writer
        self.notes = notes
        self.translator = translator
        self.vocabulary = vocabulary
        self.speakers = speakers
        self.folder: Path | None = writer.folder if writer is not None else None
        self._thread: threading.Thread | None = None
        self._log_handler: logging.Handler | None = None

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Run the session in this thread until it ends (end of input, ``stop``, or a failure)."""
        self._start_log()
        self.worker.run()

    def start(self) -> threading.Thread:
        """Run the session in a thread of its own (the TUI's way)."""
        self._thread = threading.Thread(target=self.run, name="live-session", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def enroll_lecturer(self) -> bool:
        """The L key: the voice heard in the last seconds is the lecturer's. False when labels are off."""
        return self.speakers.enroll() if self.speakers is not None else False

    def finish_notes(self, timeout: float) -> bool:
        """Bring the notes up to date with the last finals (bounded wait); True when they are."""
        return self.notes.flush(timeout=timeout) if self.notes is not None else True

    def close(self) -> None:
        """Stop the notes' and the translator's threads and the session log (after the worker has finished)."""
        if self.notes is not None:
            self.notes.close()
        if self.translator is not None:
            self.translator.close()
        if self.speakers is not None:
            self.speakers.close()
        if self._log_handler is not None:
            logging.getLogger("live").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def _start_log(self) -> None:
        """live.log in the session folder gets the log, tracebacks included (never the screen)."""
        if self.folder is None or self._log_handler is not None:
            return
        try:
            handler = logging.FileHandler(self.folder / "live.log", encoding="utf-8")
        except OSError:
            return
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("live")
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        self._log_handler = handler

    # -- commands --------------------------------------------------------------------------------

    def stop(self) -> None:
        self.worker.stop()

    @property
    def stopping(self) -> bool:
        return self.worker.stopping

    def pause(self, paused: bool) -> None:
        self.worker.pause(paused)

    @property
    def paused(self) -> bool:
        return self.worker.paused

    def bookmark(self, note: str = "", at: float | None = None) -> float:
        """Mark the moment ``at`` (default: now; the TUI passes when B was pressed) with ``note``."""
        return self.worker.bookmark(note, at)

    def retry(self) -> None:
        """Reconnect a lost microphone, or restart recognition that stopped."""
        self.worker.retry()

    def clock(self) -> float:
        return self.worker.clock()

    def request_notes(self, kind: str = "update", question: str | None = None) -> bool:
        return self.notes.request(kind, question=question) if self.notes is not None else False  # type: ignore[arg-type]

    @property
    def notes_behind(self) -> bool:
        """Whether the notes could take in more before the session closes: finals or bookmarks not in
        them yet, and an API key to ask the model with."""
        from live.llm import resolve_api_key

        notes = self.notes
        return notes is not None and notes.keeper.pending > 0 and resolve_api_key(notes.keeper.settings) is not None

    @property
    def stats(self):
        return self.worker.stats

    @property
    def decoding(self):
        """The decode job running now, if any (a server's shared engine queues finals first by it)."""
        return self.worker.decoding


def _notes_service(settings: Settings, folder: Path, sink: Sink, mode: NotesMode) -> NotesService | None:
    from live.llm import client_factory, resolve_api_key
    from live.notes import NotesKeeper, NotesService
    from live.slides import slides_context

    llm = settings.llm
    if mode == "off" or (mode == "when-key" and not (resolve_api_key(llm) and llm.interval_minutes > 0)):
        return None
    # The slides are read on the notes' own thread, the first time a request needs them.
    keeper = NotesKeeper(client_factory(llm), folder, llm, context=lambda: slides_context(settings.slides))
    return NotesService(keeper, sink)


def course_vocabulary(settings: Settings) -> CourseVocabulary | None:
    """The terms of --vocab and --slides (VocabError or SlidesError in one line); None without either."""
    if settings.vocab is None and settings.slides is None:
        return None
    from live.session.vocabulary import CourseVocabulary

    return CourseVocabulary.load(settings.vocab, settings.slides)


def _translator(settings: Settings, sink: Sink, vocabulary: CourseVocabulary | None,
                options: TranslateOptions | None) -> Translator | None:
    if settings.translate is None:
        return None
    from live.translate import translator_for

    return translator_for(settings.llm, settings.translate, terms=vocabulary.terms if vocabulary else (),
                          notify=sink, options=options)


def _speaker_service(settings: Settings, sink: Sink, start_s: float) -> SpeakerService | None:
    """The speaker labels (on their own thread, loading the voice encoder there), unless --speakers off."""
    if not settings.speakers:
        return None
    from live.session.speakers import SpeakerService
    from live.speakers import VoiceEncoder

    def load(on_status: StatusCallback):
        return VoiceEncoder.load(on_status=on_status).embed_partials

    return SpeakerService(load, notify=sink, start_s=start_s)


def build_session(
    settings: Settings,
    sink: Sink,
    options: SessionOptions | None = None,
    *,
    open_source: Callable[[], AudioSource] | None = None,
    load_engine: EngineLoader | None = None,
) -> Session:
    """The session for ``settings`` and what its front end asks of it (``options``); its events go to
    ``sink`` (from the worker's thread). ``open_source`` and ``load_engine`` replace the input and the
    engine the settings name (a server's socket and shared model, a test's)."""
    options = options or SessionOptions()
    open_source = open_source or source_factory(settings)
    worker_class: Callable[..., Worker] = Worker
    if settings.server:
        # Recognized by a `live serve`: a worker with the same interface and events that streams there.
        from live.session.remote import remote_worker

        worker_class = remote_worker(settings)
        load_engine = load_engine or (lambda _status: (None, ""))  # the server holds the model
    own_engine = load_engine is None
    if load_engine is None:
        check_model(settings)
        load_engine = engine_loader(settings)
    info = {
        "live_version": __version__,
        "started": datetime.now().isoformat(timespec="seconds"),
        "input": str(settings.input) if settings.input else (f"demo {settings.demo}" if settings.demo else "microphone"),
        "device": settings.device,
        "mix": settings.mix,
        "engine": settings.engine,
        "model": settings.model,
        "language": settings.language,
        "script": settings.script,
        "server": settings.server,
        "pid": os.getpid(),
        **options.meta,
    }
    vocabulary = course_vocabulary(settings)  # a bad --vocab file fails before a folder is made
    continue_at = options.continue_at
    resumed: dict = {"start_s": continue_at[0], "first_index": continue_at[1]} if continue_at else {}
    if settings.resume is not None:
        writer, resumed = _resumed_writer(settings.resume, info, settings.record_audio)
    elif options.folder is not None:
        writer = SessionWriter(options.folder, meta=info, record_audio=settings.record_audio)
    else:
        writer = SessionWriter.create(settings.session_dir, meta=info, record_audio=settings.record_audio)
    service = _notes_service(settings, writer.folder, sink, options.notes)
    if service is not None and settings.resume is not None:
        service.keeper.continue_from(read_transcript(writer.folder))
    if vocabulary is not None:
        load_engine = vocabulary.loader(load_engine)  # Whisper's bias, set once the model has loaded
    translator = _translator(settings, sink, vocabulary, options.translate)
    speakers = _speaker_service(settings, sink, resumed.get("start_s", 0.0))
    hooks = WorkerHooks(vocabulary.revise if vocabulary is not None else None,
                        [helper.settle for helper in (translator, speakers) if helper is not None],
                        hear=speakers.hear if speakers is not None else None)

    def tee(event: object) -> None:
        # The notes take every final and bookmark from here, and the translator every final, on the
        # worker's side (after it is saved): no front end wires them, and neither can hold a caption up.
        if isinstance(event, Caption) and event.kind == "final":
            if service is not None:
                service.keeper.add_final(event)
            if translator is not None:
                translator.add(event)
            if speakers is not None:
                speakers.add(event)
        elif service is not None and isinstance(event, Marker):
            service.keeper.add_bookmark(event)  # bookmarks only; pause/resume are ignored there
        elif service is not None and isinstance(event, SpeakerLabel):
            service.keeper.add_speaker(event)  # the notes list the questions from the room
        sink(event)

    worker = worker_class(
        open_source,
        load_engine,
        tee,
        writer=writer,
        vad=options.vad or settings.vad_options(),
        captions=options.captions or settings.caption_options(partials=options.partials),
        batching=options.batching,
        language=settings.language,
        stop_on_failure=settings.headless if options.stop_on_failure is None else options.stop_on_failure,
        hooks=hooks,
        **({} if settings.server else {"auto_language": AutoLanguage.for_settings(
            settings, faster_engine(settings) if own_engine else None)}),
        **resumed,
        # A faster engine only where this session loads its own (not a server's shared one, not a test's).
        **({"faster_engine": faster_engine(settings)} if own_engine else {}),
    )
    if translator is not None:
        translator.connect(hooks.append)  # translations are written by the worker, in order
    if speakers is not None:
        speakers.connect(hooks.append)  # so are the speaker labels
    return Session(worker, writer, service, translator, vocabulary, speakers)


def _resumed_writer(folder: Path, info: dict, record_audio: bool) -> tuple[SessionWriter, dict]:
    """Continue a saved session: its folder appended to, its clock and segment numbers going on from
    where it stopped, a marker saying how long it was away."""
    point = resume_point(folder)
    try:
        meta = json.loads((folder / "session.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    meta.setdefault("resumed", []).append({k: info[k] for k in ("started", "input", "engine", "pid")})
    writer = SessionWriter(folder, meta=meta, record_audio=record_audio, resume=True)
    away = max(0.0, time.time() - point.stopped_at)
    note = f"continued after {mmss(away)} away" if point.stopped_at else "continued"
    return writer, {"start_s": point.clock, "first_index": point.next_index,
                    "opening": Marker("gap", point.clock, note)}


def latest_session(root: Path) -> Path:
    """The newest session folder under ``root`` (for ``--resume`` with no folder)."""
    folders = [p for p in root.glob("*") if p.is_dir() and (p / "transcript.jsonl").exists()] if root.is_dir() else []
    if not folders:
        raise SessionError(f"no saved session in {root} to continue; give the folder: --resume DIR")
    return max(folders, key=lambda p: (p.name, p.stat().st_mtime))
