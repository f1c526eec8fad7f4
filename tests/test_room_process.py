"""``live --share``'s room in a process of its own (live/room/process.py): a real child process serving a
real uvicorn, read by real HTTP viewers; what the sharer sees when it fails."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from live.errors import ConfigError
from live.events import Finished
from live.room import RoomOptions
from live.room.process import SharedRoom
from live.room.share import ShareOptions
from room_helpers import Reader, eventually, final

pytestmark = pytest.mark.slow  # each test starts a Python process (about a second)


@pytest.fixture
def shared():
    notices = []
    room = SharedRoom(ShareOptions(port=0), RoomOptions(title="Optics"), notify=notices.append)
    room.notices = notices
    room.start()
    yield room
    room.finish(timeout=2)


def test_the_room_in_its_own_process_serves_viewers_and_ends_with_every_final(shared, caplog):
    caplog.set_level(logging.INFO, logger="live")
    viewers = [Reader(shared.base_url, shared.code) for _ in range(3)]
    assert all(v.wait(lambda ev: ev) for v in viewers)
    assert viewers[0].of("hello")[0]["title"] == "Optics"
    began = time.perf_counter()
    for i in range(300):
        shared.publish(final(i))
    assert time.perf_counter() - began < 0.2  # handed over, never waited on
    assert eventually(lambda: shared.viewers == 3)
    shared.publish(Finished(None))
    assert shared.finish(timeout=10)
    for viewer in viewers:
        assert viewer.ended.wait(5) and [f["i"] for f in viewer.of("f")] == list(range(300)) and viewer.of("end")
    said = [r.getMessage() for r in caplog.records if r.name == "live.room"]
    assert "room: closed; 3 viewers had every caption" in said  # the room's log is the sharer's


def test_a_rotated_code_from_the_sharer_disconnects_the_old_viewers(shared):
    old = Reader(shared.base_url, shared.code)
    assert old.wait(lambda ev: ev)
    url = shared.rotate()
    assert url.endswith(shared.code) and old.ended.wait(5) and old.of("closed") == [{"k": "closed", "why": "rotated"}]
    new = Reader(shared.base_url, shared.code)
    shared.publish(final(0))
    assert new.wait(lambda ev: any(d["k"] == "f" for _, d in ev))
    new.close()


def test_a_dead_room_process_is_said_once_and_the_lecture_goes_on(shared):
    shared._process.popen.kill()
    assert eventually(lambda: shared.dead is not None)
    assert [n.message for n in shared.notices] == [shared.dead] and "captions go on" in shared.dead
    began = time.perf_counter()
    for i in range(100):
        shared.publish(final(i))
    assert time.perf_counter() - began < 0.05
    assert shared.finish(timeout=1) is False


def test_a_port_in_use_is_one_clear_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        room = SharedRoom(ShareOptions(port=busy.getsockname()[1]))
        with pytest.raises(ConfigError, match=r"cannot share on 127\.0\.0\.1:\d+: .*--share-port"):
            room.start()
