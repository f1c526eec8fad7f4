"""The live captions app: rolling finals, the current partial, the notes pane, a status bar, keys."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from live.audio import AudioSource
from live.captions import Caption
from live.config import Settings
from live.pipeline import EngineLoader, EngineState, Finished, Notice, Pipeline, Status
from live.tui.messages import PipelineEvent
from live.tui.notes import AskScreen, NotesPane, event_poster
from live.tui.widgets import CaptionLog, PartialLine, StatusBar

LAYOUTS = ("captions", "split", "notes")


def _state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "live" / "ui.json"


def load_layout() -> str:
    try:
        layout = json.loads(_state_file().read_text(encoding="utf-8")).get("layout")
    except (OSError, ValueError, AttributeError):
        return "captions"
    return layout if layout in LAYOUTS else "captions"


def save_layout(layout: str) -> None:
    path = _state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"layout": layout}), encoding="utf-8")
    except OSError:
        pass  # remembering the layout is a nicety; never worth an error

HELP = """\
[b]live[/b] — captions of what is said, saved as you go.

  [b]p[/b]  pause / resume listening (nothing is recorded while paused)
  [b]b[/b]  bookmark this moment (saved in the transcript)
  [b]r[/b]  look for a lost microphone now (it is retried every few seconds anyway)
  [b]s[/b]  notes so far (the LLM summarizes every final caption up to now)
  [b]n[/b]  notes pane: beside the captions / alone / hidden (remembered)
  [b]a[/b]  ask a question about the lecture (multi-turn; saved as qa.md)
  [b]![/b]  didn't catch that: the last minute explained in plain words
  [b]?[/b]  this help
  [b]q[/b]  quit: the last words are captioned, everything is written,
     and the session folder is printed

Scroll up to read back; new captions follow again once you are at the bottom.
Finals are on disk the moment they appear (transcript.jsonl in the session folder).
Press any key to close."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help")

    def on_key(self) -> None:
        self.dismiss()


class LiveApp(App[int]):
    """One session on screen. Build it with ``create_app``."""

    CSS_PATH = "live.tcss"
    TITLE = "live"
    BINDINGS = [
        Binding("p", "pause", "pause"),
        Binding("b", "bookmark", "bookmark"),
        Binding("r", "reconnect", "reconnect", show=False),
        Binding("s", "notes", "notes so far"),
        Binding("n", "layout", "layout"),
        Binding("a", "ask", "ask"),
        Binding("exclamation_mark", "explain", "explain"),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        open_source: Callable[[], AudioSource] | None = None,
        load_engine: EngineLoader | None = None,
    ) -> None:
        super().__init__()
        from live.session import build_pipeline

        self.settings = settings
        self.pipeline: Pipeline = build_pipeline(
            settings, self._from_worker, open_source=open_source, load_engine=load_engine
        )
        self.session_folder: str | None = None
        writer = self.pipeline.writer
        self.log_path = writer.folder / "live.log" if writer is not None else None
        self.error: str | None = None
        self.exit_code = 0
        self.finished = False
        self._quitting = False
        self._worker: threading.Thread | None = None
        self.layout = load_layout()
        self.notes_service = None  # live.notes.NotesService, made on mount

    # The pipeline's thread talks to the UI only through post_message.
    def _from_worker(self, event: object) -> None:
        self.post_message(PipelineEvent(event))

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="captions"):
                yield CaptionLog(id="finals", wrap=True, markup=False, auto_scroll=True)
                yield PartialLine(id="partial")
            yield NotesPane(id="notes")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(StatusBar).language = self.settings.language
        self.sub_title = str(self.pipeline.writer.folder) if self.pipeline.writer else ""
        self._apply_layout()
        self._start_notes()
        # The screen first: the worker starts loading the model (seconds of CPU) after the first frame.
        self.call_after_refresh(self._start_worker)

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self.pipeline.run, name="live-pipeline", daemon=True)
        self._worker.start()

    def _start_notes(self) -> None:
        from live.llm import LLMSettings, client_factory
        from live.notes import NotesKeeper, NotesService

        if self.pipeline.writer is None:
            return
        llm = LLMSettings.from_mapping(self.settings.llm)
        self.llm_settings = llm
        from live.session import slides_context

        keeper = NotesKeeper(client_factory(llm), self.pipeline.writer.folder, llm, context=slides_context(self.settings))
        self.notes_service = NotesService(keeper, event_poster(self.query_one(NotesPane)))

    def on_unmount(self) -> None:
        # Closing the terminal or an exception: still finish the session (decode, write, close).
        self.pipeline.stop()
        if self._worker is not None:
            self._worker.join(timeout=30)
        if self.notes_service is not None:
            self.notes_service.close()

    # -- events from the pipeline ---------------------------------------------------------------------

    def on_pipeline_event(self, message: PipelineEvent) -> None:
        event = message.event
        if isinstance(event, Caption):
            self._caption(event)
        elif isinstance(event, Status):
            self.query_one(StatusBar).status = event
        elif isinstance(event, EngineState):
            bar = self.query_one(StatusBar)
            if event.state == "ready":
                bar.engine = f"{event.engine} · {event.model}"
                self.notify(event.message, title="engine", timeout=6)
            elif event.state == "loading":
                bar.engine = event.message
            else:
                bar.engine = "no engine"
        elif isinstance(event, Notice):
            self.notify(event.message, severity=event.level, timeout=10 if event.level != "error" else 30)
        elif isinstance(event, Finished):
            self._finished(event)

    def _caption(self, caption: Caption) -> None:
        partial = self.query_one(PartialLine)
        if caption.kind == "partial":
            partial.show(caption)
            return
        partial.show(None)
        if caption.text:
            self.query_one(CaptionLog).add_final(caption)
            if self.notes_service is not None:
                self.notes_service.keeper.add_final(caption)

    def _finished(self, event: Finished) -> None:
        self.finished = True
        self.session_folder = event.folder
        if event.error:
            self.error = event.error
            self.exit_code = 1
        if self._quitting:
            self.run_worker(self._bring_notes_up_to_date, thread=True, exclusive=True)
        elif not event.error:
            self.notify("end of input — press q to quit", timeout=30)
        self.query_one(PartialLine).show(None)

    # -- keys ------------------------------------------------------------------------------------------

    def action_pause(self) -> None:
        paused = not self.pipeline.paused
        self.pipeline.pause(paused)
        self.query_one(CaptionLog).add_marker(self.pipeline.clock(), "⏸ paused" if paused else "▶ resumed")

    def action_bookmark(self) -> None:
        at = self.pipeline.bookmark()
        self.query_one(CaptionLog).add_marker(at, "★ bookmark")
        self.notify("bookmark saved", timeout=2)

    def action_reconnect(self) -> None:
        self.pipeline.reconnect()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _apply_layout(self) -> None:
        self.query_one("#captions").display = self.layout != "notes"
        self.query_one(NotesPane).display = self.layout != "captions"

    def action_layout(self) -> None:
        self.layout = LAYOUTS[(LAYOUTS.index(self.layout) + 1) % len(LAYOUTS)]
        self._apply_layout()
        save_layout(self.layout)

    def _show_notes(self) -> None:
        if self.layout == "captions":
            self.layout = "split"
            self._apply_layout()
            save_layout(self.layout)

    def action_notes(self) -> None:
        self._show_notes()
        if self.notes_service is not None:
            self.notes_service.request("update")

    def action_explain(self) -> None:
        self._show_notes()
        if self.notes_service is not None:
            self.notes_service.request("explain")

    def action_ask(self) -> None:
        if self.notes_service is not None:
            turns = [(t.question, t.answer) for t in self.notes_service.conversation.turns]
            self.push_screen(AskScreen(turns))

    def on_ask_screen_question(self, message: AskScreen.Question) -> None:
        if self.notes_service is not None:
            self.notes_service.request("ask", question=message.question)

    def _bring_notes_up_to_date(self) -> None:
        """On quit, with a key set, the notes take in the last finals (bounded wait), then exit."""
        from live.llm import resolve_api_key

        service = self.notes_service
        if service is not None and resolve_api_key(self.llm_settings) and service.keeper.pending:
            self.call_from_thread(self.notify, "bringing the notes up to date…", timeout=20)
            service.flush(timeout=30)
        self.call_from_thread(self.exit, self.exit_code)

    async def action_quit(self) -> None:
        if self._quitting:
            self.exit(self.exit_code)  # a second q: stop waiting
            return
        if self.finished:
            self._quitting = True
            self.run_worker(self._bring_notes_up_to_date, thread=True, exclusive=True)
            return
        self._quitting = True
        self.notify("finishing: captioning the last words and saving…", timeout=30)
        self.pipeline.stop()


def create_app(
    settings: Settings,
    *,
    open_source: Callable[[], AudioSource] | None = None,
    load_engine: EngineLoader | None = None,
) -> LiveApp:
    """The one factory for the CLI and the tests (tests inject a source or an engine loader)."""
    return LiveApp(settings, open_source=open_source, load_engine=load_engine)
