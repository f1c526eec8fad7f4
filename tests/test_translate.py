"""Bilingual captions, the pieces: the batching policy, the request and its answer, the translated
subtitles, and the translator against a real local OpenAI-compatible server (tests/llm_server.py):
batches in order, the glossary, a rejected or missing key, failures and recovery, a hanging model at
the end. Whole sessions are in test_translate_session.py."""

from __future__ import annotations

import json
import time

import pytest

from live.config import load_settings
from live.errors import ConfigError
from live.llm import LLMClient, LLMSettings
from live.notes.prompts import Prompts
from live.session import Notice, Translation
from live.captions import Caption
from live.language import check_target
from live.translate import Glossary, Pending, TranslateOptions, TranslationQueue, Translator
from live.transcript import parse_lines, render_translations, translated_finals
from live.translate.prompt import messages, parse_answer, target_name
from translate_helpers import KEY, asked, final, translating


# --- the policy: which finals go, and when (no thread, no clock) ------------------------------------------


def test_finals_go_in_rolling_batches_in_order():
    queue = TranslationQueue(TranslateOptions(min_interval_s=2.0, max_batch_finals=3))
    assert queue.due(0.0) is None
    queue.add(Pending(0, "zero"))
    assert queue.due(0.0) == 0.0
    assert [p.index for p in queue.take(0.0)] == [0]
    for i in (1, 2, 3, 4):
        queue.add(Pending(i, f"final {i}"))
    assert queue.due(0.5) is None  # one request at a time
    queue.done({0: "零"})
    assert queue.due(0.5) == pytest.approx(1.5)  # spaced out: what is said meanwhile joins the batch
    assert [p.index for p in queue.take(2.0)] == [1, 2, 3]  # at most max_batch_finals
    queue.done({1: "一", 2: "二", 3: "三"})
    assert [p.index for p, _ in queue.context()] == [2, 3] and queue.context()[-1][1] == "三"
    assert [p.index for p in queue.take(4.0)] == [4]
    assert queue.translated == 4 and queue.pending == 1


def test_a_long_backlog_is_cut_by_characters_and_bounded():
    queue = TranslationQueue(TranslateOptions(max_batch_chars=100, max_backlog=5))
    for i in range(8):
        assert queue.add(Pending(i, "x" * 40)) == (1 if i >= 5 else 0)
    assert queue.given_up == 3
    assert [p.index for p in queue.take(0.0)] == [3, 4]  # 80 characters; a third would pass 100
    solo = TranslationQueue(TranslateOptions(max_batch_chars=100))
    solo.add(Pending(0, "y" * 500))
    assert len(solo.take(0.0)) == 1  # a final longer than the limit still goes, alone


def test_a_failed_batch_is_retried_later_then_given_up():
    queue = TranslationQueue(TranslateOptions(min_interval_s=0.0, retry_after_s=10.0, max_tries=2))
    queue.add(Pending(0, "a"))
    queue.add(Pending(1, "b"))
    queue.take(0.0)
    queue.add(Pending(2, "c"))
    assert queue.failed(1.0) == []
    assert queue.due(5.0) == pytest.approx(6.0)  # waits retry_after_s
    assert queue.due(5.0, flushing=True) == 0.0  # the end of the session waits for nobody
    batch = queue.take(11.0)
    assert [(p.index, p.tries) for p in batch] == [(0, 1), (1, 1), (2, 0)]  # back at the head, in order
    lost = queue.failed(12.0)
    assert [p.index for p in lost] == [0, 1] and queue.given_up == 2 and queue.pending == 1


def test_finals_an_answer_left_out_get_one_more_try():
    queue = TranslationQueue(TranslateOptions(max_tries=2))
    for i in range(3):
        queue.add(Pending(i, f"t{i}"))
    queue.take(0.0)
    assert queue.done({0: "a", 2: "c"}) == []
    assert [(p.index, p.tries) for p in queue.take(1.0)] == [(1, 1)]
    assert [p.index for p in queue.done({})] == [1] and queue.given_up == 1


def test_bad_options_say_which():
    for bad in ({"min_interval_s": -1}, {"max_batch_finals": 0}, {"max_batch_chars": 10},
                {"request_timeout_s": 0}, {"context_finals": -1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TranslateOptions(**bad)


# --- the request and its answer ---------------------------------------------------------------------------


def test_target_codes_are_checked_and_named():
    assert check_target(" ZH ") == "zh" and check_target("pt_BR") == "pt-br"
    assert target_name("zh") == "Simplified Chinese" and target_name("en") == "English"
    assert target_name("pt-br") == "Portuguese" and target_name("tlh") == "tlh"
    for bad in ("", "chinese simplified", "../x", "zh/../../etc"):
        with pytest.raises(ConfigError, match="--translate takes a language code"):
            check_target(bad)
    assert load_settings({"translate": "ZH"}, env={}).translate == "zh"
    assert load_settings({"translate": "off"}, env={}).translate is None
    with pytest.raises(ConfigError):
        load_settings({"translate": "klingon please"}, env={})


def test_the_request_keeps_a_stable_prefix_and_the_batch_in_order():
    glossary = Glossary(["Laplacian", "Heaviside", "Laplacian"])
    prompts = Prompts()
    batch = [Pending(7, "the Laplacian  operator"), Pending(8, "on a Heaviside\nstep function")]
    first = messages(prompts, "zh", glossary, batch)
    assert first[0]["role"] == "system" and "Simplified Chinese" in first[0]["content"]
    assert "Laplacian; Heaviside." in first[0]["content"]  # the course's terms, once each
    assert first[1]["content"].endswith("[7] the Laplacian operator\n[8] on a Heaviside step function")
    glossary.learn([("Laplacian", "拉普拉斯算子"), ("laplacian", "拉氏算子"), ("x", "x"), ("step function", "阶跃函数"),
                    ("Hessian", "黑塞矩阵")])
    later = messages(prompts, "zh", glossary, [Pending(9, "the LAPLACIAN again")], context=[(batch[1], "在阶跃函数上")])
    assert later[0] == first[0]  # the system prompt never changes: the provider's cache keeps it
    user = later[1]["content"]
    # the entries for the terms the batch and its context say, and only those
    assert user.startswith("Glossary (always translate these terms this way):\n= Laplacian => 拉普拉斯算子\n"
                           "= step function => 阶跃函数\n\n")
    assert "拉氏算子" not in user and "Hessian" not in user
    assert "[8] on a Heaviside step function\n=> 在阶跃函数上" in user and user.endswith("[9] the LAPLACIAN again")


def test_answers_are_read_leniently_but_only_for_what_was_asked():
    answer = ("```\n[3] 第三句\n4. 第四句，\n接着第四句\n[5]\n【6】第六句\n[9] 没问过\n"
              "= Kullback-Leibler divergence => KL散度\n- = Heaviside => 亥维赛\n```")
    results, entries = parse_answer(answer, [3, 4, 5, 6])
    assert results == {3: "第三句", 4: "第四句，接着第四句", 6: "第六句"}  # 5 was empty, 9 not asked for
    assert entries == [("Kullback-Leibler divergence", "KL散度"), ("Heaviside", "亥维赛")]
    assert parse_answer("# Notes\n\nnothing numbered", [0]) == ({}, [])
    assert parse_answer("[0] the first part\nand the rest", [0])[0] == {0: "the first part and the rest"}
    assert parse_answer("[0] 会议在\n2023年举行", [0])[0] == {0: "会议在2023年举行"}  # a year is no number


def test_translations_become_subtitles_timed_as_their_finals(tmp_path):
    lines = [final(0, "And so my fellow Americans.").to_json(), final(1, "Ask not!").to_json(),
             {"type": "translation", "index": 1, "lang": "zh", "text": "不要问"},
             {"type": "bookmark", "at": 4.0, "note": ""},
             {"type": "translation", "index": 0, "lang": "zh", "text": "所以，我的美国同胞们"},
             {"type": "translation", "index": 1, "lang": "de", "text": "Fragt nicht!"}]
    (tmp_path / "transcript.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    by_lang = translated_finals(parse_lines(lines))
    assert [(c.index, c.text, c.start) for c in by_lang["zh"]] == [(0, "所以，我的美国同胞们", 0.0), (1, "不要问", 3.0)]
    written = render_translations(tmp_path)
    assert sorted(p.name for p in written) == ["transcript.de.srt", "transcript.de.vtt", "transcript.zh.srt",
                                               "transcript.zh.vtt"]
    srt = (tmp_path / "transcript.zh.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:02,500\n所以，我的美国同胞们\n\n2\n00:00:03,000 --> 00:00:05,500\n不要问")
    assert (tmp_path / "transcript.de.vtt").read_text().startswith("WEBVTT\n\n00:00:03.000 --> 00:00:05.500\nFragt nicht!")


# --- the translator against the local server -------------------------------------------------------------


def client_for(server, **kw) -> LLMClient:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("max_retries", 0)
    return LLMClient(LLMSettings(base_url=server.url + "/v1", model="translator", **kw), KEY,
                     sleep=lambda _s: None)


class Sink:
    def __init__(self) -> None:
        self.translations: list[Translation] = []
        self.notices: list[Notice] = []

    def deliver(self, t: Translation) -> None:
        self.translations.append(t)

    def said(self) -> str:
        return "\n".join(n.message for n in self.notices)


def translator(server, sink: Sink, terms=(), **options) -> Translator:
    options.setdefault("min_interval_s", 0.0)
    t = Translator(client_for(server), "zh", options=TranslateOptions(**options), terms=list(terms),
                   notify=sink.notices.append)
    t.connect(sink.deliver)
    return t


def wait(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_finals_said_during_a_request_go_together_in_order_with_the_glossary(llm_server):
    sink = Sink()
    llm_server.enqueue_text("[0] 我们把拉普拉斯算子作用在函数上\n= Laplacian => 拉普拉斯算子", chunks=4, delay_s=0.15)
    llm_server.responder = translating
    t = translator(llm_server, sink, terms=["Laplacian", "Heaviside"])
    t.add(final(0, "We apply the Laplacian to the function."))
    assert llm_server.wait_for_requests(1)
    for i, text in ((1, "Then a Heaviside step."), (2, "And the Laplacian again."), (3, "That is all.")):
        t.add(final(i, text))
    wait(lambda: len(sink.translations) == 4)
    t.settle(lambda: None)
    assert t.close()
    assert [x.index for x in sink.translations] == [0, 1, 2, 3] and {x.lang for x in sink.translations} == {"zh"}
    assert sink.translations[1].text == "译1：Then a Heaviside step." and sink.translations[1].at == 3.0
    first, second = llm_server.requests
    assert asked(first.body) == [(0, "We apply the Laplacian to the function.")]
    assert asked(second.body) == [(1, "Then a Heaviside step."), (2, "And the Laplacian again."), (3, "That is all.")]
    assert "= Laplacian => 拉普拉斯算子" in second.last_user  # the term is written the same way from now on
    assert "[0] We apply the Laplacian to the function.\n=> 我们把拉普拉斯算子作用在函数上" in second.last_user
    assert first.messages[0] == second.messages[0] and "Laplacian; Heaviside." in first.messages[0]["content"]
    assert first.body["model"] == "translator" and first.body["stream"] is True
    stats = t.stats
    assert (stats.requests, stats.finals_sent, stats.translated, stats.given_up) == (2, 4, 4, 0)
    assert stats.prompt_tokens > 0 and stats.prompt_tokens_est > 0 and stats.completion_tokens_est > 0
    assert sink.notices == []


def test_a_final_already_in_the_target_language_is_not_sent(llm_server):
    sink = Sink()
    t = translator(llm_server, sink)
    t.add(final(0, "这是中文", language="zh"))
    t.add(Caption("partial", 0, 1, "a partial", index=1))
    t.settle(lambda: None)
    t.close()
    assert [(x.index, x.text) for x in sink.translations] == [(0, "这是中文")] and llm_server.requests == []


def test_a_rejected_key_turns_translation_off_with_one_notice(llm_server):
    sink = Sink()
    llm_server.enqueue_error(401, "bad key")
    t = translator(llm_server, sink)
    t.add(final(0, "one"))
    wait(lambda: t.off is not None)
    t.add(final(1, "two"))
    t.settle(lambda: None)
    t.close()
    assert len(llm_server.requests) == 1 and sink.translations == []
    assert len(sink.notices) == 1 and sink.notices[0].message.startswith("translation off:")
    assert "rejected the API key" in sink.notices[0].message and KEY not in sink.said()


def test_no_key_says_how_to_set_one(llm_server, monkeypatch):
    from live.translate import translator_for

    sink = Sink()
    t = translator_for(LLMSettings(base_url=llm_server.url + "/v1", model="m"), "zh", notify=sink.notices.append)
    t.connect(sink.deliver)
    t.add(final(0, "one"))
    wait(lambda: t.off is not None)
    t.close()
    assert "translation off: no API key" in sink.said() and "LIVE_LLM_API_KEY" in sink.said()
    assert llm_server.requests == []


def test_a_failing_model_is_retried_later_and_comes_back(llm_server):
    sink = Sink()
    llm_server.enqueue_error(503, "overloaded")
    llm_server.responder = translating
    t = translator(llm_server, sink, retry_after_s=0.3, max_tries=3)
    t.add(final(0, "zero"))
    wait(lambda: len(llm_server.requests) == 1)
    t.add(final(1, "one"))
    wait(lambda: len(sink.translations) == 2)
    t.close()
    assert asked(llm_server.requests[1].body) == [(0, "zero"), (1, "one")]  # the failed final first, then the new
    assert [n.message.split(":")[0] for n in sink.notices] == ["translation delayed", "translation is back; the captions it missed meanwhile follow"]
    gap = llm_server.requests[1].at - llm_server.requests[0].at
    assert gap >= 0.3


def test_finals_an_answer_leaves_out_are_asked_again_then_given_up_with_a_notice(llm_server):
    sink = Sink()
    llm_server.enqueue_text("[0] 零")  # [1] is left out
    llm_server.enqueue_text("nothing useful")
    t = translator(llm_server, sink, max_tries=2)
    t.add(final(0, "zero"))
    t.add(final(1, "one"))
    t.settle(lambda: None)
    t.close()
    assert [x.index for x in sink.translations] == [0]
    assert [asked(r.body) for r in llm_server.requests][-1] == [(1, "one")]
    assert "1 caption could not be translated (the answer left it out); captions go on" in sink.said()


def test_the_end_waits_a_bounded_time_for_a_hanging_model(llm_server):
    sink = Sink()
    llm_server.enqueue_hang()
    t = translator(llm_server, sink, finish_timeout_s=0.5)
    t.add(final(0, "zero"))
    assert llm_server.wait_for_requests(1)
    served = []
    began = time.monotonic()
    t.settle(lambda: served.append(1))
    assert time.monotonic() - began < 2.0 and served  # bounded; the worker's commands were served meanwhile
    assert t.close(timeout=2.0)
    assert "waiting up to 0.5 s for the translation of 1 caption" in sink.said()
    assert "1 caption not translated before the end" in sink.said() and sink.translations == []
