"""The room's page in a real browser: Debian's headless Chromium driven by selenium (live/bench/browser.py),
reading a room fed by a real session that replays a real clip with Whisper tiny.en, served by a real
uvicorn; translations come from the tests' local OpenAI-compatible server."""

from __future__ import annotations

import threading
import time

import pytest

from audio_helpers import DATA
from live.bench.browser import PHONE, PROJECTOR, available, chromium, set_size
from live.captions import Caption
from live.config import Settings
from live.events import Finished, Marker, SpeakerLabel
from live.room import Room, RoomOptions
from live.room.share import ShareOptions, ShareServer
from live.session import SessionOptions, build_session
from room_helpers import final, partial

pytestmark = pytest.mark.slow

FINALS_JS = "return [...document.querySelectorAll('#captions > p .orig')].map(e => e.textContent)"


@pytest.fixture(scope="module")
def browser():
    missing = available()
    if missing:
        pytest.skip(missing)
    with chromium(PROJECTOR) as driver:
        yield driver


@pytest.fixture
def page(browser):
    """The browser on a blank page at projector size, with any extra tabs closed afterwards."""
    set_size(browser, PROJECTOR)
    yield browser
    for handle in browser.window_handles[1:]:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(browser.window_handles[0])
    browser.get("about:blank")
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})


def until(driver, script: str, timeout: float = 15.0, *args):
    """Poll ``script`` in the page until it returns something truthy; that value (AssertionError if never)."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never satisfied: {script}")
        time.sleep(0.05)


def finals_on(driver) -> list[str]:
    return driver.execute_script(FINALS_JS)


class Lecture:
    """A real session replaying a clip in real time, its events teed to ``room`` as a front end would."""

    def __init__(self, tmp_path, engine, room: Room, clip=DATA / "jfk.flac", fast: bool = False,
                 hold_end: bool = False) -> None:
        self.room = room
        self.hold_end = hold_end  # keep the room open after the session (the test ends it)
        self.finals: list[Caption] = []
        self.partials = 0
        self.done = threading.Event()
        settings = Settings(input=clip, engine="whisper", session_dir=tmp_path / "sessions", fast=fast, headless=True)
        self.session = build_session(settings, self.sink, SessionOptions(notes="off", partials=True),
                                     load_engine=lambda _s: (engine, "whisper tiny.en (test)"))
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sink(self, event: object) -> None:
        if isinstance(event, Caption) and event.text:
            if event.kind == "final":
                self.finals.append(event)
            else:
                self.partials += 1
        if isinstance(event, Finished):
            self.done.set()
            if self.hold_end:
                return
        self.room.publish(event)

    def _run(self) -> None:
        try:
            self.session.run()
        finally:
            self.session.close()

    def start(self) -> Lecture:
        self.thread.start()
        return self

    def texts(self) -> list[str]:
        return [c.text.strip() for c in self.finals]


def shared_room(**options) -> tuple[Room, ShareServer]:
    room = Room(RoomOptions(title="Rhetoric 101", **options))
    server = ShareServer(room, ShareOptions(port=0))
    server.start()
    return room, server


def test_the_page_shows_a_real_lecture_as_it_is_said_and_a_late_viewer_the_lecture_so_far(page, tmp_path,
                                                                                           whisper_engine):
    from live.room.process import SharedRoom

    server = room = SharedRoom(ShareOptions(port=0), RoomOptions(title="Rhetoric 101"))  # live --share's room
    room.start()
    try:
        page.get(server.url)
        until(page, "return document.getElementById('state').dataset.state === 'live'")
        lecture = Lecture(tmp_path, whisper_engine, room).start()
        until(page, "return document.querySelectorAll('#captions > p').length >= 1", 20)
        assert not lecture.done.is_set()  # shown while the lecture goes on, not at its end
        shown_first = finals_on(page)
        assert shown_first and shown_first[0] == lecture.texts()[0]
        # A second viewer who opens the page now sees the lecture so far at once.
        page.switch_to.new_window("tab")
        page.get(server.url)
        late = until(page, f"const t = {FINALS_JS[7:]}; return t.length >= {len(shown_first)} && t", 5)
        assert late[:len(shown_first)] == shown_first
        assert lecture.done.wait(30)
        room.finish(timeout=5)
        for handle in page.window_handles:  # both viewers: every final, once, in order, then the end
            page.switch_to.window(handle)
            until(page, "return document.getElementById('state').dataset.state === 'ended'", 10)
            assert finals_on(page) == lecture.texts()
            assert "ended" in page.find_element("id", "notice").text
        assert "your country" in " ".join(lecture.texts()).lower()
    finally:
        room.finish(timeout=1)


def test_a_server_restart_mid_lecture_resumes_the_page_with_no_gap_and_no_duplicate(page, tmp_path, whisper_engine):
    room, server = shared_room()
    try:
        page.get(server.url)
        lecture = Lecture(tmp_path, whisper_engine, room, clip=DATA / "realpython_harvard.flac").start()
        until(page, "return document.querySelectorAll('#captions > p').length >= 1", 20)
        port = server.port
        server.stop()  # the web server goes away mid-lecture; the session goes on
        until(page, "return document.getElementById('state').dataset.state === 'reconnecting'", 10)
        time.sleep(1.5)  # captions said meanwhile must come back when the page resumes
        server.options.port = port
        server.start()
        until(page, "return document.getElementById('state').dataset.state === 'live'", 20)
        assert lecture.done.wait(40)
        room.finish(timeout=5)
        until(page, "return document.getElementById('state').dataset.state === 'ended'", 10)
        assert finals_on(page) == lecture.texts() and len(lecture.texts()) >= 3
    finally:
        server.stop()


def test_choosing_a_language_shows_the_translations_of_the_lecture_so_far_and_then_as_they_come(
        page, tmp_path, whisper_engine, llm_server, monkeypatch):
    from live.llm import LLMSettings
    from live.translate import TranslateOptions, translator_for
    from translate_helpers import KEY, translating

    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    llm_server.responder = translating
    options = TranslateOptions(min_interval_s=0.0)
    room = Room(RoomOptions(title="Rhetoric 101", languages=("zh",)), make_translator=lambda lang: translator_for(
        LLMSettings(base_url=llm_server.url + "/v1", model="m"), lang, options=options))
    server = ShareServer(room, ShareOptions(port=0))
    server.start()
    try:
        lecture = Lecture(tmp_path, whisper_engine, room, fast=True, hold_end=True).start()
        assert lecture.done.wait(30)
        page.get(server.url)
        until(page, f"return document.querySelectorAll('#captions > p').length === {len(lecture.finals)}")
        assert page.find_elements("css selector", "#captions .tr") == []
        page.find_element("id", "settings-button").click()
        select = page.find_element("id", "lang")
        assert "Simplified Chinese" in select.text
        select.find_element("css selector", "option[value=zh]").click()
        translated = until(page, "const t = [...document.querySelectorAll('#captions .tr')].map(e => e.textContent);"
                                 f"return t.length === {len(lecture.finals)} && t")
        assert translated == [f"译{c.index}：{c.text.strip()}" for c in lecture.finals]
        assert finals_on(page) == lecture.texts()  # no caption came twice with the new stream
        page.refresh()  # the choice is remembered in this browser
        until(page, f"return document.querySelectorAll('#captions .tr').length === {len(lecture.finals)}")
        assert page.execute_script("return document.getElementById('lang').value") == "zh"
    finally:
        page.execute_script("localStorage.clear()")
        server.close(timeout=2)


def _fill(room: Room, n: int = 40) -> None:
    for i in range(n):
        room.publish(final(i, f"Sentence {i}: the Fourier transform of a rectangular pulse is a sinc function."))
        if i == 12:
            room.publish(Marker("bookmark", 37.0, "exam question"))
    room.publish(partial(n, "and the partial line being said right now"))


def test_the_page_reads_well_on_a_phone_and_the_projector_view_only_by_choice(page):
    room, server = shared_room()
    try:
        _fill(room)
        set_size(page, PHONE)
        page.get(server.url)
        until(page, "return document.querySelectorAll('#captions > p').length === 40")
        layout = page.execute_script(
            "const s = document.getElementById('scroller');"
            "return {width: innerWidth, overflow: document.documentElement.scrollWidth > innerWidth,"
            " atEnd: s.scrollHeight - s.scrollTop - s.clientHeight < 40,"
            " font: parseFloat(getComputedStyle(s).fontSize), live: document.getElementById('captions').getAttribute('aria-live')}")
        assert layout == {"width": 390, "overflow": False, "atEnd": True, "font": pytest.approx(20.8), "live": "polite"}
        # The default view on a 1920×1080 screen stays the default view.
        set_size(page, PROJECTOR)
        page.get(server.url)
        until(page, "return document.querySelectorAll('#captions > p').length === 40")
        assert page.execute_script("return document.documentElement.classList.contains('projector')") is False
        assert page.find_element("id", "bar").is_displayed()
        # The projector view: big lines, no chrome, at most three lines.
        page.get(server.url + "?view=projector")
        until(page, "return document.querySelectorAll('#captions > p').length === 40")
        view = page.execute_script(
            "const l = document.getElementById('lines'), lh = parseFloat(getComputedStyle(l).lineHeight);"
            "return {lines: Math.round(l.clientHeight / lh), font: parseFloat(getComputedStyle(l).fontSize),"
            " chrome: [...document.querySelectorAll('.chrome')].some(e => e.offsetParent !== null),"
            " bg: getComputedStyle(document.body).backgroundColor}")
        assert view["lines"] <= 3 and view["font"] >= 70 and not view["chrome"] and view["bg"] == "rgb(0, 0, 0)"
        assert page.find_element("id", "partial").text == "and the partial line being said right now"
    finally:
        server.stop()


def test_keyboard_only_use_and_scrolling_back_to_read(page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    room, server = shared_room()
    try:
        _fill(room)
        set_size(page, PHONE)
        page.get(server.url)
        until(page, "return document.querySelectorAll('#captions > p').length === 40")
        keys = ActionChains(page)
        keys.send_keys(Keys.TAB, Keys.TAB).perform()  # skip link, then Settings
        assert page.switch_to.active_element.get_attribute("id") == "settings-button"
        keys.send_keys(Keys.ENTER).perform()
        assert page.find_element("id", "settings").is_displayed()
        assert page.switch_to.active_element.get_attribute("id") == "lang"
        page.execute_script("document.getElementById('scroller').focus()")
        ActionChains(page).send_keys("+").perform()
        assert page.find_element("id", "size").text == "110%"
        # Scrolling back stops following the end and offers the way back.
        page.execute_script("document.getElementById('scroller').scrollTop = 0")
        until(page, "return !document.getElementById('live-button').hidden")
        room.publish(final(40, "A new sentence while the viewer reads back."))
        until(page, "return document.querySelectorAll('#captions > p').length === 41")
        assert page.execute_script("return document.getElementById('scroller').scrollTop") == 0  # left where it was
        ActionChains(page).send_keys(Keys.END).perform()
        until(page, "const s = document.getElementById('scroller');"
                    "return s.scrollHeight - s.scrollTop - s.clientHeight < 40 && document.getElementById('live-button').hidden")
        ActionChains(page).send_keys("p").perform()
        assert page.execute_script("return document.documentElement.classList.contains('projector')")
        assert "view=projector" in page.current_url
        ActionChains(page).send_keys(Keys.ESCAPE).perform()
        assert not page.execute_script("return document.documentElement.classList.contains('projector')")
    finally:
        page.execute_script("localStorage.clear()")
        server.stop()


def test_reduced_motion_is_respected():
    missing = available()
    if missing:
        pytest.skip(missing)
    room, server = shared_room()
    try:
        _fill(room, 5)
        with chromium(PHONE, reduced_motion=True) as driver:
            driver.get(server.url)
            until(driver, "return document.querySelectorAll('#captions > p').length === 5")
            assert driver.execute_script("return matchMedia('(prefers-reduced-motion: reduce)').matches")
            assert driver.execute_script(
                "return getComputedStyle(document.getElementById('live-button')).transitionDuration") == "0s"
    finally:
        server.stop()


def test_a_rotated_code_leaves_the_page_with_its_captions_and_says_so(page):
    room, server = shared_room()
    try:
        _fill(room, 3)
        page.get(server.url)
        until(page, "return document.querySelectorAll('#captions > p').length === 3")
        room.rotate()
        until(page, "return document.getElementById('state').dataset.state === 'closed'", 10)
        assert "code was changed" in page.find_element("id", "notice").text
        assert len(finals_on(page)) == 3
        page.refresh()  # the old link no longer opens the room
        assert "No such room" in page.page_source
    finally:
        server.stop()


def test_the_classroom_server_restarted_mid_lecture_the_page_resumes_with_no_duplicate(page, tmp_path, monkeypatch):
    from live.room.client import ServerRoom
    from serve_helpers import ServeProcess

    serve = ServeProcess(tmp_path / "serve").start()
    try:
        monkeypatch.setenv("LIVE_SERVER_API_KEY", serve.key())
        room = ServerRoom(f"http://127.0.0.1:{serve.port}", None, RoomOptions(title="Physics"))
        url = room.start()
        for i in range(4):
            room.publish(final(i, f"Sentence {i} before the restart."))
        page.get(url)
        until(page, "return document.querySelectorAll('#captions > p').length === 4")
        serve.kill()  # the classroom server dies mid-lecture
        until(page, "return document.getElementById('state').dataset.state === 'reconnecting'", 10)
        for i in range(4, 7):
            room.publish(final(i, f"Sentence {i} while the server was down."))
        serve.start()
        room.publish(final(7, "Sentence 7 after the restart."))
        shown = until(page, f"const t = {FINALS_JS[7:]}; return t.length >= 8 && t", 40)
        assert shown == [f"Sentence {i} before the restart." for i in range(4)] + [
            f"Sentence {i} while the server was down." for i in range(4, 7)] + ["Sentence 7 after the restart."]
        assert page.execute_script("return document.getElementById('state').dataset.state") == "live"
        room.publish(Finished(None))
        room.finish(timeout=5)
        until(page, "return document.getElementById('state').dataset.state === 'ended'", 10)
        assert len(finals_on(page)) == 8
    finally:
        serve.stop()


def test_a_question_from_the_room_is_marked_in_words_and_a_label_taken_back_unmarks_it(page):
    room, server = shared_room()
    try:
        room.publish(final(0, "The transform of a pulse is a sinc."))
        room.publish(SpeakerLabel(0, "lecturer"))
        room.publish(SpeakerLabel(1, "audience", 1))  # a label may come before its final reaches the page
        room.publish(final(1, "Why is it a sinc?"))
        page.get(server.url)
        marked = ("return [...document.querySelectorAll('#captions > p')].map("
                  "p => (p.querySelector('.who') ? p.querySelector('.who').textContent + ': ' : '') + "
                  "p.querySelector('.orig').textContent)")
        until(page, marked + ".length === 2")
        assert page.execute_script(marked) == ["The transform of a pulse is a sinc.", "Question: Why is it a sinc?"]
        room.publish(SpeakerLabel(1, "lecturer"))  # the labeller changed its mind
        until(page, "return !document.querySelector('#captions > p.audience')")
        assert page.execute_script(marked) == ["The transform of a pulse is a sinc.", "Why is it a sinc?"]
    finally:
        server.stop()
