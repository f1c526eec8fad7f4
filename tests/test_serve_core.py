"""The server's parts that need no network: the protocol's checks, the shared decode queue's order,
batches and cancels, the client's audio log, resume truncation."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from audio_helpers import clip

from live.asr.base import Transcription
from live.audio import SAMPLE_RATE
from live.session.link import AudioLog
from live.captions import Caption
from live.wire.protocol import (
    ERRORS,
    Done,
    ErrorMessage,
    ProtocolError,
    Ready,
    ServerNotice,
    Start,
    Stop,
    StreamStatus,
    check_frame,
    decode_pcm,
    decode_server,
    encode,
    encode_pcm,
    parse_control,
    parse_start,
)
from live.serve.scheduler import Cancelled, DecodeScheduler, LocalBackend
from live.serve.sessions import truncate_after

# --- protocol ----------------------------------------------------------------------------------------


def test_start_message_defaults_and_resume_fields():
    start = parse_start(json.dumps({"type": "start", "format": "pcm_s16le", "sample_rate": 48000, "language": "zh",
                                    "session_id": "a" * 16, "resume_from": 12.5, "next_index": 3}))
    assert (start.sample_rate, start.language, start.session_id, start.resume_from, start.next_index) == \
        (48000, "zh", "a" * 16, 12.5, 3)
    assert parse_start('{"type": "start"}', "en").language == "en"


def test_every_message_reads_back_as_the_other_end_wrote_it():
    """One set of types for both ends: what the client encodes the server parses, and the reverse."""
    for start in (Start(), Start(48000, "zh", partials=False),
                  Start(16000, "en", session_id="s" * 16, resume_from=12.5, next_index=4)):
        assert parse_start(encode(start)) == start
    assert "session_id" not in json.loads(encode(Start())) and json.loads(encode(Stop())) == {"type": "stop"}
    messages = [Ready("s" * 16, True, 12.5, 4, 48000, {"buffer_s": 2.0}, "whisper", "tiny.en"), Ready("t" * 16),
                Caption("partial", 1.0, 2.0, "so the", "en", index=3, emitted=2.1),
                Caption("final", 1.0, 2.5, "so the entropy", "en", index=3, emitted=3.0, speech_end=2.2),
                StreamStatus(3.25, True, 2, True, 4.5, 6.0, "finals only", 0.5), ServerNotice("warning", "the server fell behind"),
                ErrorMessage("quota_exceeded", "used up", retry_after=60), ErrorMessage("superseded", "elsewhere"),
                Done()]
    for message in messages:
        assert decode_server(json.dumps(message.to_json())) == message
    assert decode_server('{"type": "a later version\'s message", "x": 1}') is None  # clients ignore it
    with pytest.raises(ValueError, match="ready message without 'session_id'"):
        decode_server('{"type": "ready"}')
    with pytest.raises(ValueError):
        decode_server('["not", "a", "message"]')
    samples = np.array([0.0, 0.5, -0.5, 1.5, -1.5], np.float32)  # out of range: clipped, never wrapped
    assert decode_pcm(encode_pcm(samples)).tolist() == pytest.approx([0.0, 0.5, -0.5, 32767 / 32768, -1.0])


@pytest.mark.parametrize("text, code", [
    ("hello", "bad_json"),
    ("[1, 2]", "bad_message"),
    ('{"type": "stop"}', "expected_start"),
    ('{"type": "start", "format": "opus"}', "unsupported_audio"),
    ('{"type": "start", "sample_rate": 11025}', "unsupported_audio"),
    ('{"type": "start", "sample_rate": "16000"}', "unsupported_audio"),
    ('{"type": "start", "language": "fr"}', "bad_message"),
    ('{"type": "start", "session_id": "../../etc/passwd"}', "bad_message"),
    ('{"type": "start", "resume_from": -1}', "bad_message"),
    ('{"type": "start", "partials": "yes"}', "bad_message"),
])
def test_bad_start_messages_say_why(text, code):
    with pytest.raises(ProtocolError) as err:
        parse_start(text)
    assert err.value.code == code and err.value.close_code == ERRORS[code]


def test_control_and_frame_checks():
    assert parse_control('{"type": "stop"}') == Stop()
    with pytest.raises(ProtocolError, match="binary frames") as err:
        parse_control("AAAA//8=")  # base64 audio in a text frame
    assert err.value.close_code == 1003
    with pytest.raises(ProtocolError) as err:
        parse_control('{"type": "pause"}')
    assert err.value.code == "bad_message"
    check_frame(b"\0" * 32000, 32000)
    with pytest.raises(ProtocolError) as err:
        check_frame(b"\0" * 32002, 32000)
    assert err.value.close_code == 1009
    with pytest.raises(ProtocolError) as err:
        check_frame(b"\0" * 301, 32000)
    assert err.value.close_code == 1007


# --- the shared decode queue ---------------------------------------------------------------------------


class Recording:
    """A backend that records the order of its calls and can be held still (to let requests queue)."""

    name, model, parallel = "rec", "rec", 1

    def __init__(self, max_batch: int = 1) -> None:
        self.max_batch = max_batch
        self.calls: list[list[str]] = []
        self.gate = threading.Event()

    def decode(self, audios, language):
        self.gate.wait(10)
        self.calls.append([f"{len(a)}" for a in audios])
        return [Transcription(text=f"{len(a)}") for a in audios]

    def close(self):
        pass


def _audio(n: int) -> np.ndarray:
    return np.zeros(n, np.float32)


def _held(backend, first: int = 1) -> tuple[DecodeScheduler, object]:
    """A started scheduler whose decoder is busy with a first final (``first`` samples) until the
    backend's gate opens, so what is submitted next waits in the queue; and that first request."""
    scheduler = DecodeScheduler(lambda: backend)
    scheduler.start()
    scheduler.wait_ready(5)
    blocker = scheduler.submit("x", "final", _audio(first), "en")
    time.sleep(0.05)  # the decoder has taken it
    return scheduler, blocker


def test_queue_decodes_finals_before_partials_and_is_fair_between_streams():
    backend = Recording()
    scheduler, blocker = _held(backend, 1)
    futures = [scheduler.submit("a", "partial", _audio(100), "en"), scheduler.submit("b", "partial", _audio(200), "en"),
               scheduler.submit("c", "final", _audio(300), "en"), scheduler.submit("d", "final", _audio(400), "en")]
    assert scheduler.depth == 4
    backend.gate.set()
    assert [f.result(5).text for f in futures] == ["100", "200", "300", "400"]
    assert blocker.result(5).text == "1"
    assert [c[0] for c in backend.calls] == ["1", "300", "400", "100", "200"]
    scheduler.close()


def test_a_speculative_decode_goes_before_partials_and_becomes_a_final_when_its_segment_closes():
    """A segment gone quiet is decoded speculatively: its result is most likely the final, so it goes
    before other streams' partials; once the segment has closed, it is that stream's final."""
    backend = Recording()
    scheduler, blocker = _held(backend, 1)
    closed = {"b": False}
    kind_b = lambda: "final" if closed["b"] else "speculative"  # noqa: E731 - the stream's answer now
    futures = [scheduler.submit("a", "partial", _audio(100), "en"),
               scheduler.submit("b", "speculative", _audio(200), "en", kind_b),
               scheduler.submit("c", "speculative", _audio(300), "en"),
               scheduler.submit("d", "final", _audio(400), "en")]
    closed["b"] = True  # b's segment closes while its decode waits: it now goes with the finals
    backend.gate.set()
    for f in [blocker, *futures]:
        f.result(5)
    assert [c[0] for c in backend.calls] == ["1", "200", "400", "300", "100"]
    scheduler.close()


def test_queue_batches_requests_of_similar_length_from_different_streams():
    backend = Recording(max_batch=4)
    scheduler, first = _held(backend, 10)
    rest = [scheduler.submit(s, "final", _audio(n), "en") for s, n in
            (("a", 16000), ("b", 15000), ("c", 17000), ("d", 160000), ("e", 14000), ("f", 16000))]
    backend.gate.set()
    for f in [first, *rest]:
        f.result(5)
    # The 10 s one is not padded together with the 1 s ones; at most 4 go in one call.
    assert backend.calls[1] == ["16000", "15000", "17000", "14000"]
    assert ["160000"] in backend.calls and ["16000"] in backend.calls
    scheduler.close()


def test_a_final_is_not_batched_with_partials_nor_long_pieces_together():
    """On CPU a batch saves time only on short pieces and makes each wait for the longest: a final
    waits for no partial, and a call holds at most 8 s of audio."""
    backend = Recording(max_batch=8)
    scheduler, first = _held(backend, 10)
    rest = [scheduler.submit(s, k, _audio(n), "en") for s, k, n in
            (("a", "final", 16000), ("b", "partial", 16000), ("c", "final", 17000), ("d", "partial", 15000),
             ("e", "final", 48000), ("f", "final", 50000), ("g", "final", 45000))]
    backend.gate.set()
    for f in [first, *rest]:
        f.result(5)
    calls = backend.calls[1:]
    assert calls[0] == ["16000", "17000"]  # finals only (the 3 s one would be padding for these)
    assert calls[1] == ["48000", "50000"]  # 3 + 3.1 s: the next 2.8 s would pass 8 s in one call
    assert calls[2] == ["45000"]
    assert calls[3] == ["16000", "15000"]  # the partials, after every final
    scheduler.close()


class Timed(Recording):
    """A decoder whose calls take a fixed 50 ms plus 4 ms per second of audio (Whisper-like: mostly fixed)."""

    def decode(self, audios, language):
        time.sleep(0.05 + 0.004 * sum(len(a) for a in audios) / 16000)
        return super().decode(audios, language)


def test_the_queue_knows_what_a_full_segment_costs_from_its_recent_calls():
    # The shared pace sheds before a burst of cuts by what the decoder takes for each stream's full
    # segment: read from a line through its calls (mostly fixed here), not scaled from short pieces.
    backend = Timed()
    backend.gate.set()
    scheduler = DecodeScheduler(lambda: backend)
    scheduler.start()
    scheduler.wait_ready(5)
    assert scheduler.cost.time(15.0) is None  # nothing decoded yet: not known, not zero
    for seconds in (2, 4, 6, 8, 3, 0.5):
        scheduler.submit("a", "final", _audio(int(seconds * 16000)), "en").result(5)
    assert scheduler.cost.time(15.0) == pytest.approx(0.05 + 0.004 * 15, abs=0.03)  # 0.11 s; 2 s/s would say 0.5
    scheduler.close()


def test_a_final_stops_a_batch_of_partials_which_goes_back_in_the_queue():
    class Stoppable(Recording):
        def __init__(self):
            super().__init__(max_batch=4)
            self.stop = threading.Event()
            self.started = threading.Event()

        def decode(self, audios, language):
            if len(audios[0]) == 100 and not self.stop.is_set():  # the partials' batch: long, until stopped
                self.started.set()
                if self.stop.wait(10):
                    raise RuntimeError("Exiting due to terminate flag being set to true")
            return super().decode(audios, language)

        def preempt(self):
            self.stop.set()
            return True

    backend = Stoppable()
    backend.gate.set()
    scheduler = DecodeScheduler(lambda: backend)
    scheduler.start()
    scheduler.wait_ready(5)
    partials = [scheduler.submit(s, "partial", _audio(100), "en") for s in "ab"]
    assert backend.started.wait(5)
    final = scheduler.submit("c", "final", _audio(300), "en")
    assert final.result(5).text == "300" and [f.result(5).text for f in partials] == ["100", "100"]
    assert backend.calls[0][0] == "300" and scheduler.preemptions == 1  # the final first (a partial may ride along)
    scheduler.close()


def test_a_failing_batch_is_retried_one_by_one_and_only_the_bad_request_fails():
    class Picky(Recording):
        def decode(self, audios, language):
            if any(len(a) == 13 for a in audios):
                raise RuntimeError("ONNX Runtime: bad input")
            return super().decode(audios, language)

    backend = Picky(max_batch=4)
    backend.gate.set()
    scheduler = DecodeScheduler(lambda: backend)
    scheduler.start()
    scheduler.wait_ready(5)
    with scheduler._cond:  # queue both before the decoder looks
        good = scheduler.submit("a", "final", _audio(12), "en")
        bad = scheduler.submit("b", "final", _audio(13), "en")
    assert good.result(5).text == "12"
    with pytest.raises(RuntimeError, match="bad input"):
        bad.result(5)
    scheduler.close()


def test_a_partial_no_longer_wanted_leaves_the_queue():
    backend = Recording()
    scheduler, blocker = _held(backend, 1)
    engine = scheduler.engine("a", lambda: "partial")
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(r=_catch(lambda: engine.transcribe(_audio(5)))))
    thread.start()
    time.sleep(0.05)
    assert scheduler.depth == 1
    engine.cancel()  # its segment closed: the session's decoder wants the final instead
    thread.join(5)
    assert isinstance(box["r"], Cancelled) and scheduler.depth == 0
    backend.gate.set()
    blocker.result(5)
    assert backend.calls == [["1"]]
    scheduler.close()


def _catch(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
        return exc


def test_a_model_that_fails_to_load_is_reported_to_every_stream():
    def load():
        raise RuntimeError("no such model")

    scheduler = DecodeScheduler(load)
    scheduler.start()
    with pytest.raises(Exception, match="failed to load: RuntimeError: no such model"):
        scheduler.engine("a", lambda: "final")


@pytest.mark.slow
def test_onnx_sensevoice_batch_matches_single_decodes(tiny_sensevoice):
    pytest.importorskip("onnxruntime")
    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    engine = OnnxSenseVoiceEngine(tiny_sensevoice, quantized=False, threads=1)
    audios = [clip("jfk.flac")[:48000], clip("pocketsphinx_librivox_0880.flac"), np.zeros(100, np.float32),
              clip("realpython_harvard.flac")[16000:40000]]
    assert LocalBackend(engine).max_batch == 8
    assert engine.transcribe_batch(audios, "en") == [engine.transcribe(a, "en") for a in audios]


# --- the client's audio log ---------------------------------------------------------------------------


def test_audio_log_keeps_audio_from_the_last_final_on():
    log = AudioLog(max_s=2.0)
    for k in range(10):  # 10 blocks of 0.1 s, sample values = their index on the clock
        log.append(np.arange(k * 1600, (k + 1) * 1600, dtype=np.float32))
    assert log.read(2400, 2000).tolist() == list(range(2400, 4400))
    log.trim(5000)  # a final ends at 5000: whole blocks before it go
    assert log.base == 4800 and log.read(5000, 100)[0] == 5000
    assert log.read(16000, 10).size == 0
    for k in range(10, 40):
        log.append(np.full(1600, k, np.float32))
    assert log.end - log.base <= 2 * SAMPLE_RATE and log.dropped_s > 0


# --- resume: the server keeps the finals the client has ---------------------------------------------------


def test_resume_truncates_what_the_client_never_got(tmp_path):
    lines = [{"type": "final", "start": 0.0, "end": 2.43, "text": "a", "index": 0},
             {"type": "bookmark", "at": 2.0, "note": ""},
             {"type": "final", "start": 2.97, "end": 4.56, "text": "b", "index": 1},
             {"type": "translation", "index": 1, "lang": "zh", "text": "乙"},
             {"type": "final", "start": 5.1, "end": 7.8, "text": "c", "index": 2},
             {"type": "speaker", "index": 2, "speaker": "audience", "voice": 1}]
    (tmp_path / "transcript.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"type": "fin')
    assert truncate_after(tmp_path, 4.56) == 1
    kept = [json.loads(x) for x in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert [k.get("text") for k in kept] == ["a", None, "b", "乙"]  # a translation stays with its final
