"""The computer's own audio: monitors listed by `live devices`, `--device monitor` captioning what the
speakers play, and `--mix` taking the microphone and the speakers together.

The PulseAudio tests use the virtual microphone's private daemon with a second null sink, "speakers",
made the default output: a clip played into it is what a video call would put on the speakers. WASAPI
loopback (Windows) cannot be run here; its naming rule is checked against PortAudio's device list shape.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_helpers import DATA, clip, locate, virtual_mic_in_this_process
from proc_helpers import Watched, engine_ready
from live.audio import SAMPLE_RATE, EndOfStream, FileSource, MixSource, list_devices
from live.audio import loopback
from live.audio.loopback import SystemInput, find_system_input, input_factory, install_hint, list_system_inputs
from live.errors import DeviceError

JFK = DATA / "jfk.flac"
HARVARD = DATA / "realpython_harvard.flac"


# --- mixing: real files in real time, no sound server needed -------------------------------------------


def drain(source, seconds: float = 60.0) -> np.ndarray:
    chunks, deadline = [], time.monotonic() + seconds
    with source:
        while time.monotonic() < deadline:
            try:
                block = source.read(0.05)
            except EndOfStream:
                break
            if block is not None:
                chunks.append(block)
    return np.concatenate(chunks)


def tone(tmp_path: Path, name: str, seconds: float, amplitude: float, freq: float = 440.0) -> Path:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    path = tmp_path / name
    sf.write(path, (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    return path


def silence(tmp_path: Path, seconds: float) -> Path:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(int(seconds * SAMPLE_RATE), np.float32), SAMPLE_RATE)
    return path


@pytest.mark.slow
def test_mix_of_speech_and_silence_is_the_speech_in_place(tmp_path):
    mixed = drain(MixSource([FileSource(JFK), FileSource(silence(tmp_path, 4.0))]))
    speech = clip("jfk.flac")
    offset, corr = locate(mixed, speech)
    assert corr > 0.99 and abs(offset) < SAMPLE_RATE // 20  # aligned within a block
    assert abs(mixed.size - speech.size) < SAMPLE_RATE // 10  # the longer source sets the length


@pytest.mark.slow
def test_mix_sums_levels_without_clipping(tmp_path):
    loud = [tone(tmp_path, "a.wav", 2.0, 0.8), tone(tmp_path, "b.wav", 2.0, 0.8)]
    mixed = drain(MixSource([FileSource(p) for p in loud]))
    assert np.max(np.abs(mixed)) <= 0.99 + 1e-6  # 1.6 at the peaks, scaled down rather than clipped
    quiet = drain(MixSource([FileSource(tone(tmp_path, "c.wav", 2.0, 0.2)),
                             FileSource(tone(tmp_path, "d.wav", 2.0, 0.1))]))
    assert 0.29 < np.max(np.abs(quiet)) < 0.31  # levels add up where nothing would clip


class LateSource(FileSource):
    """A real file that, like a PulseAudio monitor, delivers nothing for its first second."""

    def start(self) -> None:
        super().start()
        self.began = time.monotonic()

    def read(self, timeout):
        if time.monotonic() - self.began < 1.0:
            time.sleep(timeout)
            return None
        return super().read(timeout)


@pytest.mark.slow
def test_mix_never_waits_for_a_late_source_and_keeps_real_time(tmp_path):
    mix = MixSource([FileSource(JFK), LateSource(HARVARD)])
    began, delivered = time.monotonic(), 0
    with mix:
        while time.monotonic() - began < 3.0:
            block = mix.read(0.05)
            if block is not None:
                delivered += block.size
            if time.monotonic() - began > 0.6:
                assert delivered > 0.3 * SAMPLE_RATE  # the first source flows while the second is silent
        elapsed = time.monotonic() - began
    assert mix.padded[1] > 0.5 * SAMPLE_RATE  # the late one was filled with silence...
    assert abs(delivered / SAMPLE_RATE - elapsed) < 0.5  # ...and the mix kept the wall clock's pace


# --- PulseAudio: a "speakers" sink and its monitor ------------------------------------------------------


@pytest.fixture(scope="module")
def speakers(tmp_path_factory):
    """The virtual microphone's private PulseAudio, with a 48 kHz stereo null sink "speakers" as the
    default output; this process (and its children) see that daemon."""
    with virtual_mic_in_this_process(tmp_path_factory.mktemp("vmic")) as mic:
        subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=speakers", "rate=48000",
                        "channels=2", "sink_properties=device.description=Speakers"],
                       check=True, capture_output=True, timeout=30)
        subprocess.run(["pactl", "set-default-sink", "speakers"], check=True, timeout=30)
        list_devices(rescan=True)
        players: list[subprocess.Popen] = []

        def play(path: Path) -> subprocess.Popen:
            """Play a clip on the speakers in real time, as a browser would."""
            command = (f'ffmpeg -nostdin -v quiet -i "{path}" -f s16le -ac 2 -ar 48000 - | '
                       "pacat --playback --raw --format=s16le --rate=48000 --channels=2 --device=speakers")
            player = subprocess.Popen(["bash", "-c", command], start_new_session=True)
            players.append(player)
            return player

        play.mic = mic  # type: ignore[attr-defined]
        yield play
        for player in players:
            if player.poll() is None:
                os.killpg(player.pid, signal.SIGTERM)
            player.wait(timeout=10)


@pytest.mark.mic
def test_devices_lists_the_monitors_default_output_first(speakers):
    inputs = list_system_inputs()
    assert inputs[0] == SystemInput("speakers.monitor", "Monitor of Speakers", "pulse-monitor", is_default=True)
    assert "vmic_sink.monitor" in [s.name for s in inputs]
    assert find_system_input("monitor") == inputs[0]
    assert find_system_input("Monitor of Speakers") == inputs[0]
    assert find_system_input("pulse") is None  # a microphone: PortAudio's
    done = subprocess.run([sys.executable, "-m", "live", "devices"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    microphones, system = done.stdout.split("system audio", 1)
    assert microphones.startswith("microphones (--device INDEX or a name below") and "  pulse  " in microphones
    assert "* " in system and "speakers.monitor  (Monitor of Speakers)" in system


def test_devices_heads_the_microphones_as_it_heads_system_audio():
    from live.audio import list_devices

    if list_devices() or list_system_inputs():
        pytest.skip("this machine has audio devices: the one above lists them")
    done = subprocess.run([sys.executable, "-m", "live", "devices"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1 and done.stderr == ""
    microphones, system = done.stdout.split("\nsystem audio", 1)
    assert microphones.splitlines() == ["microphones (--device INDEX or a name below; * the default):",
                                        "  none: no input devices found (no sound card?); use --input FILE to "
                                        "caption a recording"]
    assert system.splitlines()[1].startswith("  none: ")


@pytest.mark.mic
@pytest.mark.slow
def test_the_monitor_records_what_the_speakers_play(speakers):
    source = input_factory("monitor")()
    with source:
        assert source.description == "system audio: Monitor of Speakers"
        deadline = time.monotonic() + 10
        while source.read(0.2) is None:  # a monitor takes a moment to deliver its first block
            assert time.monotonic() < deadline, "no audio from the monitor"
        speakers(JFK)
        chunks, n = [], 0
        while n < 12.5 * SAMPLE_RATE:
            block = source.read(0.5)
            if block is not None:
                chunks.append(block)
                n += block.size
    recording = np.concatenate(chunks)
    _, corr = locate(recording, clip("jfk.flac"))
    assert corr > 0.95, f"the monitor matches the clip only at r={corr:.3f}"  # 48 kHz stereo → 16 kHz mono
    assert "PULSE_SOURCE" not in os.environ  # put back once the stream was open


def live_headless(*args: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "live", "--headless", "--engine", "whisper",
                             "--session-dir", str(tmp_path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def said(out: str) -> str:
    import re

    from wer_helpers import normalize

    return normalize(" ".join(re.sub(r"^\[[\d:]+\] ", "", line) for line in out.splitlines()))


@pytest.mark.mic
@pytest.mark.slow
def test_device_monitor_captions_what_the_speakers_play(speakers, tmp_path):
    watched = Watched(live_headless("--device", "monitor", tmp_path=tmp_path))
    watched.wait_err(engine_ready)  # the monitor opens before the model loads
    speakers(JFK).wait(timeout=60)
    watched.wait_out(lambda out: "your country" in said(out))
    watched.proc.send_signal(signal.SIGINT)
    out, err = watched.finish()
    proc = watched.proc
    assert proc.returncode == 0, err
    assert "ask not what your country can do for you" in said(out), out
    meta = json.loads((next(tmp_path.iterdir()) / "session.json").read_text())
    assert meta["device"] == "monitor"


@pytest.mark.mic
@pytest.mark.slow
def test_mix_captions_the_microphone_and_the_speakers(speakers, tmp_path):
    watched = Watched(live_headless("--mix", tmp_path=tmp_path))
    watched.wait_err(engine_ready)
    speakers.mic.play(JFK)  # the student's room: the microphone
    speakers.mic.wait()
    watched.wait_out(lambda out: "your country" in said(out))
    speakers(HARVARD).wait(timeout=60)  # then the lecture on the speakers
    watched.wait_out(lambda out: "odor" in said(out))
    watched.proc.send_signal(signal.SIGINT)
    out, err = watched.finish()
    proc = watched.proc
    assert proc.returncode == 0, err
    text = said(out)
    assert "ask not what your country can do for you" in text, out
    assert "stale smell" in text and "it takes heat to bring out the odor" in text, out


# --- choosing and refusing ------------------------------------------------------------------------------


def test_monitor_where_the_system_has_none_says_what_to_install():
    with pytest.raises(DeviceError, match="no input carries what this computer plays"):
        find_system_input("monitor", inputs=[])
    assert "BlackHole" in install_hint("darwin") and "VB-CABLE" in install_hint("win32")


def test_mix_wants_the_microphone_in_device(monkeypatch):
    monitor = SystemInput("speakers.monitor", "Monitor of Speakers", "pulse-monitor", is_default=True)
    monkeypatch.setattr(loopback, "list_system_inputs", lambda: [monitor])
    with pytest.raises(DeviceError, match="with --mix, --device names the microphone"):
        input_factory("monitor", mix="monitor")
    with pytest.raises(DeviceError, match="--mix nowhere.monitor: no such system audio input"):
        input_factory(None, mix="nowhere.monitor")


def test_wasapi_loopback_inputs_are_system_audio(monkeypatch):
    """Windows cannot run here: PortAudio's device list as a WASAPI-loopback build gives it instead."""

    class FakeSoundDevice:
        class default:
            device = (0, 2)

        devices = [
            {"index": 0, "name": "Microphone (Realtek)", "hostapi": 1, "max_input_channels": 2},
            {"index": 1, "name": "Speakers (Realtek) [Loopback]", "hostapi": 1, "max_input_channels": 2},
            {"index": 2, "name": "Speakers (Realtek)", "hostapi": 1, "max_input_channels": 0},
            {"index": 3, "name": "CABLE Output (VB-Audio Virtual Cable)", "hostapi": 0, "max_input_channels": 2},
        ]

        @classmethod
        def query_hostapis(cls):
            return [{"name": "MME"}, {"name": "Windows WASAPI"}]

        @classmethod
        def query_devices(cls, index):
            return cls.devices[index]

    from live.audio.devices import InputDevice

    monkeypatch.setattr(loopback, "load_sounddevice", lambda: FakeSoundDevice)
    monkeypatch.setattr(loopback, "list_devices", lambda: [
        InputDevice(d["index"], d["name"], 2, 48000.0, d["index"] == 0)
        for d in FakeSoundDevice.devices if d["max_input_channels"]])
    found = loopback.portaudio_system_inputs()
    assert [(s.name, s.kind, s.is_default) for s in found] == [
        ("Speakers (Realtek) [Loopback]", "wasapi-loopback", True),
        ("CABLE Output (VB-Audio Virtual Cable)", "virtual", False),
    ]
    source = loopback.open_system_input(found[0])
    assert source.stall_timeout == float("inf")  # silence while nothing plays is not a lost device
