"""The live captions app: rolling finals, the current partial, the notes pane, a status bar, keys."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from live.audio import AudioSource
from live.captions import Caption
from live.config import Settings
from live.notes import NotesEvent
from live.session import EngineLoader, EngineState, Finished, Marker, Notice, Session, Status
from live.events import Translation
from live.speakers import AUDIENCE, SpeakerLabel
from live.tui.caption_view import CaptionView
from live.tui.messages import PipelineEvent
from live.tui.note_box import NoteBox
from live.tui.notes import AskScreen, NotesPane
from live.tui.search import Search, SearchBox
from live.tui.share import Sharing
from live.tui.widgets import PartialLine, ProblemLine, StatusBar

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
  [b]b[/b]  bookmark this moment (saved in the transcript, and in the notes)
  [b]B[/b]  bookmark this moment with a note of your own ("exam!"): type it,
     Enter saves, Esc cancels
  [b]/[/b]  search this lecture's captions: Enter or ↓ next hit, ↑ previous,
     Esc closes
  [b]r[/b]  retry: look for a lost microphone now (it is retried every few
     seconds anyway), or restart recognition after it stopped
  [b]s[/b]  notes so far (the LLM summarizes every final caption up to now)
  [b]n[/b]  notes pane: beside the captions / alone / hidden (remembered)
  [b]a[/b]  ask a question about the lecture (multi-turn; saved as qa.md)
  [b]![/b]  didn't catch that: the last minute explained in plain words
  [b]L[/b]  the voice speaking now is the lecturer's (captions from others are
     marked ❓, a question from the room)
  [b]v[/b]  the room (--share): its QR code, link and code for the class;
     [b]V[/b] a new code (the old link stops working)
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

    CSS_PATH = Path(__file__).with_name("live.tcss")  # absolute: a subclass elsewhere still finds it
    TITLE = "live"
    # The footer shows these in order and cuts what does not fit at the right: quit and help come
    # first, so a narrow terminal (80 columns, a tmux pane) always shows how to leave and where the
    # rest is. The command palette stays on ctrl+p but out of the footer.
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("p", "pause", "pause"),
        Binding("b", "bookmark", "bookmark"),
        Binding("B", "note", "bookmark + note", show=False),  # in ? help
        Binding("slash", "search", "search", show=False),
        Binding("r", "retry", "retry", show=False),
        Binding("s", "notes", "notes"),
        Binding("a", "ask", "ask"),
        Binding("exclamation_mark", "explain", "explain"),
        Binding("n", "layout", "layout"),
        Binding("L,l", "lecturer", "the lecturer is speaking", show=False),
        Binding("v", "share", "share", show=False),
        Binding("V", "rotate", "new room code", show=False),
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
        from live.session import SessionOptions, build_session

        self.settings = settings
        self.sharing = Sharing(self, settings)  # --share: the room every event is teed to
        self.session: Session = build_session(settings, self._from_worker, SessionOptions(notes="on", stop_on_failure=False),
                                              open_source=open_source, load_engine=load_engine)
        self.folder = self.session.folder
        self.session_folder: str | None = None
        self.log_path = self.folder / "live.log" if self.folder is not None else None
        self.error: str | None = None  # what ended the session, printed after the screen closes
        self.problem: str | None = None  # what is broken right now (on screen until fixed)
        self.exit_code = 0
        self.finished = False
        self._quitting = False
        self.layout = load_layout()

    # The session's thread talks to the UI only through post_message; the room takes each event on
    # that thread too, so a busy screen never holds the viewers' captions up.
    def _from_worker(self, event: object) -> None:
        self.post_message(PipelineEvent(event))
        self.sharing.publish(event)

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="captions"):
                yield CaptionView(self.folder / "transcript.jsonl" if self.folder else None, id="finals")
                yield PartialLine(id="partial")
            yield NotesPane(id="notes")
        yield SearchBox(id="search")
        yield NoteBox(id="note")
        yield ProblemLine(id="problem")
        yield StatusBar(id="status")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(StatusBar).language = self.settings.language
        self.sub_title = str(self.folder or "")
        self.query_one(ProblemLine).show(None)
        if self.settings.resume is not None:
            self.query_one(CaptionView).load_saved()
            if self.session.notes is not None and self.session.notes.keeper.notes.strip():
                self.query_one(NotesPane).show_notes(self.session.notes.keeper.notes)
        self._apply_layout()
        self.search = Search(self.query_one(CaptionView))
        # The screen first: the session starts loading the model (seconds of CPU) after the first frame.
        self.call_after_refresh(self.session.start)
        self.sharing.open()

    def on_unmount(self) -> None:
        # Closing the terminal or an exception: still finish the session (decode, write, close),
        # but never hang the exit on it: every final is on disk already.
        self.session.stop()
        self.session.join(timeout=1.0 if self._quitting else 10.0)
        self.session.close()
        self.sharing.end(self.error, wait=10.0)  # every final reaches the viewers before the room stops

    # -- events from the session ------------------------------------------------------------------

    def on_pipeline_event(self, message: PipelineEvent) -> None:
        try:
            self._show_event(message.event)
        except NoMatches:  # the screen is already gone (the app is exiting): nothing left to show it on
            pass

    def _show_event(self, event: object) -> None:
        if isinstance(event, Caption):
            self._caption(event)
        elif isinstance(event, Status):
            self.query_one(StatusBar).status = event
            if self._quitting and not self.finished:  # what is left, until the session has ended
                left = f"{event.pending_finals} caption{'s' if event.pending_finals != 1 else ''} to go" \
                    if event.pending_finals else "saving"
                self.query_one(PartialLine).update(f"finishing: {left} · q again leaves the rest for `live finish`")
        elif isinstance(event, Marker):
            self.query_one(CaptionView).add(event)
        elif isinstance(event, Translation):
            self.query_one(CaptionView).attach(event.index, event.text)  # dimmed under its caption
        elif isinstance(event, SpeakerLabel):
            self.query_one(CaptionView).attach(event.index, asked=event.speaker == AUDIENCE)  # ❓ when not the lecturer
        elif isinstance(event, NotesEvent):
            self.query_one(NotesPane).route(event)
        elif isinstance(event, EngineState):
            self._engine(event)
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
        self.query_one(CaptionView).add(caption)
        if caption.text:
            self.query_one(NotesPane).captions_came()

    def _engine(self, event: EngineState) -> None:
        bar = self.query_one(StatusBar)
        if event.state == "ready":
            bar.engine = f"{event.engine} · {event.model}"
            self.notify(event.message, title="engine", timeout=6)
            self._show_problem(None)
        elif event.state == "loading":
            bar.engine = event.message
        else:
            bar.engine = "no recognition"
            self._show_problem(f"{event.message} — r restarts recognition (the audio is still being recorded), "
                               "q quits")

    def _show_problem(self, text: str | None) -> None:
        self.problem = text
        self.query_one(ProblemLine).show(f"✗ {text}" if text else None)

    def _finished(self, event: Finished) -> None:
        self.finished = True
        self.sharing.end(event.error)
        self.session_folder = event.folder
        self.query_one(PartialLine).show(None)
        if event.error:
            self.error = event.error
            self.exit_code = 1
            self._show_problem(f"{event.error} — q quits")
        if self._quitting:
            self._leave()
        elif not event.error:
            self.notify("end of input — press q to quit", timeout=30)

    # -- keys ------------------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.session.pause(not self.session.paused)

    def action_bookmark(self) -> None:
        if self._ended_say():
            return
        self.session.bookmark()
        self.notify("bookmark saved", timeout=2)

    def _ended_say(self) -> bool:
        """After the end of the input nothing more is saved: say so rather than pretend."""
        if self.finished:
            self.notify("the session has ended: no more bookmarks can be saved", severity="warning", timeout=4)
        return self.finished

    def action_note(self) -> None:
        if not self._ended_say():
            self.query_one(NoteBox).open(self.session.clock())  # the moment is now, not when Enter is pressed

    def on_note_box_saved(self, message: NoteBox.Saved) -> None:
        self._close_box(self.query_one(NoteBox))
        if self._ended_say():
            return
        self.session.bookmark(message.note, at=message.at)
        self.notify(f"bookmark saved: {message.note}" if message.note else "bookmark saved", timeout=2)

    def on_note_box_cancelled(self, message: NoteBox.Cancelled) -> None:
        self._close_box(self.query_one(NoteBox))

    def action_search(self) -> None:
        if self.layout == "notes":  # the hits are in the captions: show them
            self.layout = "split"
            self._apply_layout()
        box = self.query_one(SearchBox)
        box.input.value = ""
        box.open()

    def on_search_box_changed(self, message: SearchBox.Changed) -> None:
        self.search.find(message.query)
        self.query_one(SearchBox).show_count(self.search.describe())

    def on_search_box_step(self, message: SearchBox.Step) -> None:
        self.search.step(message.by)
        self.query_one(SearchBox).show_count(self.search.describe())

    def on_search_box_closed(self, message: SearchBox.Closed) -> None:
        self.search.clear()  # the view stays where the search left it
        self._close_box(self.query_one(SearchBox))

    def _close_box(self, box: NoteBox | SearchBox) -> None:
        box.close()
        view = self.query_one(CaptionView)
        self.set_focus(view if self.layout != "notes" else None)  # keys go to the app's bindings again

    def action_lecturer(self) -> None:
        if self.finished:
            self.notify("the session has ended: nothing more is labelled", severity="warning", timeout=4)
        elif self.session.enroll_lecturer():
            self.notify("the voice speaking now is the lecturer's: captions are labelled from it", timeout=3)
        else:
            self.notify("speaker labels are off (or no one spoke in the last seconds)", severity="warning", timeout=4)

    def action_retry(self) -> None:
        self.session.retry()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_share(self) -> None:
        self.sharing.show()

    def action_rotate(self) -> None:
        self.sharing.rotate()

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
        self.session.request_notes("update")

    def action_explain(self) -> None:
        self._show_notes()
        self.session.request_notes("explain")

    def action_ask(self) -> None:
        if self.session.notes is not None:
            turns = [(t.question, t.answer) for t in self.session.notes.conversation.turns]
            self.push_screen(AskScreen(turns))

    def on_ask_screen_question(self, message: AskScreen.Question) -> None:
        self.session.request_notes("ask", question=message.question)

    def _leave(self) -> None:
        """Exit; with a key set and a session that ended well, the notes first take in the last finals."""
        if self.error or not self.session.notes_behind:
            self.exit(self.exit_code)
            return
        self.notify("bringing the notes up to date…", timeout=20)
        self.run_worker(self._notes_then_exit, thread=True, exclusive=True)

    def _notes_then_exit(self) -> None:
        self.session.finish_notes(timeout=30)
        self.call_from_thread(self.exit, self.exit_code)

    async def action_quit(self) -> None:
        if self._quitting:
            self.session.stop()  # a second q: what is left stays for `live finish`
            self.exit(self.exit_code)
            return
        self._quitting = True
        if self.finished:
            self._leave()
            return
        self.query_one(PartialLine).update("finishing: captioning the last words and saving…")
        self.session.stop()


def create_app(
    settings: Settings,
    *,
    open_source: Callable[[], AudioSource] | None = None,
    load_engine: EngineLoader | None = None,
) -> LiveApp:
    """The one factory for the CLI and the tests (tests inject a source or an engine loader)."""
    return LiveApp(settings, open_source=open_source, load_engine=load_engine)
