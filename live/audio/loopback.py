"""The computer's own audio as an input: what the speakers play (an online lecture, a video call).

Where it comes from, by system:

- **Linux, PulseAudio or PipeWire** (through pipewire-pulse): every output ("sink") has a *monitor*
  source. PortAudio has no PulseAudio backend; it reaches the sound server through ALSA's ``pulse``
  device (libasound2-plugins), which records the *default* source, so PortAudio never lists the
  monitors. They are found with ``pactl list sources`` (run with LC_ALL=C: its field names are
  translated) and opened through the ``pulse`` device with ``PULSE_SOURCE=<monitor>`` set while the
  stream opens — libpulse reads it when the stream connects, and it is put back at once, so a
  microphone opened after it (``--mix``) still gets the default source.
- **Windows**: a PortAudio built with WASAPI loopback (PortAudio's master since 2022, PR #672) lists an
  input named "<output> [Loopback]" for each output; it is opened like a microphone. The PortAudio in
  sounddevice's wheels may be older and lack it: then ``live devices`` says to install VB-CABLE. That
  path cannot be tested here (no Windows); the names and the stall rule below follow PortAudio's code.
- **macOS** has no loopback of its own: a virtual device (BlackHole, Rogue Amoeba's Loopback) is an
  input like any other, found by its name.

``--device monitor`` picks the monitor of the default output (else the first one found);
``--device NAME`` takes a listed monitor by its name or description.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from live.audio.devices import list_devices, load_sounddevice, resolve_device
from live.audio.mic import MicSource
from live.audio.mix import MixSource
from live.audio.source import AudioSource
from live.errors import DeviceError

SystemKind = Literal["pulse-monitor", "wasapi-loopback", "virtual"]
KEYWORDS = ("monitor", "system")  # --device monitor: what the speakers play
VIRTUAL_NAMES = ("blackhole", "loopback", "soundflower", "cable output", "voicemeeter out")
_env_lock = threading.Lock()  # PULSE_SOURCE is process-wide: one stream opens with it at a time


@dataclass(frozen=True)
class SystemInput:
    """An input that carries what the computer plays.

    Attributes:
        name: what ``--device`` takes: the PulseAudio source name, or the PortAudio device name.
        description: what the system calls it ("Monitor of Built-in Audio Analog Stereo").
        kind: a PulseAudio monitor, a WASAPI loopback input, or a virtual device (BlackHole, VB-CABLE).
        is_default: it carries the default output (what plays when no output is chosen).
        index: the PortAudio device index (loopback and virtual devices; None for a monitor).
    """

    name: str
    description: str
    kind: SystemKind
    is_default: bool = False
    index: int | None = None


# --- finding them -----------------------------------------------------------------------------------


def _pactl(*args: str) -> str | None:
    if shutil.which("pactl") is None:
        return None
    try:
        done = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=5, check=False,
                              env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def pulse_monitors() -> list[SystemInput]:
    """The monitor sources of a PulseAudio/PipeWire server (none without pactl or a server)."""
    listing = _pactl("list", "sources")
    if listing is None:
        return []
    info = _pactl("info") or ""
    default_sink = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                         if line.startswith("Default Sink:")), None)
    monitors, fields = [], {}
    for line in listing.splitlines() + ["Source #end"]:
        if line.startswith("Source #"):
            of = fields.get("Monitor of Sink")
            if fields.get("Name") and of and of != "n/a":
                monitors.append(SystemInput(fields["Name"], fields.get("Description", ""), "pulse-monitor",
                                            is_default=of == default_sink))
            fields = {}
        elif ":" in line and line.startswith("\t") and not line.startswith("\t\t"):
            key, value = line.strip().split(":", 1)
            fields[key] = value.strip()
    return monitors


def portaudio_system_inputs() -> list[SystemInput]:
    """WASAPI loopback inputs and virtual loopback devices among PortAudio's inputs."""
    try:
        sd = load_sounddevice()
        devices = list_devices()
        hostapis = [str(api["name"]) for api in sd.query_hostapis()]
        default_output = int(sd.default.device[1])
        output_name = str(sd.query_devices(default_output)["name"]) if default_output >= 0 else ""
    except (DeviceError, OSError, ValueError, IndexError, TypeError):
        return []
    found = []
    for d in devices:
        lower = d.name.lower()
        if not any(word in lower for word in VIRTUAL_NAMES):
            continue
        hostapi = hostapis[int(sd.query_devices(d.index)["hostapi"])]
        wasapi = "[loopback]" in lower and "WASAPI" in hostapi
        found.append(SystemInput(d.name, d.name, "wasapi-loopback" if wasapi else "virtual",
                                 is_default=wasapi and bool(output_name) and output_name in d.name, index=d.index))
    return found


def list_system_inputs() -> list[SystemInput]:
    """Every input that carries what the computer plays, the default output's first."""
    found = pulse_monitors() + portaudio_system_inputs()
    return sorted(found, key=lambda s: not s.is_default)


def install_hint(platform: str = sys.platform) -> str:
    """What to install where the system offers no loopback input."""
    if platform == "darwin":
        return ("macOS has no loopback input of its own: install BlackHole (free; brew install blackhole-2ch) or "
                "Rogue Amoeba's Loopback, send the sound to it (Audio MIDI Setup: a Multi-Output Device with your "
                "speakers and BlackHole), then --device BlackHole")
    if platform.startswith("win"):
        return ("this PortAudio offers no WASAPI loopback input: install VB-CABLE (vb-audio.com/Cable), play the "
                "lecture into 'CABLE Input' (Sound settings → 'Listen to this device' to hear it too), then "
                "--device 'CABLE Output'")
    if shutil.which("pactl") is None:
        return ("no PulseAudio/PipeWire tools: install pactl (Debian/Ubuntu: pulseaudio-utils) to find the monitor "
                "of your speakers; with plain ALSA, load snd-aloop and record its Loopback device")
    return "the sound server lists no monitor source (is PulseAudio or pipewire-pulse running?)"


def find_system_input(spec: str | None, inputs: list[SystemInput] | None = None) -> SystemInput | None:
    """The system input ``spec`` names: "monitor" (the default output's), or a listed name or description.
    None when it names none (it may be a microphone); a DeviceError saying what to install when
    "monitor" is asked for and the system has none."""
    if spec is None:
        return None
    wanted = spec.strip().lower()
    if wanted not in KEYWORDS and not any(word in wanted for word in ("monitor", *VIRTUAL_NAMES)):
        return None  # a microphone's name or index: no need to ask the sound server
    inputs = list_system_inputs() if inputs is None else inputs
    if wanted in KEYWORDS:
        if not inputs:
            raise DeviceError(f"no input carries what this computer plays; {install_hint()}")
        return inputs[0]
    exact = [s for s in inputs if wanted in (s.name.lower(), s.description.lower())]
    return exact[0] if exact else None


# --- opening them -----------------------------------------------------------------------------------


@contextmanager
def _pulse_source(name: str) -> Iterator[None]:
    with _env_lock:
        saved = os.environ.get("PULSE_SOURCE")
        os.environ["PULSE_SOURCE"] = name
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("PULSE_SOURCE", None)
            else:
                os.environ["PULSE_SOURCE"] = saved


class MonitorSource(MicSource):
    """A PulseAudio/PipeWire monitor (what an output plays), recorded through PortAudio's ALSA ``pulse``
    device with PULSE_SOURCE naming it. Everything else is a microphone's: resampling, stall checks."""

    def __init__(self, source: SystemInput, **kwargs) -> None:
        super().__init__("pulse", **kwargs)
        self.source = source

    @property
    def description(self) -> str:
        return f"system audio: {self.source.description or self.source.name}"

    def start(self) -> None:
        if not any(d.name == "pulse" for d in list_devices()):
            raise DeviceError(f"PortAudio has no ALSA 'pulse' device to record '{self.source.name}' through; "
                              "install the ALSA PulseAudio plugin (Debian/Ubuntu: libasound2-plugins)")
        with _pulse_source(self.source.name):
            super().start()
        self._name = f"{self.source.name} (system audio)"  # what its error messages call it


def open_system_input(source: SystemInput, *, rescan: bool = False) -> AudioSource:
    if source.kind == "pulse-monitor":
        return MonitorSource(source, rescan=rescan)
    if source.kind == "wasapi-loopback":
        # A WASAPI loopback input may deliver nothing while nothing plays (PortAudio issue #935): that
        # silence is not a lost device, so only a closed stream counts as one.
        return MicSource(source.name, rescan=rescan, stall_timeout=float("inf"), first_block_timeout=float("inf"))
    return MicSource(source.name, rescan=rescan)


def input_factory(device: str | None, mix: str | None = None) -> Callable[[], AudioSource]:
    """Check ``--device`` (and ``--mix``) now — a clear error before any UI — and return what opens the
    input at each (re)connect: a microphone, the computer's own audio, or the two mixed."""
    system = find_system_input(device)
    if mix is None:
        if system is not None:
            return lambda: open_system_input(system, rescan=True)
        resolve_device(device)
        # Resolved again at each (re)connect: a re-plugged microphone may come back under another index.
        return lambda: MicSource(device, rescan=True)
    if system is not None:
        raise DeviceError(f"--device {device} is system audio; with --mix, --device names the microphone "
                          f"and --mix the system audio (e.g. --mix {system.name})")
    other = find_system_input(mix if mix.strip() else "monitor")
    if other is None:
        raise DeviceError(f"--mix {mix}: no such system audio input; `live devices` lists them")
    resolve_device(device)
    # One rescan for both, before either opens: re-initialising PortAudio would close the other.
    return lambda: MixSource([MicSource(device), open_system_input(other)], rescan=True)
