"""A connection's audio as an ``AudioSource``: the session core reads a WebSocket like a microphone.

The socket's receive loop (asyncio) ``put``s each frame; the session's worker thread ``read``s
them. The queue between them holds at most ``capacity_s`` of audio: when it is full ``put`` waits,
so the receive loop stops reading the socket and TCP slows the client down. Audio is never dropped.
The session reads on while its decodes run (its VAD must see the audio as it comes), so ``hold``
says when it is too far behind to take more: the source then hands out nothing, its queue fills,
and the same backpressure reaches the client.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from live.audio import SAMPLE_RATE, AudioSource, EndOfStream
from live.audio.resample import Resampler
from live.wire.protocol import decode_pcm


class SocketSource(AudioSource):
    """Audio frames from one connection, for one session (realtime: the clock follows the wall)."""

    realtime = True

    def __init__(self, loop: asyncio.AbstractEventLoop, *, capacity_s: float = 2.0, rate: int = SAMPLE_RATE,
                 peer: str = "") -> None:
        super().__init__()
        self._loop = loop
        self._capacity = int(capacity_s * SAMPLE_RATE)
        self._resampler = Resampler(rate) if rate != SAMPLE_RATE else None
        self._peer = peer
        self._blocks: deque[np.ndarray] = deque()
        self._held = 0  # samples in the queue
        self._cond = threading.Condition()
        self._ended = False  # the client said stop: what is queued is the last of it
        self._stopped = False
        self._room = asyncio.Event()
        self.received_s = 0.0  # seconds of 16 kHz audio taken in
        self.hold: Callable[[], bool] = lambda: False  # the session is behind: hand out nothing for now

    @property
    def description(self) -> str:
        return f"websocket: {self._peer}" if self._peer else "websocket"

    def start(self) -> None:
        pass

    # -- the receive loop's side ------------------------------------------------------------------

    async def put(self, pcm: bytes) -> None:
        """Queue one frame of 16-bit PCM; waits (without reading the socket) while the queue is full."""
        block = decode_pcm(pcm)
        if self._resampler is not None:
            block = self._resampler.process(block)
        if block.size == 0:
            return
        while True:
            with self._cond:
                if self._stopped or self._ended:
                    return
                if self._held == 0 or self._held + block.size <= self._capacity:
                    self._blocks.append(block)
                    self._held += block.size
                    self.received_s += block.size / SAMPLE_RATE
                    self._cond.notify_all()
                    return
                self._room.clear()
            await self._room.wait()

    def end(self) -> None:
        """No more audio will come: ``read`` raises EndOfStream once the queue is empty."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    # -- the worker's side ------------------------------------------------------------------------

    def read(self, timeout: float) -> np.ndarray | None:
        if self._blocks and self.hold():
            with self._cond:
                self._cond.wait(max(timeout, 0.0))  # nothing for now, and the queue stays full
            if self._stopped:
                raise EndOfStream
            return None
        with self._cond:
            if not self._blocks and not (self._ended or self._stopped):
                self._cond.wait(max(timeout, 0.0))
            if self._stopped:
                raise EndOfStream
            if not self._blocks:
                if self._ended:
                    raise EndOfStream
                return None
            block = self._blocks.popleft()
            self._held -= block.size
            self._samples_delivered += block.size
        self._wake()
        return block

    @property
    def waiting(self) -> bool:
        return bool(self._blocks)

    @property
    def held_s(self) -> float:
        return self._held / SAMPLE_RATE

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._blocks.clear()
            self._held = 0
            self._cond.notify_all()
        self._wake()

    def _wake(self) -> None:
        """Tell a waiting ``put`` (on the event loop's thread) that there is room now."""
        try:
            self._loop.call_soon_threadsafe(self._room.set)
        except RuntimeError:  # the event loop is closed already (server shutdown)
            pass
