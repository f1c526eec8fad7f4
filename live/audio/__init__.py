"""Audio in: a microphone or a media file, handed out as 16 kHz mono float32 blocks.

Every source keeps one contract (`AudioSource`, in ``source``); ``mic`` and ``file`` are the two
kinds, ``devices`` finds microphones, ``loopback`` the computer's own audio (``--device monitor``),
``mix`` sums sources (``--mix``), ``resample`` brings other rates to 16 kHz. sounddevice
(PortAudio) and PyAV (FFmpeg) are imported lazily: ``live --help`` and the tests that never touch a
device must not need either library loaded.
"""

from live.audio.devices import InputDevice, list_devices, resolve_device
from live.audio.file import FileSource, check_media, check_media_path, decode_file, media_duration
from live.audio.loopback import SystemInput, input_factory, install_hint, list_system_inputs
from live.audio.mic import MicSource
from live.audio.mix import MixSource
from live.audio.resample import Resampler
from live.audio.source import SAMPLE_RATE, SILENCE_DBFS, AudioSource, EndOfStream, rms_dbfs

__all__ = [
    "SAMPLE_RATE",
    "SILENCE_DBFS",
    "AudioSource",
    "EndOfStream",
    "FileSource",
    "InputDevice",
    "MicSource",
    "MixSource",
    "Resampler",
    "SystemInput",
    "check_media",
    "check_media_path",
    "decode_file",
    "input_factory",
    "install_hint",
    "list_system_inputs",
    "list_devices",
    "media_duration",
    "resolve_device",
    "rms_dbfs",
]
