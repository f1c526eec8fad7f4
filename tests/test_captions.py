"""The captioning policy with a real engine (the tiny random-weight SenseVoice, loaded through funasr)."""

from __future__ import annotations

import numpy as np
import pytest

from audio_helpers import clip
from live.captions import Caption, CaptionOptions, Captioner
from live.vad import Segmenter, VadOptions


@pytest.fixture(scope="module")
def engine(tiny_sensevoice):
    from live.asr.sensevoice import SenseVoiceEngine

    return SenseVoiceEngine(tiny_sensevoice, threads=2)


def recording(**kwargs) -> tuple[Captioner, list[tuple[str, float, float]]]:
    """A captioner on a fresh segmenter whose decodes are recorded as (kind, audio s, wall s)."""
    calls: list[tuple[str, float, float]] = []
    return Captioner(Segmenter(VadOptions()), kwargs.pop("engine"), on_decode=lambda *d: calls.append(d),
                     **kwargs), calls


def speech() -> np.ndarray:
    """Six Harvard sentences with real pauses between them."""
    return clip("realpython_harvard.flac")


def test_one_final_per_segment_in_order_and_partials_only_for_the_open_one(engine):
    audio = speech()
    reference = Segmenter(VadOptions())
    segments = reference.feed(audio) + reference.flush()
    cap = Captioner(Segmenter(VadOptions()), engine)
    out: list[Caption] = []
    for i in range(0, len(audio), 1600):  # 100 ms blocks, decoding between them as the live loop does
        cap.insert_audio(audio[i:i + 1600])
        out += cap.process_iter()
    out += cap.finish()
    finals = [c for c in out if c.kind == "final"]
    assert [(c.index, c.start, c.end) for c in finals] == [(s.index, s.start, s.end) for s in segments]
    assert all("<|" not in c.text for c in out)
    partials = [c for c in out if c.kind == "partial"]
    assert partials, "long sentences get partials while they are spoken"
    for p in partials:
        final = next(f for f in finals if f.index == p.index)
        # A speculative partial reaches into the silence after the words, so past the final's tail.
        assert out.index(p) < out.index(final) and p.start == final.start and p.end <= final.end + 0.5


def test_behind_finals_come_first_in_order_and_no_partial_is_decoded(engine):
    """All audio arrives at once, as after a stall: every closed segment is decoded before any partial."""
    audio = speech()
    cap, calls = recording(engine=engine)
    cap.insert_audio(audio[: int(len(audio) * 0.8)])
    pending = cap.pending_finals
    assert pending >= 3
    produced = []
    for _ in range(pending):
        produced += cap.process_iter()
    assert [c.kind for c in produced] == ["final"] * pending
    assert [c.index for c in produced] == list(range(pending))
    assert len(engine_calls := calls) == pending and all(k == "final" for k, _, _ in engine_calls)


def test_no_partial_when_the_segment_is_about_to_close(engine):
    """An open segment already ending in silence is left alone: its final is near."""
    audio = speech()
    seg = Segmenter(VadOptions())
    cap = Captioner(seg, engine, options=CaptionOptions(quiet_ms=90, speculate_ms=0))
    for i in range(0, len(audio), 480):
        cap.insert_audio(audio[i:i + 480])
        if seg.open_segment is not None and seg.trailing_silence_ms >= 90:
            assert [c for c in cap.process_iter() if c.kind == "partial"] == []


def test_partials_off_decodes_only_finals(engine):
    audio = speech()
    cap = Captioner(Segmenter(VadOptions()), engine, options=CaptionOptions(partials=False))
    out = []
    for i in range(0, len(audio), 1600):
        cap.insert_audio(audio[i:i + 1600])
        out += cap.process_iter()
    out += cap.finish()
    assert out and {c.kind for c in out} == {"final"}


def test_caption_json_round_trips():
    c = Caption("final", 1.23456, 2.5, "hi", "en", "neutral", ("Speech", "BGM"), 3.0, 4)
    assert Caption.from_json(c.to_json()) == Caption("final", 1.235, 2.5, "hi", "en", "neutral", ("Speech", "BGM"), 3.0, 4)
    assert c.latency == pytest.approx(0.5)


def test_a_segment_that_goes_quiet_is_decoded_early_and_that_decode_becomes_its_final(engine):
    """The speculative decode overlaps the silence the VAD waits for: no second decode at close."""
    audio = speech()
    cap, calls = recording(engine=engine, options=CaptionOptions(partials=False))
    out = []
    for i in range(0, len(audio), 480):  # 30 ms blocks: a decoder fast enough to keep up
        cap.insert_audio(audio[i:i + 480])
        out += cap.process_iter()
    out += cap.finish()
    finals = [c for c in out if c.kind == "final"]
    kinds = [k for k, _, _ in calls]
    assert cap.reused_finals >= len(finals) - 1  # all but possibly the last (closed by the end of input)
    assert kinds.count("final") == len(finals) - cap.reused_finals
    assert all(f.emitted >= f.end for f in finals)


def test_speech_that_resumes_after_a_speculative_decode_is_decoded_again(engine):
    """A: 300 ms pause (long enough to speculate, too short to close): B. The final must cover B."""
    a = clip("pocketsphinx_librivox_0880.flac")
    b = clip("pocketsphinx_librivox_0930.flac")
    pause = np.zeros(int(0.3 * 16000), np.float32)
    tail = np.zeros(16000, np.float32)
    audio = np.concatenate([a, pause, b, tail])
    cap, calls = recording(engine=engine)
    out = []
    for i in range(0, len(audio), 480):
        cap.insert_audio(audio[i:i + 480])
        out += cap.process_iter()
    out += cap.finish()
    finals = [c for c in out if c.kind == "final"]
    last_final = finals[-1]
    assert last_final.end > (len(a) + len(pause) + len(b) * 0.9) / 16000  # it covers B
    speculative = [d for d in calls if d[0] == "speculative"]
    assert len(speculative) >= 2  # one at the pause, one after B


def test_behind_means_finals_only_until_the_decoder_has_caught_up(engine):
    """Audio already waiting (a --fast replay, a stall): no partial and no speculative decode."""
    audio = speech()
    cap, calls = recording(engine=engine)
    out = []
    for i in range(0, len(audio), 1600):
        cap.insert_audio(audio[i:i + 1600])
        out += cap.process_iter(behind=True)
    out += cap.finish()
    assert out and {c.kind for c in out} == {"final"}
    assert {k for k, _, _ in calls} == {"final"} and len(calls) == len(out)


class Flaky:
    """A real engine that raises on chosen calls, as an internal runtime error would."""

    def __init__(self, engine, fail_on: set[int]):
        self.engine, self.fail_on, self.calls = engine, fail_on, 0
        self.name, self.model = engine.name, engine.model

    def transcribe(self, audio, language="auto"):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError(f"decode {self.calls} failed")
        return self.engine.transcribe(audio, language)


def test_a_final_whose_decode_raises_stays_queued_and_comes_out_once(engine):
    audio = speech()
    flaky = Flaky(engine, fail_on={2})
    cap = Captioner(Segmenter(VadOptions()), flaky, options=CaptionOptions(partials=False, speculate_ms=0))
    cap.insert_audio(audio)
    pending = cap.pending_finals
    finals = cap.process_iter()
    with pytest.raises(RuntimeError, match="decode 2"):
        cap.process_iter()
    assert cap.pending_finals == pending - 1  # the one that failed is still there
    while cap.pending_finals:
        finals += cap.process_iter()
    assert [c.index for c in finals] == list(range(pending))


def test_batching_merges_closed_segments_into_fewer_finals(engine):
    from live.captions import BatchOptions

    audio = speech()
    single, single_calls = recording(engine=engine, options=CaptionOptions(partials=False, speculate_ms=0))
    merged, merged_calls = recording(engine=engine, options=CaptionOptions(partials=False, speculate_ms=0),
                                     batching=BatchOptions(max_batch_s=20.0))
    for cap in (single, merged):
        cap.insert_audio(audio)
    one_by_one, batched = single.finish(), merged.finish()
    assert len(batched) < len(one_by_one) and len(merged_calls) < len(single_calls)
    assert batched[0].start == one_by_one[0].start and batched[-1].end == one_by_one[-1].end
    assert [c.index for c in batched] == list(range(len(batched)))


def test_a_partial_decodes_only_the_end_of_a_long_segment(engine):
    audio = speech()
    cap, calls = recording(engine=engine, options=CaptionOptions(partial_window_s=1.0, speculate_ms=0))
    out = []
    for i in range(0, len(audio), 1600):
        cap.insert_audio(audio[i:i + 1600])
        out += cap.process_iter()
    out += cap.finish()
    partial_lengths = [a for k, a, _ in calls if k == "partial"]
    final_lengths = [a for k, a, _ in calls if k == "final"]
    assert partial_lengths and max(partial_lengths) <= 1.0 + 1e-6
    assert max(final_lengths) > 2.0  # finals still take the whole segment


def test_a_forced_cut_is_decoded_while_it_is_decided_and_that_decode_becomes_its_final(engine, shared_audio):
    """A run-on speaker: once a cut is in sight (live.vad cut_ahead_s) its segment is decoded at once,
    so the final does not wait for a decode after the cut; a cut that moves to a quieter frame is
    decoded again, and the final always holds exactly the audio up to where the cut fell."""
    from live.audio import decode_file

    audio = decode_file(shared_audio / "en" / "ibm_11_ibm_culture_2min.flac")[: 16000 * 60]
    reference = Segmenter(VadOptions())
    segments = [s for i in range(0, len(audio), 480) for s in reference.feed(audio[i:i + 480])]
    cuts = {s.index for s, t in zip(segments, segments[1:]) if s.end == t.start}
    assert len(cuts) >= 2
    cap, calls = recording(engine=engine, options=CaptionOptions(partials=False))
    out = []
    for i in range(0, len(audio), 480):  # 30 ms blocks: a decoder fast enough to keep up
        cap.insert_audio(audio[i:i + 480])
        out += cap.process_iter()
    finals = {c.index: c for c in out if c.kind == "final"}
    assert {i: (f.start, f.end) for i, f in finals.items() if i in cuts} == \
        {s.index: (s.start, s.end) for s in segments if s.index in cuts}
    # Every final came from a decode made before its segment closed (cuts and pauses alike): none was
    # decoded after its close (without the cut in sight, 3 of these 5 were).
    assert cap.reused_finals == len(finals) and [k for k, _, _ in calls].count("final") == 0
