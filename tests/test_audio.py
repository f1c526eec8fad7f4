"""live.audio: files of every kind in, a microphone in, and the errors a user sees when they fail."""

from __future__ import annotations

import importlib.abc
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from audio_helpers import DATA, best_lag_correlation, clip, locate, virtual_mic_in_this_process

from live.audio import (
    SAMPLE_RATE,
    EndOfStream,
    FileSource,
    MicSource,
    Resampler,
    decode_file,
    list_devices,
    resolve_device,
    rms_dbfs,
)
from live.errors import DeviceError, InputError
from live.vad import Segmenter

JFK = DATA / "jfk.flac"
REPO = Path(__file__).resolve().parents[1]


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def amplitude_and_frequency(x: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[float, float]:
    x = x[rate // 10: -rate // 10]  # leave out the filter's start-up and end
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.sqrt(2 * np.mean(x.astype(np.float64) ** 2))), float(np.argmax(spectrum) * rate / x.size)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


# --- level meter ------------------------------------------------------------------------------------


def test_rms_dbfs_reads_silence_as_minus_100_and_full_scale_as_0():
    assert rms_dbfs(np.zeros(480, dtype=np.float32)) == -100.0
    assert rms_dbfs(np.zeros(0, dtype=np.float32)) == -100.0
    assert rms_dbfs(np.ones(480, dtype=np.float32)) == pytest.approx(0.0, abs=1e-6)


def test_rms_dbfs_of_a_tone_follows_its_amplitude():
    # A sine's RMS is its amplitude / sqrt(2): 0.1 -> -23.0 dBFS, 0.01 -> -43.0 dBFS.
    assert rms_dbfs(tone(440, SAMPLE_RATE, amplitude=0.1)) == pytest.approx(-23.01, abs=0.05)
    assert rms_dbfs(tone(440, SAMPLE_RATE, amplitude=0.01)) == pytest.approx(-43.01, abs=0.05)


# --- resampling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [48000, 44100, 22050, 8000])
def test_resampler_keeps_speech_band_tones(rate):
    for freq in (300.0, 1000.0, 3000.0, 5000.0):
        if freq >= rate / 2:
            continue
        out = Resampler(rate).process(tone(freq, rate))
        assert out.dtype == np.float32
        assert abs(out.size - SAMPLE_RATE) <= 1
        amplitude, found = amplitude_and_frequency(out)
        assert amplitude == pytest.approx(0.5, rel=0.01), f"{freq} Hz from {rate} Hz"
        assert found == pytest.approx(freq, abs=5.0)


@pytest.mark.parametrize("rate", [48000, 44100])
def test_resampler_removes_tones_that_would_alias(rate):
    # Above 8 kHz a tone cannot exist at 16 kHz; unfiltered it would fold back into speech.
    for freq in (9000.0, 12000.0, 20000.0):
        amplitude, _ = amplitude_and_frequency(Resampler(rate).process(tone(freq, rate)))
        assert amplitude < 0.5e-3, f"{freq} Hz leaks at {20 * np.log10(amplitude / 0.5):.0f} dB"


def test_resampler_gives_the_same_samples_whatever_the_block_sizes():
    x = np.random.default_rng(1).standard_normal(44100 * 2).astype(np.float32)
    whole = Resampler(44100).process(x)
    resampler, parts, i = Resampler(44100), [], 0
    sizes = np.random.default_rng(2).integers(1, 900, size=10_000)
    for n in sizes:
        parts.append(resampler.process(x[i:i + n]))
        i += int(n)
        if i >= x.size:
            break
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_resampler_brings_real_48k_speech_back_to_16k(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg to make a 48 kHz copy of a clip")
    import soundfile

    ffmpeg("-i", str(JFK), "-ar", "48000", str(tmp_path / "jfk48.wav"))
    raw, rate = soundfile.read(tmp_path / "jfk48.wav", dtype="float32")
    assert rate == 48000
    ours = Resampler(48000).process(raw)
    lag, corr = best_lag_correlation(ours, clip("jfk.flac"), max_lag=40)
    assert corr > 0.995
    assert 0 <= lag <= 20  # the filter's documented delay: half its 96 taps at 48 kHz, 16 samples at 16 kHz


# --- files ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """The JFK clip in several containers and codecs, plus broken files, made by ffmpeg."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg command to make test media (Debian: ffmpeg)")
    out = tmp_path_factory.mktemp("media")
    src = str(JFK)
    ffmpeg("-i", src, str(out / "speech.wav"))
    ffmpeg("-i", src, "-ac", "2", "-ar", "44100", str(out / "speech.flac"))
    ffmpeg("-i", src, "-c:a", "libmp3lame", str(out / "speech.mp3"))
    ffmpeg("-i", src, "-c:a", "libvorbis", str(out / "speech.ogg"))
    ffmpeg("-i", src, "-c:a", "aac", str(out / "speech.m4a"))
    video = ["-f", "lavfi", "-i", "color=c=blue:s=64x48:r=10"]
    ffmpeg(*video, "-i", src, "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(out / "lecture.mp4"))
    ffmpeg(*video, "-t", "2", "-c:v", "mpeg4", str(out / "video_only.mp4"))
    ffmpeg("-i", src, "-t", "1", str(out / "one_second.wav"))
    (out / "empty.wav").write_bytes(b"")
    (out / "truncated.flac").write_bytes(JFK.read_bytes()[:3000])  # header and a sliver of one frame
    (out / "notes.txt").write_text("these are lecture notes, not audio\n")
    (out / "folder.wav").mkdir()
    return out


@pytest.mark.parametrize("name", ["speech.wav", "speech.flac", "speech.mp3", "speech.ogg", "speech.m4a",
                                  "lecture.mp4"])
def test_decode_file_reads_any_format_ffmpeg_does(media, name):
    reference = clip("jfk.flac")
    decoded = decode_file(media / name)
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert abs(decoded.size - reference.size) / SAMPLE_RATE <= 0.05
    lag, corr = best_lag_correlation(decoded, reference, max_lag=80)
    assert corr > 0.98, f"{name}: correlation {corr:.3f}"
    assert abs(lag) <= 80


BROKEN = {
    "video_only.mp4": "no audio track",
    "empty.wav": "empty",
    "truncated.flac": "could not be decoded",
    "notes.txt": "not an audio or video file",
    "folder.wav": "folder",
    "missing.flac": "no such file",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_unreadable_inputs_raise_input_error_naming_the_file(media, name):
    path = media / name
    with pytest.raises(InputError) as decoded:
        decode_file(path)
    source = FileSource(path, realtime=False)
    with pytest.raises(InputError) as started:
        source.start()
    source.stop()
    for error in (decoded.value, started.value):
        message = str(error)
        assert str(path) in message
        assert BROKEN[name] in message
        assert "\n" not in message


def test_file_source_fast_mode_hands_out_the_whole_file_in_100ms_blocks():
    source = FileSource(JFK, realtime=False)
    assert source.description == "file: jfk.flac"
    assert source.realtime is False
    began = time.perf_counter()
    blocks = []
    with source:
        while True:
            try:
                block = source.read(timeout=1.0)
            except EndOfStream:
                break
            assert block is not None
            blocks.append(block)
        with pytest.raises(EndOfStream):  # it stays ended
            source.read(timeout=1.0)
    elapsed = time.perf_counter() - began
    assert elapsed < 1.0  # 11 s of audio
    assert all(b.size == 1600 for b in blocks[:-1]) and 0 < blocks[-1].size <= 1600
    np.testing.assert_array_equal(np.concatenate(blocks), decode_file(JFK))
    assert source.samples_delivered == sum(b.size for b in blocks)
    assert source.overflows == 0


def test_file_source_realtime_paces_like_a_microphone(media):
    source = FileSource(media / "one_second.wav", realtime=True)
    assert source.realtime is True
    source.start()
    began = time.monotonic()
    assert source.read(timeout=0.0) is None  # the first 100 ms have not "happened" yet
    total = 0
    while True:
        try:
            block = source.read(timeout=0.5)
        except EndOfStream:
            break
        if block is not None:
            total += block.size
            # never ahead of the wall clock: a block arrives once its last sample has been "spoken"
            assert total / SAMPLE_RATE <= time.monotonic() - began + 0.02
    elapsed = time.monotonic() - began
    source.stop()
    assert total == SAMPLE_RATE
    assert 0.8 <= elapsed <= 1.6


def test_file_source_stop_ends_the_stream_for_a_waiting_reader():
    source = FileSource(JFK, realtime=True)
    source.start()
    threading.Timer(0.3, source.stop).start()
    began = time.monotonic()
    with pytest.raises(EndOfStream):
        while True:
            source.read(timeout=0.05)
    assert time.monotonic() - began < 1.0
    source.stop()  # idempotent


def test_file_source_fast_mode_has_audio_waiting_until_the_file_ends():
    source = FileSource(JFK, realtime=False)
    assert source.waiting is False  # not started: nothing to read
    with source:
        blocks = 0
        while True:
            was_waiting = source.waiting
            try:
                source.read(timeout=0.0)
            except EndOfStream:
                break
            assert was_waiting, f"block {blocks + 1} was there to read, yet not waiting"
            blocks += 1
        assert source.waiting is False
    assert blocks == 110  # 11 s in 100 ms blocks


def test_file_source_realtime_has_audio_waiting_once_a_block_is_due(media):
    source = FileSource(media / "one_second.wav", realtime=True, block_seconds=0.5)
    with source:
        began = time.monotonic()
        assert source.waiting is False  # the first 500 ms have not "happened" yet
        time.sleep(0.6)
        assert source.waiting is True
        assert source.read(timeout=0.0).size == SAMPLE_RATE // 2
        if time.monotonic() - began < 0.95:  # a stalled machine may already be past the next one
            assert source.waiting is False
        time.sleep(max(0.0, began + 1.1 - time.monotonic()))
        assert source.waiting is True
        assert source.read(timeout=0.0).size == SAMPLE_RATE // 2
        assert source.waiting is False  # the file is over
        with pytest.raises(EndOfStream):
            source.read(timeout=0.0)
    assert source.waiting is False


def test_mic_source_has_audio_waiting_while_callback_blocks_are_queued():
    # PortAudio's callback, called directly: the queue it fills is what `waiting` looks at.
    source = MicSource()
    assert source.waiting is False
    source._callback(np.zeros((160, 1), np.float32), 160, None, SimpleNamespace(input_overflow=False))
    assert source.waiting is True
    source.stop()  # a stopped source hands out nothing more, whatever is left in its queue
    assert source.waiting is False


# --- devices ----------------------------------------------------------------------------------------


class _NoPortAudio(importlib.abc.MetaPathFinder):
    """Makes `import sounddevice` fail as it does when libportaudio2 is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_missing_portaudio_is_a_device_error_saying_what_to_install(monkeypatch):
    # The one fake here: the library cannot be uninstalled for a test, so its import is made to fail.
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    for call in (list_devices, lambda: resolve_device(None), lambda: MicSource().start()):
        with pytest.raises(DeviceError, match="libportaudio2"):
            call()


def test_no_microphone_is_a_device_error_pointing_at_input_files():
    # A fresh process whose PulseAudio client finds no server: on a machine without a sound card
    # PortAudio then lists no input at all.
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH")}
    env["PULSE_SERVER"] = "unix:/nonexistent/pulse/native"
    code = (
        "from live.audio import list_devices, resolve_device, MicSource\n"
        "from live.errors import DeviceError\n"
        "if list_devices():\n"
        "    print('HAS-DEVICES')\n"
        "else:\n"
        "    for call in (lambda: resolve_device(None), lambda: resolve_device('usb'), lambda: MicSource().start()):\n"
        "        try:\n"
        "            call()\n"
        "        except DeviceError as exc:\n"
        "            print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if "HAS-DEVICES" in done.stdout:
        pytest.skip("this machine has a real input device, so 'no microphone' cannot be shown")
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("no microphone found") and "--input FILE" in line


@pytest.fixture(scope="module")
def virtual_mic(tmp_path_factory):
    """A private PulseAudio daemon with a virtual microphone, seen by this process's PortAudio."""
    with virtual_mic_in_this_process(tmp_path_factory.mktemp("vmic")) as mic:
        list_devices(rescan=True)  # PortAudio lists devices once; make it look again, now with the mic
        yield mic


def _first_audio(source: MicSource, within: float = 10.0) -> np.ndarray:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        block = source.read(timeout=0.5)
        if block is not None:
            return block
    raise AssertionError(f"no audio from {source.description} within {within} s")


def _record(source: MicSource, seconds: float) -> np.ndarray:
    chunks, n = [], 0
    deadline = time.monotonic() + seconds * 2 + 5
    while n < seconds * SAMPLE_RATE and time.monotonic() < deadline:
        block = source.read(timeout=0.5)
        if block is not None:
            chunks.append(block)
            n += block.size
    return np.concatenate(chunks)


@pytest.mark.mic
def test_list_devices_sees_the_virtual_microphone(virtual_mic):
    devices = list_devices()
    names = [d.name for d in devices]
    assert "pulse" in names
    assert sum(d.is_default for d in devices) == 1
    assert all(d.channels > 0 and d.default_samplerate > 0 for d in devices)


@pytest.mark.mic
def test_resolve_device_by_name_index_or_default(virtual_mic):
    pulse = next(d for d in list_devices() if d.name == "pulse")
    assert resolve_device("PULSE") == pulse.index
    assert resolve_device(str(pulse.index)) == pulse.index
    assert resolve_device(pulse.index) == pulse.index
    assert resolve_device(None) is None
    with pytest.raises(DeviceError, match=r"no input device matches 'usb headset'; run `live devices`"):
        resolve_device("usb headset")
    with pytest.raises(DeviceError, match="no input device matches '999'"):
        resolve_device(999)
    with pytest.raises(DeviceError, match="matches several input devices"):
        resolve_device("ul")  # "pULse" and "defaULt"


@pytest.mark.mic
@pytest.mark.slow
def test_mic_records_what_is_played_into_it(virtual_mic):
    source = MicSource("pulse")
    with source:
        assert source.description == "mic: pulse"
        first = _first_audio(source)
        virtual_mic.play(JFK)
        recording = _record(source, 12.5)
    assert source.capture_rate == SAMPLE_RATE
    assert source.samples_delivered == first.size + recording.size
    speech = clip("jfk.flac")
    offset, corr = locate(recording, speech)
    assert corr > 0.99, f"recording matches the clip only at r={corr:.3f}"
    assert offset + speech.size <= recording.size + SAMPLE_RATE // 10

    # Aligned on the clip (webrtcvad's frames depend on where a stream starts), the recording gives
    # the VAD the same speech as the file itself.
    heard = recording[offset:offset + speech.size]

    def voiced_spans(x):
        seg = Segmenter()
        return [(s.start, s.end) for s in seg.feed(x) + seg.flush()]

    assert voiced_spans(heard) == voiced_spans(speech[:heard.size])


@pytest.mark.mic
@pytest.mark.slow
def test_mic_at_a_native_48k_rate_is_resampled_to_16k(virtual_mic):
    source = MicSource("pulse", samplerate=48000)
    with source:
        _first_audio(source)
        virtual_mic.play(DATA / "pocketsphinx_librivox_0930.flac")
        recording = _record(source, 4.5)
    assert source.capture_rate == 48000
    speech = clip("pocketsphinx_librivox_0930.flac")
    _, corr = locate(recording, speech)
    assert corr > 0.97, f"recording matches the clip only at r={corr:.3f}"


@pytest.mark.mic
def test_mic_has_audio_waiting_when_the_reader_falls_behind(virtual_mic):
    source = MicSource("pulse")
    with source:
        _first_audio(source)
        time.sleep(0.3)  # the device goes on delivering while nobody reads
        assert source.waiting is True
        assert source.read(timeout=0.0).size >= SAMPLE_RATE // 5  # all that queued up, in one block
    assert source.waiting is False


@pytest.mark.mic
def test_mic_that_stops_delivering_raises_device_error(virtual_mic):
    source = MicSource("pulse", stall_timeout=1.0)
    with source:
        _first_audio(source)
        virtual_mic.freeze(True)
        try:
            began = time.monotonic()
            with pytest.raises(DeviceError, match="'pulse' sent no audio for .* reconnect"):
                while time.monotonic() - began < 10:
                    source.read(timeout=0.2)
            assert time.monotonic() - began < 4.0
        finally:
            virtual_mic.freeze(False)


@pytest.mark.mic
def test_stopping_a_mic_whose_stream_will_not_close_returns_promptly(virtual_mic):
    # A sound server that died can leave PortAudio's abort blocked for good (seen once in this suite):
    # stop must not hang quitting on it. The stream is real; only its abort is held at the boundary.
    from live.audio.mic import CLOSE_TIMEOUT_S

    source = MicSource("pulse")
    source.start()
    _first_audio(source)
    stream, held = source._stream, threading.Event()
    stream.abort = lambda: held.wait(30)
    began = time.monotonic()
    source.stop()
    assert time.monotonic() - began < CLOSE_TIMEOUT_S + 0.5
    with pytest.raises(EndOfStream):
        source.read(timeout=0.1)
    held.set()  # the closing thread goes on and closes the real stream
    deadline = time.monotonic() + 10
    while not stream.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stream.closed


@pytest.mark.mic
def test_mic_whose_sound_server_dies_raises_device_error_and_reconnects(virtual_mic):
    source = MicSource("pulse")
    try:
        source.start()
        _first_audio(source)
        virtual_mic.stop()
        began = time.monotonic()
        with pytest.raises(DeviceError, match="'pulse' .*reconnect"):
            while time.monotonic() - began < 10:
                source.read(timeout=0.2)
        assert time.monotonic() - began < 4.0
        source.stop()
        with pytest.raises(EndOfStream):  # a stopped source is over
            source.read(timeout=0.1)
    finally:
        source.stop()
        virtual_mic.start()
    # what the pipeline's reconnect does: a fresh source, device list re-read, hears the mic again
    again = MicSource("pulse", rescan=True)
    with again:
        assert _first_audio(again).size > 0
