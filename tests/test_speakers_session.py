"""live.session.speakers: a session's finals labelled on a thread of their own, from the audio the worker
hears, delivered as lines after their finals, all of them before the session ends."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from live.captions import Caption
from live.errors import ModelError
from live.events import Notice
from live.session.speakers import SpeakerService, SpeakerServiceOptions
from live.speakers import AUDIENCE, LECTURER, SpeakerLabel

RATE = 16000


def final(segment) -> Caption:
    return Caption("final", segment.start, segment.end, "words", index=segment.index)


def service_for(voice_encoder, **options) -> tuple[SpeakerService, list, list]:
    labels: list[SpeakerLabel] = []
    notices: list[Notice] = []
    service = SpeakerService(lambda on_status: voice_encoder.embed_partials,
                             options=SpeakerServiceOptions(**options), notify=notices.append)
    service.connect(labels.append)
    return service, labels, notices


def replay(service: SpeakerService, audio: np.ndarray, finals, block_s: float = 0.1) -> None:
    """Feed the audio as a worker does, adding each final once its audio has been heard."""
    waiting = list(finals)
    step = int(block_s * RATE)
    for at in range(0, len(audio), step):
        service.hear(audio[at:at + step])
        while waiting and waiting[0].end * RATE <= at + step:
            service.add(final(waiting.pop(0)))


@pytest.mark.slow
def test_every_final_of_a_mixed_lecture_is_labelled_by_the_end(voice_encoder, mixed_lecture):
    lecture, finals = mixed_lecture
    # The 4.4 minutes arrive at once here (a session hears them in real time): time to label them all.
    service, labels, notices = service_for(voice_encoder, finish_timeout_s=120.0)
    replay(service, lecture.audio, finals)
    served = threading.Event()
    service.settle(served.set)
    assert served.is_set() and not service._thread.is_alive()
    latest = {label.index: label for label in labels}
    assert sorted(latest) == [f.index for f in finals]
    right = [latest[f.index].speaker == lecture.truth_role(f.start, f.end) for f in finals]
    assert np.mean(right) >= 0.95
    assert service.stats.finals == len(finals) and service.stats.lost == 0
    assert not [n for n in notices if n.level != "information"]


def test_labels_follow_their_finals_within_a_second(voice_encoder, shared_audio):
    from devtools.mixed_lecture import load, segments

    audio = load(shared_audio, "en/ibm_08_ibm_watson_ai_3min.flac")[:30 * RATE]
    finals = segments(audio)
    service, labels, _ = service_for(voice_encoder)
    arrived = threading.Condition()
    seen: dict[int, float] = {}

    def deliver(label):
        with arrived:
            seen.setdefault(label.index, time.monotonic())
            arrived.notify_all()

    service.connect(deliver)
    heard = 0
    for f in finals:
        service.hear(audio[heard:round(f.end * RATE)])
        heard = round(f.end * RATE)
        added = time.monotonic()
        service.add(final(f))
        with arrived:
            assert arrived.wait_for(lambda: f.index in seen, timeout=5.0)
        assert seen[f.index] - added < 1.0
    service.close()


def test_the_L_key_takes_the_last_seconds_heard(voice_encoder, shared_audio):
    from devtools.mixed_lecture import load, segments

    opener = load(shared_audio, "en/jfk.flac")
    talk = load(shared_audio, "en/ibm_08_ibm_watson_ai_3min.flac")[:12 * RATE]
    service, labels, _ = service_for(voice_encoder)
    first = segments(opener)
    service.hear(opener[:round(first[-1].end * RATE)])
    for f in first:
        service.add(final(f))
    service.hear(talk[:5 * RATE])
    assert service.enroll()  # L, while the lecturer speaks
    service.settle(lambda: None)
    latest = {label.index: label for label in labels}
    assert latest[first[0].index].speaker == AUDIENCE, "the opening voice is no longer the lecturer"
    assert any(label.speaker == LECTURER for label in labels[:len(first)]), "it was, before L"


def test_a_final_whose_audio_is_gone_is_counted_not_labelled(voice_encoder):
    service, labels, _ = service_for(voice_encoder, keep_s=2.0)
    for _ in range(50):
        service.hear(np.zeros(RATE // 10, np.float32))
    service.add(Caption("final", 0.5, 1.5, "early", index=0))
    service.settle(lambda: None)
    assert service.stats.lost == 1 and labels == []


def test_no_speaker_model_turns_labelling_off_in_one_notice():
    def missing(on_status):
        raise ModelError("the speaker model is not installed: pip install --no-deps resemblyzer==0.1.4")

    notices: list[Notice] = []
    told = threading.Event()
    service = SpeakerService(missing, notify=lambda notice: (notices.append(notice), told.set()))
    service.connect(lambda label: None)
    service.hear(np.zeros(RATE, np.float32))
    assert told.wait(5.0)
    service.add(Caption("final", 0.0, 1.0, "hello", index=0))
    service.settle(lambda: None)
    assert service.off is not None
    [notice] = notices
    assert notice.level == "warning" and notice.message.startswith("speaker labels off:")
    assert "captions go on" in notice.message and "\n" not in notice.message
