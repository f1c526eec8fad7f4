"""Cut a 16 kHz stream into speech segments with webrtcvad, one frame at a time.

`Segmenter` is a plain object fed blocks of any size: no thread, no clock but the samples fed, so a
recording replayed through it gives the same segments as the same audio from a microphone, and the
tests drive it without one.

``VadOptions`` (options.py) says how; ``Segmenter`` (segmenter.py) does it.
"""

from live.vad.options import VadOptions
from live.vad.segmenter import Segment, Segmenter

__all__ = ["Segment", "Segmenter", "VadOptions"]
