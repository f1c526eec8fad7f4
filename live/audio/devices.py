"""Input devices as PortAudio lists them, and turning a --device value into one.

sounddevice is imported only when a device is first asked for: ``live --help`` and a session from a
file must work on a machine without PortAudio.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from live.errors import DeviceError


@dataclass(frozen=True)
class InputDevice:
    """One input-capable device as PortAudio lists it."""

    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool


def load_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into an actionable error."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise DeviceError(
            "PortAudio is not installed; install libportaudio2 (Debian/Ubuntu: sudo apt install "
            "libportaudio2) or use --input FILE to caption a recording"
        ) from exc
    return sounddevice


def list_devices(rescan: bool = False) -> list[InputDevice]:
    """Input-capable devices, in PortAudio's order.

    PortAudio takes its device list once, when it is initialised. ``rescan=True`` re-initialises it so
    that a microphone plugged in (or a sound server started) since then shows up; it must not be
    used while a stream is open, because re-initialising closes every stream.
    """
    sd = load_sounddevice()
    if rescan:
        # sounddevice has no public call for this; these two are what it runs at import and exit.
        sd._terminate()
        sd._initialize()
    try:
        default_index = int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError):
        default_index = -1  # no default input: there may be no input at all
    devices = []
    for info in sd.query_devices():
        if info["max_input_channels"] <= 0:
            continue
        devices.append(
            InputDevice(
                index=int(info["index"]),
                name=str(info["name"]),
                channels=int(info["max_input_channels"]),
                default_samplerate=float(info["default_samplerate"]),
                is_default=int(info["index"]) == default_index,
            )
        )
    return devices


def resolve_device(spec: str | int | None) -> int | str | None:
    """Turn a --device value into what sounddevice takes: an index, or None for the default.

    ``spec`` is an index (int or digits) or a case-insensitive name or part of one; an exact name wins
    over a partial match.
    """
    devices = list_devices()
    if not devices:
        raise DeviceError(
            "no microphone found (PortAudio lists no input device); use --input FILE to caption a recording"
        )
    if spec is None:
        return None
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        if any(d.index == index for d in devices):
            return index
        raise DeviceError(f"no input device matches '{spec}'; run `live devices` to list them")
    wanted = spec.strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if exact:
        return exact[0].index
    partial = [d for d in devices if wanted in d.name.lower()]
    if len(partial) == 1:
        return partial[0].index
    if len(partial) > 1:
        names = ", ".join(f"{d.index}: {d.name}" for d in partial)
        raise DeviceError(f"'{spec}' matches several input devices ({names}); give its index or full name")
    raise DeviceError(f"no input device matches '{spec}'; run `live devices` to list them")
