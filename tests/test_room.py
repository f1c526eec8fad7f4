"""The room: the hub's fan-out (each event encoded once, late joiners, resume, slow viewers), codes and
per-address limits, and the web side on a real uvicorn read by real HTTP clients: the page, the
stream, rotation, closing, the end, limits, translations per language, a restart mid-lecture."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import httpx
import pytest

from live.events import Finished, Marker, SpeakerLabel, Status, Translation
from live.room import AccessOptions, HubOptions, Room, RoomHub, RoomOptions, Rooms, new_code, normalize, pretty
from live.room.codes import ALPHABET, CODE_CHARS, AddressLimits
from live.room.qr import qr_lines, qr_matrix
from live.room.share import ShareOptions, ShareServer
from room_helpers import Reader, eventually, final, parse_frames, partial


def frames(hub: RoomHub, viewer) -> list[dict]:
    return [data for _, data in parse_frames(b"".join(hub.take(viewer)).decode())]


def status(clock: float, latency: float | None = 1.2, paused: bool = False) -> Status:
    return Status(clock, -30.0, True, 0, 0.0, 0, paused, latency)


# --- the hub ---------------------------------------------------------------------------------------


def test_each_event_is_encoded_once_and_the_same_bytes_go_to_every_viewer():
    hub = RoomHub()
    a, b = hub.subscribe(), hub.subscribe()
    hub.publish(final(0, "hello room"))
    first, second = hub.take(a), hub.take(b)
    assert first == second and first[0] is second[0]
    assert parse_frames(first[0].decode())[0][1] == {"k": "f", "i": 0, "s": 0.0, "e": 2.5, "t": "hello room", "l": "en"}


def test_a_late_joiner_reads_the_lecture_so_far_then_the_open_partial_and_the_status():
    hub = RoomHub()
    for i in range(5):
        hub.publish(partial(i, f"guess {i}"))
        hub.publish(final(i))
        if i == 2:
            hub.publish(Marker("bookmark", 7.0, "definition"))
    hub.publish(partial(5, "being said"))
    hub.publish(status(16.0, latency=0.84))
    late = frames(hub, hub.subscribe())
    assert [f["k"] for f in late] == ["f", "f", "f", "m", "f", "f", "p", "s"]
    assert [f["t"] for f in late if f["k"] == "f"] == [f"caption number {i}" for i in range(5)]
    assert late[3] == {"k": "m", "m": "bookmark", "a": 7.0, "n": "definition"}
    assert late[-2]["t"] == "being said" and late[-1]["lat"] == 0.8


def test_a_viewer_resumes_after_its_last_event_with_no_gap_and_no_duplicate():
    hub = RoomHub()
    for i in range(3):
        hub.publish(final(i))
    viewer = hub.subscribe()
    had = parse_frames(b"".join(hub.take(viewer)).decode())
    last = had[-1][0]
    for i in range(3, 6):
        hub.publish(final(i))
    again = frames(hub, hub.subscribe(after=last))
    assert [f["i"] for f in again] == [3, 4, 5]
    # An id of another epoch (the room was made again): the whole history, which the page keys by index.
    other = frames(hub, hub.subscribe(after="ffffff-2"))
    assert [f["i"] for f in other] == [0, 1, 2, 3, 4, 5]


def test_a_slow_viewer_skips_partials_but_never_a_final():
    hub = RoomHub()
    slow = hub.subscribe()
    for i in range(10):
        for words in range(1, 8):
            hub.publish(partial(i, " ".join(["word"] * words)))
        hub.publish(final(i))
    hub.publish(partial(10, "the newest guess"))
    got = frames(hub, slow)
    assert [f["i"] for f in got if f["k"] == "f"] == list(range(10))
    assert [f["t"] for f in got if f["k"] == "p"] == ["the newest guess"]


def test_a_long_history_is_handed_over_in_bounded_batches_and_the_partial_only_once_caught_up():
    hub = RoomHub(HubOptions(batch_events=100))
    for i in range(250):
        hub.publish(final(i))
    hub.publish(partial(250, "now"))
    viewer = hub.subscribe()
    batches = []
    while True:
        batch = frames(hub, viewer)
        if not batch:
            break
        batches.append(batch)
    assert [len(b) for b in batches] == [100, 100, 51]
    assert [f["k"] for f in batches[-1]][-1] == "p" and all(f["k"] == "f" for b in batches[:2] for f in b)


def test_translations_reach_only_the_viewers_of_their_language_and_fresh_brings_the_earlier_ones():
    hub = RoomHub()
    zh, plain = hub.subscribe(lang="zh"), hub.subscribe()
    hub.publish(final(0))
    hub.publish(Translation(0, "zh", "第零句"))
    hub.publish(Translation(0, "es", "frase cero"))
    assert [f["k"] for f in frames(hub, zh)] == ["f", "t"]
    assert [f["k"] for f in frames(hub, plain)] == ["f"]
    last = hub.last_id
    chose_es = frames(hub, hub.subscribe(after=last, lang="es", fresh=True))
    assert chose_es == [{"k": "t", "i": 0, "l": "es", "t": "frase cero"}]


def test_the_end_ends_every_stream_and_nothing_comes_after_it():
    hub = RoomHub()
    viewer = hub.subscribe()
    hub.publish(final(0))
    hub.publish(Finished("/tmp/x"))
    hub.publish(final(1))
    got = frames(hub, viewer)
    assert [f["k"] for f in got] == ["f", "end"] and viewer.done
    assert hub.take(viewer) == []


def test_status_goes_out_once_a_second_but_a_pause_at_once():
    hub = RoomHub()
    sent = [hub.publish(status(t / 10, latency=1.0 + t / 100)) for t in range(30)]  # 10 Hz for 3 s
    assert sum(e is not None for e in sent) == 3
    assert hub.publish(status(3.05, paused=True)) is not None


def test_a_final_is_kept_once_and_late_partials_of_its_segment_are_ignored():
    hub = RoomHub()
    assert hub.publish(final(3)) is not None
    assert hub.publish(final(3, "again")) is None
    assert hub.publish(partial(3, "stale guess")) is None
    assert hub.finals == 1


def test_a_rotated_code_closes_only_the_streams_opened_with_the_old_one():
    hub = RoomHub()
    old, new = hub.subscribe(generation=0), hub.subscribe(generation=1)
    assert hub.close_viewers("rotated", before_generation=1) == 1
    assert frames(hub, old) == [{"k": "closed", "why": "rotated"}] and old.done
    hub.publish(final(0))
    assert [f["k"] for f in frames(hub, new)] == ["f"]


# --- codes and limits ------------------------------------------------------------------------------


def test_codes_are_unguessable_and_typed_back_however_a_person_writes_them():
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == CODE_CHARS and set(c) <= set(ALPHABET) for c in codes)
    assert CODE_CHARS * 5 >= 64
    code = "k7f3m9qpx2hd1"
    assert normalize(pretty(code).upper()) == code
    assert normalize(" K7F3-M9QP-X2HD-I ") == code  # I read as 1
    assert normalize("k7f3m9qp") is None and normalize("k7f3m9qpx2hdu") is None  # too short; u is not a digit


def test_address_limits_per_address_in_all_and_wrong_codes_then_forgotten():
    limits = AddressLimits(AccessOptions(per_address=2, misses_per_minute=3, max_viewers=3))
    assert limits.open("10.0.0.1") is None and limits.open("10.0.0.1") is None
    assert limits.open("10.0.0.1") == "too_many"
    assert limits.open("10.0.0.2") is None
    assert limits.open("10.0.0.3") == "busy"
    for _ in range(3):
        limits.close("10.0.0.1")
    limits.close("10.0.0.2")
    for t in range(3):
        limits.miss("10.0.0.9", now=100.0 + t)
    assert limits.blocked("10.0.0.9", now=103.0) and not limits.blocked("10.0.0.8", now=103.0)
    assert not limits.blocked("10.0.0.9", now=170.0)
    assert limits.remembered() == 0  # nothing kept once no limit needs it
    assert "10.0.0.9" not in repr(vars(limits))  # held as keyed hashes, never as addresses


def test_the_qr_code_of_a_room_url_is_a_real_qr_code():
    url = "http://192.168.1.20:14613/r/k7f3m9qpx2hd1"
    matrix = qr_matrix(url, border=0)
    assert len(matrix) == 29  # version 3
    assert all(matrix[r][c] for r in range(7) for c in (0, 6)) and not matrix[1][1]  # a finder pattern
    lines = qr_lines(url)
    assert len(lines) == (29 + 4 + 1) // 2 and {len(line) for line in lines} == {33}


# --- the room: the sharer's side never waits ------------------------------------------------------


def test_publish_returns_at_once_even_while_the_viewers_loop_is_stuck():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    room = Room()
    attached, stuck = threading.Event(), threading.Event()
    loop.call_soon_threadsafe(lambda: (room.attach(loop), attached.set()))
    assert attached.wait(5)
    blocked = threading.Event()
    loop.call_soon_threadsafe(lambda: (blocked.set(), stuck.wait(5)))  # the loop is busy for seconds
    assert blocked.wait(5)  # (before it, the loop may still be draining what attach scheduled)
    try:
        began = time.perf_counter()
        worst = 0.0
        for i in range(2000):
            t = time.perf_counter()
            room.publish(final(i))
            worst = max(worst, time.perf_counter() - t)
        assert time.perf_counter() - began < 0.5 and worst < 0.05
        assert room.hub.finals == 0  # nothing was done on the sharer's thread but handing over
    finally:
        stuck.set()
    assert eventually(lambda: room.hub.finals == 2000)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_rooms_find_a_room_by_its_current_code_only():
    room = Room()
    rooms = Rooms([room])
    old = room.code
    assert rooms.find(pretty(old).upper())[0] is room
    room.rotate()
    assert rooms.find(old) is None and rooms.find(room.code) == (room, 1)
    room.close()
    assert rooms.find(room.code) is None


# --- on a real web server --------------------------------------------------------------------------


@pytest.fixture
def shared():
    room = Room(RoomOptions(title="Signals & Systems", languages=("zh", "es")))
    server = ShareServer(room, ShareOptions(port=0, access=AccessOptions(per_address=4, misses_per_minute=5)))
    server.start()
    yield server
    server.stop()


def test_the_page_is_served_with_its_code_only_and_needs_no_key(shared):
    base, code = shared.base_url, shared.room.code
    page = httpx.get(f"{base}/r/{code}")
    assert page.status_code == 200 and 'aria-live="polite"' in page.text and "/static/room.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"] and page.headers["referrer-policy"] == "no-referrer"
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from another site: no CDN, no font
    for name in ("room.js", "room.css"):
        assert httpx.get(f"{base}/static/{name}").status_code == 200
    assert httpx.get(f"{base}/r/{pretty(code).upper()}").status_code == 200
    wrong = httpx.get(f"{base}/r/{new_code()}", headers={"Authorization": "Bearer lv_admin_key"})
    assert wrong.status_code == 404 and "closed" in wrong.text


def test_guessing_codes_is_refused_after_a_few_tries(shared):
    base = shared.base_url
    answers = [httpx.get(f"{base}/r/{new_code()}/events").status_code for _ in range(7)]
    assert answers[:5] == [404] * 5 and answers[5:] == [429, 429]
    assert httpx.get(f"{base}/r/{shared.room.code}").status_code == 429  # the address waits, right code or not


def test_viewers_read_captions_as_they_come_and_a_late_one_the_lecture_so_far(shared):
    room = shared.room
    early = Reader(shared.base_url, room.code)
    assert early.wait(lambda ev: any(d["k"] == "hello" for _, d in ev))
    hello = early.of("hello")[0]
    assert hello["title"] == "Signals & Systems" and [lang["code"] for lang in hello["languages"]] == ["zh", "es"]
    for i in range(3):
        room.publish(partial(i, "a guess"))
        room.publish(final(i))
    room.publish(Marker("pause", 9.5))
    assert early.wait(lambda ev: sum(d["k"] == "m" for _, d in ev) == 1)
    late = Reader(shared.base_url, room.code)
    assert late.wait(lambda ev: len([d for _, d in ev if d["k"] == "f"]) == 3)
    assert late.texts() == early.texts() == [f"caption number {i}" for i in range(3)]
    early.close()
    late.close()


def test_a_rotated_code_disconnects_its_viewers_and_stops_working(shared):
    room = shared.room
    old = room.code
    viewer = Reader(shared.base_url, old)
    assert viewer.wait(lambda ev: ev)
    new = room.rotate()
    assert viewer.ended.wait(5) and viewer.of("closed") == [{"k": "closed", "why": "rotated"}]
    assert httpx.get(f"{shared.base_url}/r/{old}/events").status_code == 404
    fresh = Reader(shared.base_url, new)
    room.publish(final(0))
    assert fresh.wait(lambda ev: any(d["k"] == "f" for _, d in ev))
    fresh.close()


def test_closing_the_room_tells_every_viewer(shared):
    viewers = [Reader(shared.base_url, shared.room.code) for _ in range(3)]
    assert all(v.wait(lambda ev: ev) for v in viewers)
    shared.room.close()
    assert all(v.ended.wait(5) for v in viewers)
    assert all(v.of("closed") == [{"k": "closed", "why": "closed"}] for v in viewers)


def test_every_final_reaches_every_viewer_before_the_server_stops(shared):
    viewers = [Reader(shared.base_url, shared.room.code) for _ in range(4)]
    assert all(v.wait(lambda ev: ev) for v in viewers)
    for i in range(200):
        shared.room.publish(final(i))
    shared.room.publish(Finished("/tmp/session"))
    assert shared.close(timeout=10)
    for viewer in viewers:
        assert viewer.ended.wait(5)
        assert [f["i"] for f in viewer.of("f")] == list(range(200)) and viewer.of("end")


def test_one_address_opens_a_bounded_number_of_streams(shared):
    viewers = [Reader(shared.base_url, shared.room.code) for _ in range(4)]
    assert all(v.wait_status() == 200 for v in viewers)
    refused = httpx.get(f"{shared.base_url}/r/{shared.room.code}/events")
    assert refused.status_code == 429 and "too many" in refused.json()["error"]
    viewers[0].close()
    assert eventually(lambda: shared.web.limits.total == 3)
    again = Reader(shared.base_url, shared.room.code)
    assert again.wait_status() == 200
    for v in viewers[1:] + [again]:
        v.close()


def test_viewer_addresses_never_reach_the_log(shared, caplog):
    # Every level of our loggers and uvicorn's (a session built earlier in this process sets "live" to INFO).
    for name in (None, "live", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    viewer = Reader(shared.base_url, shared.room.code, source="127.0.0.2")
    shared.room.publish(final(0))
    assert viewer.wait(lambda ev: any(d["k"] == "f" for _, d in ev))
    Reader(shared.base_url, new_code(), source="127.0.0.2").wait_status()
    viewer.close()
    shared.room.close()
    server_side = [r.getMessage() for r in caplog.records if r.name.startswith(("live", "uvicorn"))]
    assert server_side and not [m for m in server_side if "127.0.0.2" in m]


def test_a_restart_mid_lecture_is_resumed_with_no_gap_and_no_duplicate(shared):
    room = shared.room
    viewer = Reader(shared.base_url, room.code)
    for i in range(3):
        room.publish(final(i))
    assert viewer.wait(lambda ev: len([1 for _, d in ev if d["k"] == "f"]) == 3)
    port = shared.port
    shared.stop()
    assert viewer.ended.wait(5)  # the stream ended properly with the server
    for i in range(3, 6):
        room.publish(final(i))  # said while the web server was down
    shared.options.port = port
    shared.start()
    resumed = Reader(shared.base_url, room.code, after=viewer.last_id)
    room.publish(final(6))
    assert resumed.wait(lambda ev: any(d.get("i") == 6 for _, d in ev))
    assert [f["i"] for f in viewer.of("f") + resumed.of("f")] == list(range(7))
    resumed.close()


def test_a_stuck_viewer_is_dropped_and_never_holds_up_the_others():
    room = Room()
    server = ShareServer(room, ShareOptions(port=0))
    server.web.stall_s = 1.0
    server.start()
    try:
        stuck = socket.create_connection(("127.0.0.1", server.port))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(f"GET /r/{room.code}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reader = Reader(server.base_url, room.code)
        assert reader.wait(lambda ev: ev) and eventually(lambda: room.viewers == 2)
        big = "word " * 4000
        for i in range(300):  # ~6 MB: far more than the stuck socket's buffers hold
            room.publish(final(i, f"{i} {big}"))
        assert reader.wait(lambda ev: len([1 for _, d in ev if d["k"] == "f"]) == 300, timeout=20)
        assert eventually(lambda: room.viewers == 1, timeout=10)  # the stuck one was dropped
        stuck.close()
        reader.close()
    finally:
        server.stop()


# --- translations, made once per language on the sharing side --------------------------------------


def _translated_room(llm_server, languages=("zh",), made=None):
    from live.llm import LLMSettings
    from live.translate import TranslateOptions, translator_for

    def make(lang):
        if made is not None:
            made.append(lang)
        return translator_for(LLMSettings(base_url=llm_server.url + "/v1", model="m"), lang,
                              options=TranslateOptions(min_interval_s=0.0, finish_timeout_s=5.0))

    room = Room(RoomOptions(languages=languages), make_translator=make)
    server = ShareServer(room, ShareOptions(port=0))
    server.start()
    return room, server


def test_each_language_is_translated_once_for_all_its_viewers_and_only_if_offered(llm_server, monkeypatch):
    from translate_helpers import KEY, asked, translating

    monkeypatch.setenv("LIVE_LLM_API_KEY", KEY)
    llm_server.responder = translating
    made: list[str] = []
    room, server = _translated_room(llm_server, made=made)
    try:
        for i in range(3):
            room.publish(final(i, f"sentence {i}"))
        first = Reader(server.base_url, room.code, lang="zh")
        second = Reader(server.base_url, room.code, lang="zh")
        plain = Reader(server.base_url, room.code)
        spanish = Reader(server.base_url, room.code, lang="es")
        for viewer in (first, second):
            assert viewer.wait(lambda ev: len([d for _, d in ev if d["k"] == "t"]) == 3)
        room.publish(final(3, "sentence 3"))
        for viewer in (first, second):
            assert viewer.wait(lambda ev: len([d for _, d in ev if d["k"] == "t"]) == 4)
            assert [t["t"] for t in viewer.of("t")] == [f"译{i}：sentence {i}" for i in range(4)]
        assert made == ["zh"]
        assert sorted(n for r in llm_server.requests for n, _ in asked(r.body)) == [0, 1, 2, 3]  # each once
        assert plain.wait(lambda ev: len([d for _, d in ev if d["k"] == "f"]) == 4) and plain.of("t") == []
        assert spanish.wait(lambda ev: ev) and spanish.of("hello")[0]["note"] == "that language is not offered in this room"
        # A viewer choosing Chinese now gets the translations of what it already has, and no caption twice.
        switched = Reader(server.base_url, room.code, after=plain.last_id, lang="zh", fresh=True)
        assert switched.wait(lambda ev: len([d for _, d in ev if d["k"] == "t"]) == 4)
        assert switched.of("f") == []
    finally:
        server.close(timeout=2)


def test_a_language_whose_translation_cannot_work_is_said_to_its_viewers_and_captions_go_on(llm_server):
    notices = []
    room, server = _translated_room(llm_server)
    room.translations._notify = notices.append
    try:
        viewer = Reader(server.base_url, room.code, lang="zh")  # no API key anywhere: translation cannot work
        room.publish(final(0, "sentence 0"))
        assert viewer.wait(lambda ev: any(d["k"] == "n" for _, d in ev))
        assert viewer.of("n")[0]["t"] == ("No more translation into Simplified Chinese: it stopped on the sharing "
                                          "side. The captions go on.")
        room.publish(final(1, "sentence 1"))
        assert viewer.wait(lambda ev: len([d for _, d in ev if d["k"] == "f"]) == 2)
        assert any("key" in n.message.lower() for n in notices)  # the sharer is told why
        assert not [n for n in viewer.events if "key" in str(n).lower()]  # the viewers are not told about keys
    finally:
        server.close(timeout=2)


def test_the_same_guess_twice_is_sent_once():
    hub = RoomHub()
    viewer = hub.subscribe()
    assert hub.publish(partial(0, "so the")) is not None
    assert hub.publish(partial(0, "so the")) is None
    assert hub.publish(partial(0, "so the transform")) is not None
    assert [f["t"] for f in frames(hub, viewer)] == ["so the transform"]


def test_who_said_a_final_reaches_the_viewers_and_a_late_one_reads_it_too(shared):
    room = shared.room
    viewer = Reader(shared.base_url, room.code)
    room.publish(final(0, "Today: the Fourier transform."))
    room.publish(SpeakerLabel(0, "lecturer"))
    room.publish(final(1, "Is it linear?"))
    room.publish(SpeakerLabel(1, "audience", 1))
    said = lambda ev: [(d["i"], d["r"], d["v"]) for _, d in ev if d["k"] == "v"]  # noqa: E731
    assert viewer.wait(lambda ev: len(said(ev)) == 2)
    assert said(viewer.events) == [(0, "lecturer", None), (1, "audience", 1)]
    late = Reader(shared.base_url, room.code)
    assert late.wait(lambda ev: len(said(ev)) == 2)  # the labels are kept with the lecture
    viewer.close()
    late.close()


def test_a_speaker_label_travels_to_the_classroom_servers_room():
    from live.room.relay import decode_event, encode_event, kept

    message = encode_event(SpeakerLabel(7, "audience", 2))
    assert kept(message) and decode_event(message) == SpeakerLabel(7, "audience", 2)
