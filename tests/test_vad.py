"""live.vad: where speech segments open and close on real recordings, fed in any block size."""

from __future__ import annotations

import numpy as np
import pytest
from audio_helpers import FRAME, clip, frame_levels, speech_extent, speech_frames

from live.audio import SAMPLE_RATE, decode_file
from live.errors import ConfigError
from live.vad import Segment, Segmenter, VadOptions


def segment_all(x: np.ndarray, block: int = 1600, options: VadOptions | None = None) -> list[Segment]:
    segmenter = Segmenter(options)
    out: list[Segment] = []
    for i in range(0, x.size, block):
        out.extend(segmenter.feed(x[i:i + block]))
    return out + segmenter.flush()


def sample(t: float) -> int:
    return round(t * SAMPLE_RATE)


def assert_segments_are_the_input(segments: list[Segment], x: np.ndarray) -> None:
    """Each segment's audio is exactly the input between its start and end; none overlap."""
    assert [s.index for s in segments] == list(range(len(segments)))
    for s in segments:
        np.testing.assert_array_equal(s.audio, x[sample(s.start):sample(s.end)])
        assert s.audio.dtype == np.float32
    for a, b in zip(segments, segments[1:]):
        assert a.end <= b.start


def assert_covers_speech(segments: list[Segment], x: np.ndarray) -> None:
    """Every surely-voiced frame lies inside some segment: no word is clipped off."""
    for f in speech_frames(x):
        t0, t1 = f * FRAME / SAMPLE_RATE, (f + 1) * FRAME / SAMPLE_RATE
        assert any(s.start <= t0 and t1 <= s.end for s in segments), f"speech at {t0:.2f} s is in no segment"


def pause(seconds: float) -> np.ndarray:
    return np.zeros(sample(seconds), dtype=np.float32)


# --- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    {"aggressiveness": 4}, {"frame_ms": 25}, {"start_ms": 10}, {"start_ratio": 0.0}, {"preroll_ms": -1},
    {"silence_ms": 0}, {"tail_ms": 600}, {"max_segment_s": 0.5}, {"cut_search_s": 0.0},
    {"min_segment_ms": 20000}, {"energy_floor_dbfs": 3.0}, {"preroll_ms": 3000, "max_segment_s": 5.0},
])
def test_bad_options_are_config_errors_naming_the_setting(bad):
    with pytest.raises(ConfigError) as error:
        VadOptions(**bad)
    message = str(error.value)
    assert next(iter(bad)) in message and "\n" not in message


# --- real speech ------------------------------------------------------------------------------------


@pytest.mark.parametrize("first,second", [
    ("pocketsphinx_librivox_0880.flac", "pocketsphinx_librivox_0930.flac"),
    ("pocketsphinx_librivox_0930.flac", "pocketsphinx_librivox_0880.flac"),
])
def test_two_sentences_with_a_pause_between_give_exactly_two_segments(first, second):
    a, b = clip(first), clip(second)  # one sentence each, read without a pause
    x = np.concatenate([a, pause(1.5), b])
    gap_start, gap_end = a.size / SAMPLE_RATE, a.size / SAMPLE_RATE + 1.5
    options = VadOptions()
    segments = segment_all(x, options=options)
    assert len(segments) == 2
    assert_segments_are_the_input(segments, x)
    assert_covers_speech(segments, x)
    # each boundary lies inside the pause: the first ends a short tail after its words, the second
    # starts no further back than the pre-roll and opening window before the next words
    one, two = segments
    assert speech_extent(a)[1] <= one.end <= gap_start + 0.3
    reach_back = (options.preroll_ms + options.start_ms + options.frame_ms) / 1000
    assert max(one.end, gap_end - reach_back) <= two.start <= gap_end + speech_extent(b)[0]


def test_harvard_sentences_are_cut_in_the_pauses_between_them():
    x = clip("realpython_harvard.flac")  # six sentences read with pauses
    segments = segment_all(x)
    assert 4 <= len(segments) <= 6
    assert_segments_are_the_input(segments, x)
    assert_covers_speech(segments, x)
    levels = frame_levels(x)
    speech_level = np.percentile(levels[speech_frames(x)], 50)
    for s in segments:
        for t in (s.start, s.end):
            f = min(int(t * SAMPLE_RATE) // FRAME, levels.size - 1)
            near = levels[max(0, f - 1):f + 2]  # ±30 ms around the boundary
            assert near.max() < speech_level - 15, f"boundary at {t:.2f} s is inside a word"


@pytest.mark.parametrize("kind", ["digital silence", "faint noise", "quiet room tone"])
def test_silence_and_faint_noise_give_no_segment(kind):
    rng = np.random.default_rng(7)
    if kind == "digital silence":
        x = pause(3.0)
    elif kind == "faint noise":
        x = (rng.standard_normal(sample(3.0)) * 10 ** (-50 / 20)).astype(np.float32)
    else:  # the quietest stretch of a real recording, looped to 3 s
        jfk = clip("jfk.flac")
        levels = frame_levels(jfk)
        quiet = np.flatnonzero(levels < np.percentile(levels, 10))
        x = np.concatenate([jfk[f * FRAME:(f + 1) * FRAME] for f in quiet])
        x = np.resize(x, sample(3.0))
    segmenter = Segmenter()
    assert segmenter.feed(x) == []
    assert segmenter.flush() == []
    assert not segmenter.in_speech and segmenter.open_segment is None
    assert segmenter.clock == pytest.approx(3.0)


def test_energy_floor_ignores_speech_too_faint_to_be_the_lecturer():
    x = clip("jfk.flac") * 10 ** (-45 / 20)  # the lecture 45 dB down: a voice from the corridor
    assert segment_all(x) == []
    assert segment_all(x, options=VadOptions(energy_floor_dbfs=-100.0)) != []


def test_blips_shorter_than_min_segment_are_dropped():
    jfk = clip("jfk.flac")
    loudest = int(np.argmax(frame_levels(jfk)))
    blip = jfk[loudest * FRAME - FRAME * 2:loudest * FRAME + FRAME * 3]  # 150 ms of a word
    x = np.concatenate([pause(1.0), blip, pause(1.0)])
    assert segment_all(x) == []
    kept = segment_all(x, options=VadOptions(min_segment_ms=0))
    assert len(kept) == 1 and kept[0].start < 1.0 < 1.15 < kept[0].end


def test_long_speech_is_cut_at_max_segment_with_no_sample_lost_or_doubled():
    # Five sentences joined by 250 ms pauses: too short to close a segment, so only cuts split them.
    names = ["pocketsphinx_librivox_0880.flac", "pocketsphinx_librivox_0930.flac", "jfk.flac",
             "pocketsphinx_librivox_0880.flac", "pocketsphinx_librivox_0930.flac"]
    parts = []
    for name in names:
        parts += [clip(name), pause(0.25)]
    x = np.concatenate(parts)
    options = VadOptions(max_segment_s=5.0, silence_ms=600)
    segments = segment_all(x, options=options)
    assert all(s.duration <= 5.0 for s in segments)
    assert_segments_are_the_input(segments, x)
    assert_covers_speech(segments, x)
    cuts = [(a, b) for a, b in zip(segments, segments[1:]) if a.end == b.start]
    assert len(cuts) >= 3  # ~20 s of speech in ≤ 5 s pieces
    levels = frame_levels(x)
    searched = int(options.cut_search_s * 1000) // 30
    for a, _ in cuts:  # cut at the quietest frame of the last cut_search_s before the segment was full
        f = int(a.end * SAMPLE_RATE) // FRAME
        full = int((a.start + options.max_segment_s) * SAMPLE_RATE) // FRAME
        window = levels[max(0, full - searched):full]
        assert full - searched - 1 <= f < full
        assert levels[f] <= np.percentile(window, 10)


def test_three_minute_talk_respects_max_segment(shared_audio):
    x = decode_file(shared_audio / "en" / "ibm_08_ibm_watson_ai_3min.flac")
    segments = segment_all(x, options=VadOptions(max_segment_s=5.0))
    assert len(segments) >= 36  # 180 s of talk in pieces of at most 5 s
    assert max(s.duration for s in segments) <= 5.0
    assert_segments_are_the_input(segments, x)
    assert_covers_speech(segments, x)
    assert any(a.end == b.start for a, b in zip(segments, segments[1:]))


def test_segments_do_not_depend_on_the_block_size():
    x = np.concatenate([clip("realpython_harvard.flac"), pause(0.7), clip("jfk.flac")])
    options = VadOptions(max_segment_s=4.0)
    small = segment_all(x, block=112, options=options)  # 7 ms
    large = segment_all(x, block=SAMPLE_RATE, options=options)  # 1 s
    odd = segment_all(x, block=4999, options=options)
    assert len(small) > 5
    for segs in (large, odd):
        assert [(s.index, s.start, s.end) for s in segs] == [(s.index, s.start, s.end) for s in small]
        for p, q in zip(segs, small):
            np.testing.assert_array_equal(p.audio, q.audio)


# --- streaming state --------------------------------------------------------------------------------


def test_open_segment_grows_with_speech_and_becomes_the_closed_segment():
    x = np.concatenate([pause(0.5), clip("pocketsphinx_librivox_0880.flac"), pause(1.0)])
    segmenter = Segmenter()
    seen: list[Segment] = []
    closed: list[Segment] = []
    for i in range(0, x.size, 1600):
        closed += segmenter.feed(x[i:i + 1600])
        assert segmenter.clock == pytest.approx(min(i + 1600, x.size) / SAMPLE_RATE)
        open_ = segmenter.open_segment
        assert (open_ is not None) == segmenter.in_speech
        if open_ is not None:
            np.testing.assert_array_equal(open_.audio, x[sample(open_.start):sample(open_.end)])
            assert open_.end <= segmenter.clock
            seen.append(open_)
    assert len(closed) == 1 and len(seen) > 20
    final = closed[0]
    assert {s.index for s in seen} == {final.index} and {s.start for s in seen} == {final.start}
    ends = [s.end for s in seen]
    assert ends == sorted(ends) and ends[-1] > final.end  # grew through the closing silence
    # pre-roll reaches back into the leading pause, by at most its 300 ms (and a frame's alignment)
    assert 0.5 - 0.33 <= final.start < 0.5


def test_trailing_silence_counts_up_until_the_segment_closes():
    options = VadOptions()
    x = np.concatenate([clip("pocketsphinx_librivox_0930.flac"), pause(1.0)])
    segmenter = Segmenter(options)
    trail, closed_at = [], None
    for i in range(0, x.size, 480):  # one 30 ms frame at a time
        if segmenter.feed(x[i:i + 480]):
            closed_at = i
            break
        trail.append(segmenter.trailing_silence_ms)
    assert closed_at is not None
    assert trail[-1] < options.silence_ms <= trail[-1] + options.frame_ms  # one frame short of closing
    assert segmenter.trailing_silence_ms == 0 and not segmenter.in_speech
    assert max(trail[:-20]) < options.silence_ms  # pauses inside the sentence never reached it


def test_flush_closes_speech_that_runs_to_the_end():
    x = clip("pocketsphinx_librivox_0930.flac")
    segmenter = Segmenter()
    assert segmenter.feed(x) == []
    assert segmenter.in_speech
    flushed = segmenter.flush()
    assert len(flushed) == 1 and flushed[0].end <= x.size / SAMPLE_RATE
    assert segmenter.flush() == [] and not segmenter.in_speech
    # the stream goes on after a flush (a pause), on the same clock
    more = segmenter.feed(np.concatenate([pause(0.5), x, pause(1.0)]))
    assert len(more) == 1 and more[0].index == 1 and more[0].start >= x.size / SAMPLE_RATE


def test_level_follows_the_last_frame():
    segmenter = Segmenter()
    segmenter.feed(pause(0.09))  # three whole frames
    assert segmenter.level_dbfs == -100.0
    segmenter.feed(np.full(480, 0.1, dtype=np.float32))
    assert segmenter.level_dbfs == pytest.approx(-20.0, abs=0.01)


def test_a_long_segment_closes_at_a_short_breath_instead_of_a_forced_cut(shared_audio):
    """Speech, a 0.25 s breath, speech: too short a pause to end a short sentence, but once the
    segment has grown long the closing silence shrinks and the breath ends it."""
    a = decode_file(shared_audio / "en" / "pocketsphinx_librivox_0870.flac")  # 7 s without a pause
    b = clip("pocketsphinx_librivox_0930.flac")
    b = b[int(max(0.0, speech_extent(b)[0] - 0.02) * SAMPLE_RATE):]  # straight out of the breath
    breath = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)  # with a's own ~0.2 s tail: a 0.4 s pause
    audio = np.concatenate([a, breath, b])
    shrinking = Segmenter(VadOptions(max_segment_s=12.0, shrink_after_s=3.0, min_silence_ms=150))
    fixed = Segmenter(VadOptions(max_segment_s=12.0, shrink_after_s=12.0))
    with_shrink = shrinking.feed(audio) + shrinking.flush()
    without = fixed.feed(audio) + fixed.flush()
    pause = (len(a) / SAMPLE_RATE - 0.3, len(a) / SAMPLE_RATE + 0.2)
    assert [s for s in with_shrink if pause[0] <= s.end <= pause[1]], [(s.start, s.end) for s in with_shrink]
    assert len(without) == 1  # 500 ms of silence never came: one segment over the breath
    assert len(with_shrink) == 2


@pytest.mark.parametrize("name", ["pocketsphinx_librivox_0880.flac", "pocketsphinx_librivox_0930.flac", "jfk.flac"])
def test_speech_end_is_the_end_of_the_last_words_inside_the_segment(name):
    """speech_end marks where the voice stops: after the last surely-voiced frame, before the tail."""
    x = np.concatenate([clip(name), pause(1.0)])
    segments = segment_all(x)
    last = segments[-1]
    words_end = speech_extent(x)[1]
    assert last.start < last.speech_end <= last.end - 0.1  # the tail the VAD keeps comes after it
    assert abs(last.speech_end - words_end) < 0.25
    for seg in segments:
        assert seg.start < seg.speech_end <= seg.end


def test_a_resumed_stream_keeps_its_clock_and_numbers():
    x = np.concatenate([clip("pocketsphinx_librivox_0880.flac"), pause(1.0)])
    plain = segment_all(x)
    seg = Segmenter(VadOptions(), start_s=100.0, first_index=7)
    later = seg.feed(x) + seg.flush()
    assert [s.index for s in later] == [s.index + 7 for s in plain]
    assert [round(s.start - 100.0, 3) for s in later] == [round(s.start, 3) for s in plain]
    assert seg.clock == pytest.approx(100.0 + x.size / SAMPLE_RATE)


def voiced_runs(x: np.ndarray, frames: int = 6) -> list[np.ndarray]:
    """Stretches of ``frames`` 30 ms frames that are all surely voiced (inside words)."""
    loud = set(speech_frames(x, below_peak_db=20.0).tolist())
    runs, k = [], 0
    while k < x.size // FRAME:
        if all(k + i in loud for i in range(frames)):
            runs.append(x[k * FRAME:(k + frames) * FRAME])
            k += frames
        else:
            k += 1
    return runs


def test_closing_silence_adapts_to_a_speaker_who_pauses_briefly():
    """Real voiced speech with 180 ms pauses inside sentences and 1 s between them: the adaptive
    closing silence (their 90th percentile + 90 ms, at least 250 ms) then ends a sentence at a 330 ms
    pause, which the fixed 500 ms does not."""
    runs = voiced_runs(np.concatenate([clip(name) for name in (
        "realpython_harvard.flac", "jfk.flac", "pocketsphinx_librivox_0880.flac", "pocketsphinx_librivox_0930.flac")]))
    assert len(runs) >= 16
    brief, between = pause(0.18), pause(1.0)
    sentences = [np.concatenate([p for run in runs[i:i + 3] for p in (run, brief)])[:-brief.size]
                 for i in range(0, 12, 3)]
    warm_up = np.concatenate([p for sentence in sentences for p in (sentence, between)])
    test = np.concatenate([*runs[12:14], pause(0.33), *runs[14:16], between])
    x = np.concatenate([warm_up, test])
    boundary = (warm_up.size + runs[12].size + runs[13].size) / SAMPLE_RATE
    fixed = segment_all(x, options=VadOptions())
    adaptive = segment_all(x, options=VadOptions(adapt_floor_ms=250))
    assert not any(abs(s.speech_end - boundary) < 0.05 for s in fixed)
    assert any(abs(s.speech_end - boundary) < 0.05 for s in adaptive)
    assert_segments_are_the_input(adaptive, x)


def test_a_run_on_speakers_forced_cuts_are_decided_soon_after_the_cut(shared_audio):
    # The 2-minute talk has stretches with no pause long enough to close a segment: forced cuts.
    # Each segment is closed at most cut_search_s (+ a frame) after its end of speech, so its final
    # can come within a second and a half of the words, not three.
    x = decode_file(shared_audio / "en" / "ibm_11_ibm_culture_2min.flac")
    segmenter, lags, cuts = Segmenter(), [], 0
    previous = None
    for i in range(0, len(x), FRAME):
        for segment in segmenter.feed(x[i:i + FRAME]):
            lags.append((i + FRAME) / SAMPLE_RATE - segment.speech_end)
            cuts += previous is not None and previous.end == segment.start
            previous = segment
    assert cuts >= 2
    assert max(lags) <= VadOptions().cut_search_s + 0.06, sorted(lags)[-5:]


def test_an_early_cut_is_decided_cut_ahead_s_after_its_frame_at_the_quietest_point(shared_audio):
    # The same run-on talk with cut_ahead_s: every forced cut is decided within cut_ahead_s (+ a frame)
    # of its point, at a frame that is the quietest of the search window around it, and no sample is
    # lost or doubled.
    x = decode_file(shared_audio / "en" / "ibm_11_ibm_culture_2min.flac")
    options = VadOptions(cut_ahead_s=0.5)
    segmenter, segments, decided = Segmenter(options), [], []
    for i in range(0, len(x), FRAME):
        for segment in segmenter.feed(x[i:i + FRAME]):
            segments.append(segment)
            decided.append((i + FRAME) / SAMPLE_RATE)
    segments += segmenter.flush()
    assert_segments_are_the_input(segments, x)
    levels = frame_levels(x)
    searched = int(options.cut_search_s * 1000) // 30
    cuts = [(a, at) for a, b, at in zip(segments, segments[1:], decided) if a.end == b.start]
    assert len(cuts) >= 2
    for a, at in cuts:
        assert at - a.end <= options.cut_ahead_s + 0.06, (a.end, at)
        assert options.max_segment_s - options.cut_search_s - 0.06 <= a.duration <= options.max_segment_s
        f = int(a.end * SAMPLE_RATE) // FRAME
        window = levels[f - searched + 1 + int(options.cut_ahead_s * 1000) // 30:f + 1 + int(options.cut_ahead_s * 1000) // 30]
        assert levels[f] <= np.percentile(window, 10)


def test_every_forced_cut_is_in_sight_from_the_moment_its_frame_is_heard(shared_audio):
    # A final is decoded while its cut is decided (speculatively, on the cut in sight), so each cut must
    # be in sight from when its frame is heard until it falls — also when a quieter frame too early to
    # cut holds the early cut off and the cut then falls at the full segment (it was seen only 0.4 s
    # after its frame, and that final came 1.0 s after its words where the others took 0.6-0.7 s).
    x = decode_file(shared_audio / "en" / "ibm_11_ibm_culture_2min.flac")
    segmenter, in_sight, since, late = Segmenter(VadOptions(cut_ahead_s=0.5)), None, 0.0, []
    cuts = 0
    for i in range(0, len(x), FRAME):
        t = (i + FRAME) / SAMPLE_RATE
        for segment in segmenter.feed(x[i:i + FRAME]):
            if segmenter.open_span is not None and segmenter.open_span[1] == segment.end:  # a forced cut
                cuts += 1
                if in_sight != segment.end or since > segment.end + 2 * FRAME / SAMPLE_RATE:
                    late.append((segment.end, in_sight, since))
        end = segmenter.tentative_cut_end
        if end != in_sight:
            in_sight, since = end, t
    assert cuts >= 6
    assert not late, late


def test_cut_ahead_must_be_shorter_than_the_search():
    with pytest.raises(ConfigError, match="cut_ahead_s"):
        VadOptions(cut_ahead_s=1.5)


def test_a_limit_shortens_segments_from_then_on_and_is_taken_back(shared_audio):
    # The lag governor's last step: segments cut at 8 s while captions are behind, at the options'
    # own 15 s again once caught up; nothing lost or doubled across the changes, and the cut in
    # sight (its end, cheap) is the end of the segment it would close.
    x = decode_file(shared_audio / "en" / "ibm_11_ibm_culture_2min.flac")
    segmenter, segments, ends_seen = Segmenter(VadOptions(cut_ahead_s=0.5)), [], set()
    for i in range(0, len(x), FRAME):
        t = i / SAMPLE_RATE
        if i == 30 * SAMPLE_RATE // FRAME * FRAME:
            segmenter.limit(8.0)
        if i == 80 * SAMPLE_RATE // FRAME * FRAME:
            segmenter.limit(40.0)  # at most the options' own
            assert segmenter.max_segment_s == 15.0
        end = segmenter.tentative_cut_end
        if end is not None:
            assert segmenter.tentative_cut.end == end
            ends_seen.add(round(end, 4))
        for segment in segmenter.feed(x[i:i + FRAME]):
            segments.append((t, segment))
    segments += [(len(x) / SAMPLE_RATE, s) for s in segmenter.flush()]
    assert_segments_are_the_input([s for _, s in segments], x)
    limited = [s for t, s in segments if 31 <= s.start and t < 80]
    after = [s for t, s in segments if s.start > 81]
    assert len(limited) >= 4 and max(s.duration for s in limited) <= 8.0
    assert max(s.duration for s in after) > 8.0  # the run-on talk fills 15 s segments again
    cuts = {round(a.end, 4) for (_, a), (_, b) in zip(segments, segments[1:]) if a.end == b.start}
    assert len(cuts & ends_seen) >= len(cuts) // 2  # early cuts were in sight before they fell
