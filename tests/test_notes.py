"""live.notes: rolling notes, explain, questions and offline summaries, against a real local server."""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from pathlib import Path

import pytest
from notes_helpers import KEY, Cap, Clock, Events, final, make_keeper, settings_for

from live.errors import ConfigError, InputError, SessionError
from live.llm import IncompleteResponse, LLMClient, ServerError, client_factory
from live.notes import (
    Conversation,
    Final,
    NotesKeeper,
    NotesService,
    NothingYet,
    summarize_main,
    summarize_session,
)
from live.transcript import parse_line


@pytest.fixture
def session(tmp_path: Path) -> Path:
    return tmp_path / "2026-03-02_0900"


def summary_of(session: Path) -> str:
    return (session / "summary.md").read_text(encoding="utf-8")


# --- what goes to the model ---------------------------------------------------------------------


def test_update_sends_the_previous_notes_and_only_the_new_finals(llm_server, session):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0, "alphaword photosynthesis turns light into sugar"))
    assert not keeper.add_final(Cap("partial", 9, 10, "zebraword a partial guess"))
    assert not keeper.add_final({"type": "bookmark", "at": 9.5, "note": "exam"})
    keeper.add_final(final(1, "gammaword the light reactions happen in the thylakoid"))
    first = keeper.update()
    assert summary_of(session) == first
    first_request = llm_server.requests[0].prompt_text
    assert "alphaword" in first_request and "gammaword" in first_request
    assert "zebraword" not in first_request

    keeper.add_final(Cap("partial", 20, 22, "quokkaword still being decoded"))
    keeper.add_final(final(2, "betaword chlorophyll absorbs red and blue light"))
    second = keeper.update()
    body = llm_server.requests[1].prompt_text
    assert first.strip() in body  # the previous notes
    assert "betaword" in body  # the new final
    for absent in ("alphaword", "gammaword", "zebraword", "quokkaword"):
        assert absent not in body
    assert summary_of(session) == second
    assert second != first


def test_request_order_keeps_the_stable_prefix_first(llm_server, session):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0))
    keeper.update()
    keeper.add_final(final(1, "newestword closing remark"))
    keeper.update()
    system, user = llm_server.requests[1].messages
    assert system["role"] == "system" and "`[unclear]`" in system["content"]
    assert system == llm_server.requests[0].messages[0]  # identical system prompt: a cacheable prefix
    assert user["content"].index("# Notes so far") < user["content"].index("newestword")
    assert user["content"].rstrip().endswith("newestword closing remark")


def test_earlier_notes_are_kept_with_their_time(llm_server, session):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0))
    first = keeper.update()
    keeper.add_final(final(1))
    keeper.add_final(final(2))
    second = keeper.update()
    history = sorted((session / "notes").glob("summary-*.md"))
    assert [p.read_text(encoding="utf-8") for p in history] == [first]
    assert len(history[0].stem) == len("summary-HHMMSS")
    assert summary_of(session) == second
    assert not list(session.rglob("*.tmp"))


def test_nothing_to_do(llm_server, session):
    keeper = make_keeper(llm_server, session)
    with pytest.raises(NothingYet, match="no captions yet"):
        keeper.update()
    keeper.add_final(final(0))
    notes = keeper.update()
    assert keeper.update() == notes  # nothing new: no request
    assert len(llm_server.requests) == 1


def test_a_resumed_session_refines_its_saved_notes(llm_server, session):
    session.mkdir(parents=True)
    (session / "summary.md").write_text("# Saved notes\n\n- **resumedmarker** from before\n", encoding="utf-8")
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0))
    keeper.update()
    assert "resumedmarker" in llm_server.requests[0].prompt_text


def test_notes_language_follows_the_lecture_or_the_setting(llm_server, session, tmp_path):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0, "我们今天讲线性代数", language="zh"))
    keeper.add_final(final(1, "矩阵乘法 matrix multiplication", language="zh"))
    keeper.update()
    assert "Write in Chinese (简体中文), the language of the lecture." in llm_server.requests[0].messages[0]["content"]
    english = make_keeper(llm_server, tmp_path / "other", notes_language="English")
    english.add_final(final(0, "我们今天讲线性代数", language="zh"))
    english.update()
    assert "Write in English." in llm_server.requests[1].messages[0]["content"]


# A Chinese science lecture, code-switched as they are: mostly Mandarin, an English sentence, English terms.
CHINESE_LECTURE = [
    ("zh", "今天我们讲信息论里面最重要的一个概念，就是熵，英文叫 entropy"),
    ("zh", "熵衡量的是一个随机变量的不确定性，不确定性越大，熵就越大"),
    ("en", "As Shannon put it, information is the resolution of uncertainty."),
    ("zh", "我们用 Kullback-Leibler divergence 来比较两个概率分布之间的差别"),
    ("zh", "下周的作业是第三章的习题，星期五之前交"),
]
CHINESE_SHAPE = ["# 讲座内容摘要", "## 1. 核心主题", "## 2. 主要知识点与结构", "## 3. 重要细节", "## 4. 拓展与补充",
                 "## 5. 总结"]


def _assert_chinese_notes_request(system: str) -> None:
    assert "Write in Chinese (简体中文), the language of the lecture." in system
    positions = [system.index(heading) for heading in CHINESE_SHAPE]
    assert positions == sorted(positions)  # the headings in the order of the shape
    assert "照原样用英文写，不要翻译成中文" in system  # English terms kept as the lecturer said them
    assert "## Important details" not in system and "## Summary" not in system


def test_a_chinese_lecture_gets_chinese_notes_in_the_chinese_shape(llm_server, session):
    keeper = make_keeper(llm_server, session)
    for i, (language, text) in enumerate(CHINESE_LECTURE):
        keeper.add_final(final(i, text, language=language))
    keeper.update()
    system, user = llm_server.requests[0].messages
    _assert_chinese_notes_request(system["content"])
    assert "Kullback-Leibler divergence" in user["content"] and "Shannon" in user["content"]


def test_an_english_lecture_keeps_the_english_shape(llm_server, session):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0))
    keeper.update()
    system = llm_server.requests[0].messages[0]["content"]
    assert "Write in English, the language of the lecture." in system
    assert "## Important details" in system and "讲座内容摘要" not in system


def test_chinese_notes_when_asked_for_by_name_and_traditional_when_the_transcript_is(llm_server, session, tmp_path):
    keeper = make_keeper(llm_server, session, notes_language="中文")
    keeper.add_final(final(0))  # an English lecture, Chinese notes asked for
    keeper.update()
    assert "讲座内容摘要" in llm_server.requests[0].messages[0]["content"]
    taiwan = make_keeper(llm_server, tmp_path / "tw")
    taiwan.add_final(final(0, "熵衡量的是一個隨機變量的不確定性，不確定性越大，熵就越大", language="zh"))
    taiwan.update()
    assert "Write in Chinese (繁體中文), the language of the lecture." in llm_server.requests[1].messages[0]["content"]


def test_summarize_a_chinese_session_asks_for_chinese_notes(llm_server, session):
    session.mkdir(parents=True)
    lines = [{"type": "final", "start": i * 10.0, "end": i * 10.0 + 8.0, "text": text, "language": language}
             for i, (language, text) in enumerate(CHINESE_LECTURE)]
    (session / "transcript.jsonl").write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                                              encoding="utf-8")
    settings = settings_for(llm_server)
    summarize_session(session, LLMClient(settings, KEY), settings)
    (req,) = llm_server.requests
    _assert_chinese_notes_request(req.messages[0]["content"])
    assert "熵就越大" in req.last_user


def test_prompts_can_be_overridden_by_the_user(llm_server, session, tmp_path):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "refine.md").write_text("MYREFINE {{notes}} ||| {{transcript}}", encoding="utf-8")
    keeper = make_keeper(llm_server, session, prompts_dir=prompts)
    keeper.add_final(final(0, "lambdaword"))
    keeper.update()
    assert llm_server.requests[0].last_user.startswith("MYREFINE (none yet")
    assert llm_server.requests[0].last_user.endswith("lambdaword")

    (prompts / "refine.md").write_text("I forgot the placeholders", encoding="utf-8")
    broken = make_keeper(llm_server, tmp_path / "s2", prompts_dir=prompts)
    broken.add_final(final(0))
    with pytest.raises(ConfigError, match=r"lacks \{\{notes\}\}, \{\{transcript\}\}"):
        broken.update()


def test_a_callable_context_is_resolved_once_on_the_notes_worker(llm_server, session):
    """The slides may be handed over unread: the worker reads them, not the thread making the keeper."""
    calls: list[str] = []

    def slides() -> str:
        calls.append(threading.current_thread().name)
        return "  # Slides\n\nslidemarker eigenvalues  \n"

    settings = settings_for(llm_server)
    keeper = NotesKeeper(LLMClient(settings, KEY), session, settings, clock=Clock(), context=slides)
    assert calls == []  # not called while the keeper is made
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        for i in range(2):
            keeper.add_final(final(i))
            service.request("update")
            events.ended("update", i + 1)
        assert [e.kind for e in events.ended("update", 2)] == ["done", "done"]
        assert calls == ["live-notes"] and threading.current_thread().name != "live-notes"
        systems = [r.messages[0]["content"] for r in llm_server.requests]
        assert len(systems) == 2 and systems[0] == systems[1]
        assert systems[0].endswith("\n\n# Slides\n\nslidemarker eigenvalues")
    finally:
        service.close()


def test_a_context_that_fails_ends_the_update_with_its_message_and_is_tried_again(llm_server, session):
    calls: list[int] = []

    def slides() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise InputError("deck.pdf has no text layer; export the slides again with text")
        return "# Slides\n\nslidemarker"

    settings = settings_for(llm_server)
    keeper = NotesKeeper(LLMClient(settings, KEY), session, settings, clock=Clock(), context=slides)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(0))
        service.request("update")
        (end,) = events.ended("update")
        assert end.kind == "error" and end.error == "InputError"
        assert end.text == "deck.pdf has no text layer; export the slides again with text"
        assert llm_server.requests == [] and keeper.pending == 1

        service.request("update")
        assert events.ended("update", 2)[1].kind == "done"
        assert calls == [1, 1] and keeper.pending == 0
        assert "slidemarker" in llm_server.requests[0].messages[0]["content"]
    finally:
        service.close()


def test_new_finals_beyond_the_budget_are_refined_chunk_by_chunk(llm_server, session):
    keeper = make_keeper(llm_server, session, context_budget_tokens=1200)
    for i in range(60):
        keeper.add_final(final(i))
    tokens: list[str] = []
    notes = keeper.update(on_token=tokens.append)
    n = len(llm_server.requests)
    assert n >= 3
    seen: list[int] = []
    for req in llm_server.requests:
        seen += [i for i in range(60) if f"w{i:03d}x" in req.last_user]
    assert seen == list(range(60))  # every final exactly once, in order
    for earlier, later in zip(llm_server.requests, llm_server.requests[1:]):
        assert "# Notes" in later.last_user  # each chunk refines the notes of the one before
    assert "".join(tokens) == llm_server_answer_of(llm_server, -1)  # only the last chunk streamed
    assert summary_of(session) == notes and keeper.pending == 0


def llm_server_answer_of(server, index: int) -> str:
    from llm_server import echo_answer

    return echo_answer(server.requests[index].body)


# --- the schedule -------------------------------------------------------------------------------


def test_rolling_updates_fire_on_the_injected_clock(llm_server, session):
    clock = Clock(1000.0)
    keeper = make_keeper(llm_server, session, clock, interval_minutes=5)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(0))
        clock.now = 1000 + 299
        assert not keeper.due() and not service.tick()
        clock.now = 1000 + 300
        assert keeper.due()
        assert service.tick()
        events.ended("update", 1)
        assert len(llm_server.requests) == 1
        assert not service.tick()  # the interval starts again, and nothing new
        keeper.add_final(final(1))
        clock.now = 1300 + 299
        assert not service.tick()
        clock.now = 1300 + 300
        assert service.tick()
        events.ended("update", 2)
        assert len(llm_server.requests) == 2
        clock.now = 10_000
        assert not keeper.due()  # no new finals: no update
    finally:
        service.close()


def test_the_service_ticks_on_its_own(llm_server, session):
    clock = Clock(0.0)
    keeper = make_keeper(llm_server, session, clock, interval_minutes=5)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=0.02)
    try:
        keeper.add_final(final(0))
        time.sleep(0.2)
        assert llm_server.requests == []
        clock.now = 300.0
        events.ended("update", 1, timeout=3)
        assert len(llm_server.requests) == 1 and events.kinds("update")[-1] == "done"
    finally:
        service.close()


def test_interval_zero_turns_rolling_updates_off(llm_server, session):
    clock = Clock()
    keeper = make_keeper(llm_server, session, clock, interval_minutes=0)
    keeper.add_final(final(0))
    clock.now = 1e6
    assert not keeper.due()


def test_a_failed_rolling_update_is_retried_a_minute_later_not_at_every_tick(llm_server, session):
    clock = Clock(0.0)
    keeper = make_keeper(llm_server, session, clock, interval_minutes=5)
    keeper.add_final(final(0))
    llm_server.enqueue_error(503, "busy", times=3)
    clock.now = 300
    with pytest.raises(ServerError):
        keeper.update()
    clock.now = 330
    assert not keeper.due()
    clock.now = 360
    assert keeper.due()


def test_requests_during_a_slow_one_are_coalesced(llm_server, session):
    keeper = make_keeper(llm_server, session)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        llm_server.enqueue_text("# Notes\n\n" + "slow answer " * 20, chunks=10, delay_s=0.05)
        keeper.add_final(final(0))
        assert service.request("update")
        assert llm_server.wait_for_requests(1)
        keeper.add_final(final(1))
        assert service.request("update")  # runs after the one in flight
        keeper.add_final(final(2))
        assert not service.request("update")  # coalesced into the waiting one
        assert service.wait_idle(5)
        assert len(llm_server.requests) == 2
        second = llm_server.requests[1].last_user
        assert "w001x" in second and "w002x" in second and "w000x" not in second
        kinds = events.kinds("update")
        assert kinds[:12] == ["started"] + ["token"] * 10 + ["done"]  # the slow answer, in 10 pieces
        assert kinds[12] == "started" and kinds[-1] == "done" and set(kinds[13:-1]) == {"token"}
    finally:
        service.close()


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, error, fragment", [
    (401, "AuthError", "rejected the API key"),
    (402, "BalanceError", "insufficient balance"),
])
def test_auth_and_balance_errors_reach_the_ui_after_one_request(llm_server, session, status, error, fragment):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0))
    before = keeper.update()
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(1))
        llm_server.enqueue_error(status, "scripted")
        service.request("update")
        (end,) = events.ended("update")
        assert end.kind == "error" and end.error == error and fragment in end.text
        assert len(llm_server.requests) == 2  # the earlier success, then exactly one
        assert summary_of(session) == before == keeper.notes
    finally:
        service.close()


def test_server_errors_exhaust_retries_and_keep_the_previous_notes(llm_server, session):
    keeper = make_keeper(llm_server, session, max_retries=2)
    keeper.add_final(final(0))
    before = keeper.update()
    keeper.add_final(final(1, "lostword must not be lost"))
    llm_server.enqueue_error(500, "boom", times=3)
    with pytest.raises(ServerError):
        keeper.update()
    assert len(llm_server.requests) == 1 + 3
    assert summary_of(session) == before == keeper.notes
    assert keeper.pending == 1
    keeper.update()  # the next update still carries the final that failed
    assert "lostword" in llm_server.requests[-1].last_user and keeper.pending == 0


def test_a_stream_cut_halfway_changes_nothing(llm_server, session):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0))
    before = keeper.update()
    keeper.add_final(final(1))
    llm_server.enqueue_cut("# Half of the new notes that never finish", after_chunks=3)
    streamed: list[str] = []
    with pytest.raises(IncompleteResponse):
        keeper.update(on_token=streamed.append)
    assert streamed  # the user saw it streaming ...
    assert summary_of(session) == before == keeper.notes  # ... but it was not saved
    assert not (session / "notes").exists()


def test_a_hang_times_out_into_an_error_event(llm_server, session):
    keeper = make_keeper(llm_server, session, timeout_s=0.3, max_retries=0)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(0))
        llm_server.enqueue_hang()
        service.request("update")
        (end,) = events.ended("update", timeout=5)
        assert end.error == "LLMTimeout" and "sent nothing for 0.3 s" in end.text
        assert not (session / "summary.md").exists()
    finally:
        service.close()


def test_cancel_during_a_hang_returns_within_a_second(llm_server, session):
    keeper = make_keeper(llm_server, session, timeout_s=60.0)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(0))
        llm_server.enqueue_hang()
        service.request("update")
        service.request("explain")
        assert llm_server.hanging.wait(5)
        began = time.monotonic()
        service.cancel()
        (end,) = events.ended("update", timeout=2)
        assert time.monotonic() - began < 1.0
        assert end.error == "Cancelled"
        assert service.wait_idle(1)
        assert events.kinds("explain") == []  # the waiting request was dropped
        assert not (session / "summary.md").exists()
        # The service still works afterwards.
        service.request("update")
        assert events.ended("update", 2)[-1].kind == "done"
    finally:
        service.close()


def test_close_during_a_hang_returns_promptly(llm_server, session):
    keeper = make_keeper(llm_server, session, timeout_s=60.0)
    service = NotesService(keeper, Events(), tick_every_s=None)
    keeper.add_final(final(0))
    llm_server.enqueue_hang(after_chunks=2)
    service.request("update")
    assert llm_server.hanging.wait(5)
    began = time.monotonic()
    assert service.close(timeout=2.0)
    assert time.monotonic() - began < 1.0
    assert not service.request("update")


def test_flush_brings_the_notes_up_to_date_before_quitting(llm_server, session):
    keeper = make_keeper(llm_server, session)
    service = NotesService(keeper, Events(), tick_every_s=None)
    try:
        for i in range(3):
            keeper.add_final(final(i))
        assert service.flush(timeout=5)
        assert keeper.pending == 0 and "w002x" in llm_server.requests[-1].last_user
        keeper.add_final(final(3))
        llm_server.enqueue_hang()
        began = time.monotonic()
        assert not service.flush(timeout=0.5)  # a hung model cannot hold the quit for long
        assert time.monotonic() - began < 2.0
    finally:
        service.close()


def test_no_key_reaches_the_ui_as_the_hint_without_any_request(llm_server, session):
    settings = settings_for(llm_server)
    keeper = NotesKeeper(client_factory(settings, env={}), session, settings)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(0))
        service.request("update")
        (end,) = events.ended("update")
        assert end.error == "NoAPIKey"
        assert "LIVE_LLM_API_KEY" in end.text and "llm.api_key_file" in end.text
        assert llm_server.requests == []
    finally:
        service.close()


def test_the_key_never_reaches_session_files_or_logs(llm_server, session, caplog):
    caplog.set_level(logging.DEBUG)
    settings = settings_for(llm_server, max_retries=1)
    keeper = NotesKeeper(client_factory(settings, env={"LIVE_LLM_API_KEY": KEY}, sleep=lambda _s: None),
                         session, settings)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(0))
        service.request("update")
        service.request("ask", question="what was step 0?")
        service.request("explain")
        assert service.wait_idle(10)
        keeper.add_final(final(1))
        llm_server.enqueue_error(500, f"trace for {KEY}")
        llm_server.enqueue_error(400, f"bad request by {KEY}")
        service.request("update")
        (_, failed) = events.ended("update", 2)
        assert failed.kind == "error" and KEY not in failed.text
    finally:
        service.close()
    assert llm_server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was really sent
    files = [p for p in session.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"summary.md", "qa.md"}
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in caplog.text
    assert all(KEY not in e.text for e in events.items)


# --- explain and questions ------------------------------------------------------------------------


def test_explain_recent_sends_only_the_last_minute(llm_server, session):
    keeper = make_keeper(llm_server, session)
    for i in range(30):  # finals every 10 s; the last ends at 298 s
        keeper.add_final(final(i))
    tokens: list[str] = []
    text = keeper.explain_recent(60, on_token=tokens.append)
    assert text == "".join(tokens).strip()
    sent = llm_server.requests[0].last_user
    assert [i for i in range(30) if f"w{i:03d}x" in sent] == list(range(24, 30))
    assert "The last 60 seconds (04:00–04:58)" in sent
    assert not (session / "summary.md").exists()  # an explanation is not the notes


def test_conversation_keeps_the_history_and_saves_qa_md(llm_server, session):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0, "firstfact entropy always increases"))
    convo = Conversation(keeper)
    llm_server.enqueue_text("Entropy is a measure of disorder (answerone).")
    assert convo.ask("What is entropyquestion?") == "Entropy is a measure of disorder (answerone)."
    keeper.add_final(final(1, "secondfact the second law"))
    llm_server.enqueue_text("It is the second law (answertwo).")
    convo.ask("Which law was itquestion?")

    first, second = llm_server.requests
    roles = [m["role"] for m in second.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert second.messages[:2] == first.messages  # the opening is unchanged: a cacheable prefix
    assert "What is entropyquestion?" in second.messages[1]["content"]
    assert second.messages[2]["content"] == "Entropy is a measure of disorder (answerone)."
    assert "firstfact" in second.messages[1]["content"] and "firstfact" not in second.last_user
    assert "secondfact" in second.last_user and "Which law was itquestion?" in second.last_user

    qa = (session / "qa.md").read_text(encoding="utf-8")
    for part in ("What is entropyquestion?", "answerone", "Which law was itquestion?", "answertwo"):
        assert part in qa
    assert [t.question for t in convo.turns] == ["What is entropyquestion?", "Which law was itquestion?"]


def test_a_failed_answer_is_not_saved(llm_server, session):
    keeper = make_keeper(llm_server, session)
    keeper.add_final(final(0))
    convo = Conversation(keeper)
    llm_server.enqueue_cut("A half answer that breaks off", after_chunks=2)
    with pytest.raises(IncompleteResponse):
        convo.ask("Will this be saved?")
    assert convo.turns == [] and not (session / "qa.md").exists()
    convo.ask("Second try?")
    assert len(convo.turns) == 1
    assert "Will this be saved?" not in (session / "qa.md").read_text(encoding="utf-8")


def test_service_streams_ask_and_explain_events_in_order(llm_server, session):
    keeper = make_keeper(llm_server, session)
    events = Events()
    service = NotesService(keeper, events, tick_every_s=None)
    try:
        keeper.add_final(final(0))
        llm_server.enqueue_text("An answer in three pieces", chunks=3)
        service.request("ask", question="why?")
        llm_server.enqueue_text("Plainly put: step zero.", chunks=2)
        service.request("explain")
        events.ended("explain")
        asks = [e for e in events.items if e.request == "ask"]
        assert [e.kind for e in asks] == ["started", "token", "token", "token", "done"]
        assert asks[0].text == "why?" and asks[-1].text == "An answer in three pieces"
        assert events.kinds("explain") == ["started", "token", "token", "done"]
    finally:
        service.close()


# --- cost stays flat --------------------------------------------------------------------------


def test_tokens_per_rolling_update_stay_flat_as_the_lecture_grows(llm_server, session):
    clock = Clock(0.0)
    keeper = make_keeper(llm_server, session, clock, interval_minutes=5)
    lecture_chars: list[int] = []
    n = 0
    for round_ in range(10):
        for _ in range(30):  # five minutes of lecture: a final every 10 s
            keeper.add_final(final(n))
            n += 1
        clock.now += 300
        assert keeper.due()
        keeper.update()
        lecture_chars.append(sum(len(f.text) for f in keeper.finals))
    sent = [r.prompt_chars for r in llm_server.requests]
    assert len(sent) == 10
    assert lecture_chars[-1] >= 10 * lecture_chars[0] * 0.95
    median = statistics.median(sent)
    assert all(abs(s - median) <= 0.1 * median for s in sent), sent
    # The server's own counts, as the client recorded them, say the same.
    counted = [s.usage.prompt_tokens for s in keeper.stats]
    assert max(counted) <= 1.1 * min(counted)
    assert all(s.finals == 30 for s in keeper.stats)


# --- summarizing a saved session ----------------------------------------------------------------


def write_transcript(session: Path, n: int, *, with_noise: bool = True) -> None:
    session.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        c = final(i)
        if with_noise and i % 5 == 0:
            lines.append({"type": "partial", "start": c.start, "end": c.end - 4, "text": f"partialnoise{i}"})
        lines.append({"type": "final", "start": c.start, "end": c.end, "text": c.text, "language": "en",
                      "emotion": "neutral", "events": ["Speech"], "emitted": c.end + 0.6, "index": i})
        if with_noise and i == 3:
            lines.append({"type": "bookmark", "at": c.end, "note": ""})
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    (session / "transcript.jsonl").write_text(text + '{"type": "final", "start": 99', encoding="utf-8")


def test_summarize_a_saved_session_in_one_request(llm_server, session):
    write_transcript(session, 12)
    settings = settings_for(llm_server)
    path = summarize_session(session, LLMClient(settings, KEY), settings)
    assert path == session / "summary.md"
    (req,) = llm_server.requests
    assert "transcript of a whole lecture (00:00–01:58)" in req.last_user
    assert [i for i in range(12) if f"w{i:03d}x" in req.last_user] == list(range(12))
    assert "partialnoise" not in req.prompt_text
    assert path.read_text(encoding="utf-8").startswith("# Notes")


def test_summarize_a_long_session_maps_then_reduces(llm_server, session):
    write_transcript(session, 120, with_noise=False)
    settings = settings_for(llm_server, context_budget_tokens=1500)
    summarize_session(session, LLMClient(settings, KEY), settings)
    *maps, reduce = llm_server.requests
    assert len(maps) >= 3
    for i, req in enumerate(maps, 1):
        assert f"This is part {i} of {len(maps)}" in req.last_user
    seen = [i for req in maps for i in range(120) if f"w{i:03d}x" in req.last_user]
    assert seen == list(range(120))
    assert "notes written separately for consecutive parts of one lecture" in reduce.last_user
    assert reduce.last_user.count("--- Part ") == len(maps)
    assert "w000x" not in reduce.last_user  # the reduce sees notes, not the transcript
    assert (session / "summary.md").read_text(encoding="utf-8") == llm_server_answer_of(llm_server, -1)


def test_summarize_main_exit_codes_and_messages(llm_server, session, tmp_path, capsys):
    write_transcript(session, 3)
    settings = settings_for(llm_server)
    assert summarize_main(session, settings, env={}) == 2
    assert "no API key" in capsys.readouterr().err
    assert llm_server.requests == []

    assert summarize_main(session, settings, env={"LIVE_LLM_API_KEY": KEY}) == 0
    out = capsys.readouterr()
    assert out.out.strip() == str(session / "summary.md")
    assert KEY not in out.out + out.err

    assert summarize_main(tmp_path / "missing", settings, env={"LIVE_LLM_API_KEY": KEY}) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert summarize_main(tmp_path / "empty", settings, env={"LIVE_LLM_API_KEY": KEY}) == 2
    assert "has no transcript.jsonl" in capsys.readouterr().err

    llm_server.enqueue_error(401, "nope")
    assert summarize_main(session, settings, env={"LIVE_LLM_API_KEY": KEY}) == 2
    assert "rejected the API key" in capsys.readouterr().err


def test_summarize_a_session_without_finals(llm_server, session):
    session.mkdir(parents=True)
    (session / "transcript.jsonl").write_text('{"type": "partial", "start": 0, "end": 1, "text": "x"}\n')
    settings = settings_for(llm_server)
    with pytest.raises(SessionError, match="holds no final captions"):
        summarize_session(session, LLMClient(settings, KEY), settings)


def test_final_of_reads_captions_and_transcript_lines():
    assert Final.of(Cap("final", 1.0, 2.5, "  hello   world ")) == Final(1.0, 2.5, "hello world", "en")
    assert Final.of(Cap("partial", 1.0, 2.5, "hello")) is None
    assert Final.of(parse_line({"type": "final", "start": 3, "end": 4, "text": ""})) is None
    assert Final.of(parse_line({"type": "bookmark", "at": 3})) is None
    assert Final.of(parse_line({"type": "translation", "index": 0, "lang": "zh", "text": "你好"})) is None
    assert Final.of(parse_line({"type": "final", "start": 3, "end": 4, "text": "hi", "language": "zh"})) == \
        Final(3, 4, "hi", "zh")
