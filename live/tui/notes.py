"""The notes pane and the question box.

The notes worker (``live.notes.NotesService``) reports from its own thread through the session's
events, which the app posts to itself (``PipelineEvent``) and hands to ``NotesPane.route``:
update/explain events to the pane, answers to an open ``AskScreen``. Tokens can arrive hundreds of times a second; the Markdown is re-rendered at most
``FLUSH_HZ`` times a second, with everything that arrived in between.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Markdown, Static

from live.notes import NotesEvent

FLUSH_HZ = 10.0


class _Streamer:
    """Collects streamed tokens and writes them to a Markdown widget at most at ``FLUSH_HZ``."""

    def __init__(self) -> None:
        self.target: Markdown | None = None
        self.text = ""
        self._pending = ""
        self.renders = 0  # Markdown writes while streaming, for tests and figures

    def begin(self, target: Markdown, *, clear: bool = True) -> None:
        self.target, self.text, self._pending = target, "", ""
        if clear:
            target.update("")

    def add(self, token: str) -> None:
        self.text += token
        self._pending += token

    def flush(self) -> None:
        if self.target is not None and self._pending:
            self.target.append(self._pending)
            self._pending = ""
            self.renders += 1

    def end(self) -> None:
        self.target, self._pending = None, ""

    @property
    def active(self) -> bool:
        return self.target is not None


class NotesPane(Widget):
    """The notes as rendered Markdown, a status line above them, and an "explain" box.

    The last complete notes stay on screen through errors: a failed or cancelled update restores
    them and only the status line says what went wrong.
    """

    DEFAULT_CSS = """
    NotesPane {
        layout: vertical;
        height: 1fr;
    }
    NotesPane > #notes-status {
        height: auto;
        max-height: 6;  /* the no-key hint whole in a 60-column terminal's pane */
        padding: 0 1;
        color: $text-muted;
    }
    NotesPane > #notes-status.-error {
        color: $text-error;
    }
    NotesPane > #notes-scroll {
        height: 1fr;
    }
    NotesPane #notes-md > MarkdownBlock:first-child {
        margin-top: 0;  /* the notes' heading right under the status line */
    }
    NotesPane #notes-explain {
        display: none;
        height: auto;
        margin: 0 0 1 0;
        border: round $accent;
        border-title-color: $accent;
    }
    NotesPane #notes-explain.-shown {
        display: block;
    }
    """

    def __init__(self, notes: str = "", *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._notes = notes
        self._stream = _Streamer()
        self._stream_kind: str | None = None
        self._timer: Timer | None = None
        self._until_captions = False  # the status says nothing has been said yet

    def compose(self) -> ComposeResult:
        yield Static("", id="notes-status", markup=False)
        with VerticalScroll(id="notes-scroll"):
            explain = Markdown(id="notes-explain")
            explain.border_title = "The last minute, explained"
            yield explain
            yield Markdown(self._notes or _EMPTY, id="notes-md")

    def on_mount(self) -> None:
        self._timer = self.set_interval(1.0 / FLUSH_HZ, self._stream.flush, pause=True)

    # -- what the app calls ------------------------------------------------------------------

    @property
    def notes(self) -> str:
        """The last complete notes shown."""
        return self._notes

    @property
    def status(self) -> str:
        return str(self.query_one("#notes-status", Static).content)

    @property
    def renders(self) -> int:
        return self._stream.renders

    @property
    def streaming(self) -> bool:
        return self._stream.active

    def show_notes(self, text: str) -> None:
        """Show complete notes (e.g. those of a resumed session) without streaming."""
        self._notes = text
        if not self._stream.active or self._stream_kind != "update":
            self.query_one("#notes-md", Markdown).update(text or _EMPTY)

    def begin_stream(self, request: str = "update") -> None:
        """Start showing a streamed answer: the notes themselves, or an explanation above them."""
        self._stop_stream()
        if request == "explain":
            box = self.query_one("#notes-explain", Markdown)
            box.add_class("-shown")
            target = box
            self._set_status("explaining the last minute…")
        else:
            target = self.query_one("#notes-md", Markdown)
            self._set_status("updating the notes…")
        self._stream_kind = request
        self._stream.begin(target)
        # Notes are read from their heading down: the pane shows the top while they fill in, and
        # stays there when they are done (a bottom anchor left it mid-notes, or on blank rows).
        self.query_one("#notes-scroll", VerticalScroll).scroll_home(animate=False)
        if self._timer is not None:
            self._timer.resume()

    def append_token(self, token: str) -> None:
        """Add streamed text; it reaches the screen at the next flush (at most FLUSH_HZ a second)."""
        if self._stream.active:
            self._stream.add(token)

    def finish(self, text: str | None = None) -> None:
        """The answer is complete: show ``text`` (or what was streamed) in full."""
        kind, streamed = self._stream_kind, self._stream.text
        target = self._stream.target
        self._stop_stream()
        final = text if text is not None else streamed
        if kind == "explain":
            box = self.query_one("#notes-explain", Markdown)
            box.add_class("-shown")
            box.update(final)
            self._set_status("")
        else:
            self._notes = final
            (target or self.query_one("#notes-md", Markdown)).update(final or _EMPTY)
            self._set_status(f"notes updated at {time.strftime('%H:%M')}")
        self.query_one("#notes-scroll", VerticalScroll).scroll_home(animate=False)

    def show_error(self, message: str) -> None:
        """Say what went wrong; the previous notes stay (a half-streamed update is taken back)."""
        kind = self._stream_kind
        self._stop_stream()
        if kind == "update":
            self.query_one("#notes-md", Markdown).update(self._notes or _EMPTY)
        elif kind == "explain":
            self.query_one("#notes-explain", Markdown).remove_class("-shown")
        self._set_status(message, error=True)

    def show_no_key(self, hint: str) -> None:
        """No API key: ``hint`` (``live.llm.key_hint``, carried by the event) says where to put one."""
        self.show_error(hint)

    def apply_event(self, event: NotesEvent) -> None:
        """Show one worker event (update and explain requests)."""
        if event.kind == "started":
            self.begin_stream(event.request)
        elif event.kind == "token":
            self.append_token(event.text)
        elif event.kind == "done":
            self.finish(event.text)
        elif event.error == "NoAPIKey":
            self.show_no_key(event.text)
        else:
            self.show_error(event.text)
            self._until_captions = event.error == "NothingYet"

    def captions_came(self) -> None:
        """A caption is on screen: "nothing said yet" is no longer true, and goes."""
        if self._until_captions:
            self._set_status("")

    def route(self, event: NotesEvent) -> None:
        """Show an event of the notes service: asks go to the question box, the rest here."""
        if event.request == "ask":
            screen = self.app.screen
            if isinstance(screen, AskScreen):
                screen.apply_event(event)
            elif event.kind == "error":
                self.notify(event.text, title="question", severity="error")
            return
        self.apply_event(event)

    # -- internals ---------------------------------------------------------------------------

    def _stop_stream(self) -> None:
        if self._timer is not None:
            self._timer.pause()
        self._stream.end()
        self._stream_kind = None

    def _set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#notes-status", Static)
        status.update(text)
        status.set_class(error, "-error")
        self._until_captions = False


_EMPTY = "*No notes yet. They are written every few minutes, or press* `s` *for notes so far.*"


class AskScreen(ModalScreen[None]):
    """A question box: the conversation so far, streamed answers, an input; Escape closes it.

    It posts ``AskScreen.Question`` (the app hands it to ``NotesService.request("ask", ...)``) and
    shows the answer from the ``ask`` events it is given through ``apply_event``.
    """

    DEFAULT_CSS = """
    AskScreen {
        align: center middle;
    }
    AskScreen > #ask-dialog {
        width: 90%;
        height: 85%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    AskScreen #ask-log {
        height: 1fr;
    }
    AskScreen .ask-question {
        margin: 1 0 0 0;
        text-style: bold;
        color: $text-primary;
    }
    AskScreen .ask-answer {
        padding: 0 0 0 2;
    }
    AskScreen #ask-status {
        height: auto;
        color: $text-muted;
    }
    AskScreen #ask-status.-error {
        color: $text-error;
    }
    """

    BINDINGS = [Binding("escape", "close", "Close")]

    class Question(Message):
        """The user asked ``question``."""

        def __init__(self, question: str) -> None:
            super().__init__()
            self.question = question

    def __init__(self, history: Sequence[tuple[str, str]] = (), *, name: str | None = None,
                 id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._history = list(history)
        self._stream = _Streamer()
        self._timer: Timer | None = None
        self._pending_question = ""
        self.waiting = False

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-dialog") as dialog:
            dialog.border_title = "Ask about the lecture (Esc closes)"
            with VerticalScroll(id="ask-log"):
                for question, answer in self._history:
                    yield Static(f"Q: {question}", classes="ask-question", markup=False)
                    yield Markdown(answer, classes="ask-answer")
            yield Static("", id="ask-status", markup=False)
            yield Input(placeholder="Type a question and press Enter", id="ask-input")

    def on_mount(self) -> None:
        self._timer = self.set_interval(1.0 / FLUSH_HZ, self._stream.flush, pause=True)
        self.query_one("#ask-input", Input).focus()
        self.query_one("#ask-log", VerticalScroll).scroll_end(animate=False)

    @property
    def conversation(self) -> list[tuple[str, str]]:
        """The questions and complete answers shown, oldest first."""
        return list(self._history)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        question = event.value.strip()
        if not question:
            return
        if self.waiting:
            self._set_status("wait for the answer to the previous question", error=True)
            return
        event.input.clear()
        self.waiting = True
        self._pending_question = question
        log = self.query_one("#ask-log", VerticalScroll)
        answer = Markdown("", classes="ask-answer")
        log.mount(Static(f"Q: {question}", classes="ask-question", markup=False))
        log.mount(answer)
        log.anchor()
        self._stream.begin(answer, clear=False)  # not mounted yet, and empty anyway
        if self._timer is not None:
            self._timer.resume()
        self._set_status("thinking…")
        self.post_message(self.Question(question))

    def apply_event(self, event: NotesEvent) -> None:
        """Show one ``ask`` event of the notes worker."""
        if event.request != "ask" or not self._stream.active or event.kind == "started":
            return
        if event.kind == "token":
            self._stream.add(event.text)
        elif event.kind == "done":
            target = self._stream.target
            self._end()
            if target is not None:
                target.update(event.text)
            self._history.append((self._pending_question, event.text))
            self._set_status("")
        else:
            target = self._stream.target
            self._end()
            if target is not None:
                target.update("*no answer*")  # why is said once, in the status line below
            self._set_status(event.text, error=True)

    def action_close(self) -> None:
        self.dismiss(None)

    def _end(self) -> None:
        if self._timer is not None:
            self._timer.pause()
        self._stream.end()
        self.waiting = False

    def _set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#ask-status", Static)
        status.update(text)
        status.set_class(error, "-error")
