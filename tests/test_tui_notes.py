"""live.tui.notes: the notes pane and the question box, driven with Pilot against the real local server."""

from __future__ import annotations

import time
from collections.abc import Callable

from notes_helpers import final, make_keeper, settings_for
from textual.app import App, ComposeResult
from textual.widgets import Input, Markdown, Static

from live.llm import client_factory
from live.notes import NotesKeeper, NotesService
from live.tui.messages import PipelineEvent
from live.tui.notes import AskScreen, NotesPane


class Host(App):
    """A tiny app wired the way the real one is: s, a, ! and a NotesService whose events it posts to
    itself from the service's thread and routes to the pane."""

    BINDINGS = [("s", "notes", "notes so far"), ("a", "ask", "ask"), ("!", "explain", "explain")]

    def __init__(self, keeper: NotesKeeper | None = None, notes: str = "") -> None:
        super().__init__()
        self.keeper = keeper
        self.initial_notes = notes
        self.service: NotesService | None = None

    def compose(self) -> ComposeResult:
        yield NotesPane(self.initial_notes, id="notes")

    def on_mount(self) -> None:
        if self.keeper is not None:
            self.service = NotesService(self.keeper, lambda event: self.post_message(PipelineEvent(event)),
                                        tick_every_s=None)

    def on_unmount(self) -> None:
        if self.service is not None:
            self.service.close()

    def on_pipeline_event(self, message: PipelineEvent) -> None:
        self.query_one(NotesPane).route(message.event)

    def action_notes(self) -> None:
        self.service.request("update")

    def action_explain(self) -> None:
        self.service.request("explain")

    def action_ask(self) -> None:
        turns = [(t.question, t.answer) for t in self.service.conversation.turns]
        self.push_screen(AskScreen(turns))

    def on_ask_screen_question(self, message: AskScreen.Question) -> None:
        self.service.request("ask", question=message.question)


def notes_md(app: App) -> Markdown:
    return app.query_one("#notes-md", Markdown)


async def until(pilot, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the UI"
        await pilot.pause(0.02)


async def test_s_streams_the_notes_into_the_pane_token_by_token(llm_server, tmp_path, monkeypatch):
    keeper = make_keeper(llm_server, tmp_path / "s")
    keeper.add_final(final(0))
    text = "# Thermodynamics\n\n## Entropy\n\n- **Entropy** measures disorder.\n" * 3
    llm_server.enqueue_text(text, chunks=40, delay_s=0.02)
    # What the notes Markdown showed at each streamed render (Pilot cannot poll mid-stream: it
    # waits for the app to go idle, which a busy stream never lets it do).
    shown: list[str] = []
    original_append = Markdown.append

    def recording_append(self, markdown):
        result = original_append(self, markdown)
        if self.id == "notes-md":
            shown.append(self.source)
        return result

    monkeypatch.setattr(Markdown, "append", recording_append)
    app = Host(keeper)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.query_one(NotesPane)
        await pilot.press("s")
        await until(pilot, lambda: "notes updated" in pane.status)
        assert notes_md(app).source == text == pane.notes
        assert not pane.streaming
    assert 2 <= len(shown) < 20  # ~10 Hz over ~0.8 s, not one render per token (40)
    assert len(shown) == pane.renders
    assert all(text.startswith(s) for s in shown)  # growing prefixes of the answer
    assert [len(s) for s in shown] == sorted(len(s) for s in shown) and len(shown[0]) < len(text)


async def test_a_burst_of_tokens_is_rendered_a_few_times_not_hundreds(tmp_path):
    app = Host()
    async with app.run_test() as pilot:
        pane = app.query_one(NotesPane)
        pane.begin_stream("update")
        tokens = [f"word{i} " for i in range(500)]
        for token in tokens:
            pane.append_token(token)
        await pilot.pause(0.35)
        assert 1 <= pane.renders <= 5
        assert notes_md(app).source == "".join(tokens)
        pane.finish()
        await pilot.pause()
        assert pane.notes == "".join(tokens)


async def test_an_error_keeps_the_previous_notes_on_screen(llm_server, tmp_path):
    keeper = make_keeper(llm_server, tmp_path / "s")
    keeper.add_final(final(0))
    app = Host(keeper)
    async with app.run_test() as pilot:
        pane = app.query_one(NotesPane)
        await pilot.press("s")
        await until(pilot, lambda: "notes updated" in pane.status)
        before = notes_md(app).source
        assert before.startswith("# Notes")
        keeper.add_final(final(1))
        llm_server.enqueue_cut("# A new version that breaks off halfway", after_chunks=3, chunks=8)
        await pilot.press("s")
        await until(pilot, lambda: "dropped halfway" in pane.status)
        await pilot.pause(0.1)
        assert notes_md(app).source == before == pane.notes
        assert app.query_one("#notes-status", Static).has_class("-error")


async def test_no_key_shows_how_to_set_one(llm_server, tmp_path):
    settings = settings_for(llm_server)
    keeper = NotesKeeper(client_factory(settings, env={}), tmp_path / "s", settings)
    keeper.add_final(final(0))
    app = Host(keeper, notes="# Notes from before\n")
    async with app.run_test() as pilot:
        pane = app.query_one(NotesPane)
        await pilot.press("s")
        await until(pilot, lambda: "no API key" in pane.status)
        assert "LIVE_LLM_API_KEY" in pane.status and "llm.api_key_file" in pane.status
        assert notes_md(app).source == "# Notes from before\n"
        assert llm_server.requests == []


async def test_explain_shows_above_the_notes(llm_server, tmp_path):
    keeper = make_keeper(llm_server, tmp_path / "s")
    keeper.add_final(final(0))
    llm_server.enqueue_text("In plain words: **step 0** sets things up.", chunks=4)
    app = Host(keeper, notes="# The notes\n")
    async with app.run_test() as pilot:
        app.query_one(NotesPane)
        await pilot.press("exclamation_mark")
        box = app.query_one("#notes-explain", Markdown)
        await until(pilot, lambda: box.source == "In plain words: **step 0** sets things up.")
        assert box.has_class("-shown") and box.display
        assert notes_md(app).source == "# The notes\n"


async def test_ask_screen_keeps_the_conversation(llm_server, tmp_path):
    keeper = make_keeper(llm_server, tmp_path / "s")
    keeper.add_final(final(0, "entropy always increases in a closed system"))
    llm_server.enqueue_text("Entropy measures **disorder**.", chunks=6, delay_s=0.01)
    llm_server.enqueue_text("The second law.", chunks=3)
    app = Host(keeper)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, AskScreen)

        for question in ("What is entropy?", "Which law?"):
            screen.query_one("#ask-input", Input).value = question
            await pilot.press("enter")
            await until(pilot, lambda: not screen.waiting)
        assert screen.conversation == [("What is entropy?", "Entropy measures **disorder**."),
                                       ("Which law?", "The second law.")]
        shown_questions = [str(s.content) for s in screen.query(".ask-question").results(Static)]
        shown_answers = [m.source for m in screen.query(".ask-answer").results(Markdown)]
        assert shown_questions == ["Q: What is entropy?", "Q: Which law?"]
        assert shown_answers == ["Entropy measures **disorder**.", "The second law."]
        second = llm_server.requests[1]
        assert "What is entropy?" in second.prompt_text and "Entropy measures **disorder**." in second.prompt_text

        await pilot.press("escape")
        assert not isinstance(app.screen, AskScreen)
        await pilot.press("a")  # reopened, the conversation is still there
        reopened = app.screen
        assert isinstance(reopened, AskScreen)
        assert [m.source for m in reopened.query(".ask-answer").results(Markdown)] == shown_answers
    assert (tmp_path / "s" / "qa.md").read_text(encoding="utf-8").count("## [") == 2


async def test_ask_screen_shows_an_error_and_lets_the_user_ask_again(llm_server, tmp_path):
    keeper = make_keeper(llm_server, tmp_path / "s")
    keeper.add_final(final(0))
    llm_server.enqueue_error(402, "no money")
    app = Host(keeper)
    async with app.run_test() as pilot:
        await pilot.press("a")
        screen = app.screen
        screen.query_one("#ask-input", Input).value = "Anything?"
        await pilot.press("enter")
        await until(pilot, lambda: not screen.waiting)
        assert "insufficient balance" in str(screen.query_one("#ask-status", Static).content)
        assert screen.conversation == []
        screen.query_one("#ask-input", Input).value = "Again?"
        await pilot.press("enter")
        await until(pilot, lambda: not screen.waiting)
        assert [q for q, _ in screen.conversation] == ["Again?"]
