"""What one running server holds: its settings and limits, the key store, the shared decode queue,
the metrics, the stream slots, and the streams in progress."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from live.config import Settings
from live.serve.keys import KeyStore
from live.serve.limits import Limits, Slots
from live.serve.metrics import Metrics
from live.wire.protocol import ProtocolError
from live.serve.rooms import ServerRooms
from live.serve.scheduler import Backend, DecodeScheduler, LocalBackend
from live.serve.sessions import StreamSessions
from live.session.governor import GovernorOptions
from live.session.pacing import SharedPace

log = logging.getLogger("live.serve")


class OpenStream(Protocol):
    """What the server needs of a connection it holds open (``live.serve.stream.StreamConnection``)."""

    key_id: str

    def kill(self, error: ProtocolError) -> None: ...


KEY_CHECK_S = 2.0  # how often open streams' keys are checked again (a revoke by `live keys` elsewhere)


def default_data_dir() -> Path:
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "live" / "server"


@dataclass
class ServerConfig:
    """Everything ``live serve`` was told.

    Attributes:
        settings: the engine and VAD settings (as for ``live run``); ``language`` is the default.
        db: the key database.
        data_dir: where each stream's session folder goes (``streams/<session_id>``).
        limits: per key and global limits.
        origins: browser origins allowed to open streams ("*": any); requests without an Origin
            header (scripts, the live client) are always allowed.
        max_batch: most requests in one model call, for engines with a batch axis.
        ray: a Ray cluster address ("local" starts one here): decode on Ray Serve replicas.
        ray_replicas: how many replicas (each with ``settings.threads`` threads).
    """

    settings: Settings = field(default_factory=Settings)
    db: Path = field(default_factory=lambda: Path("server.db"))
    data_dir: Path = field(default_factory=default_data_dir)
    limits: Limits = field(default_factory=Limits)
    origins: tuple[str, ...] = ()
    max_batch: int = 8
    ray: str | None = None
    ray_replicas: int = 2

    def origin_allowed(self, origin: str | None) -> bool:
        return origin is None or "*" in self.origins or origin.rstrip("/") in {o.rstrip("/") for o in self.origins}


def engine_backend(config: ServerConfig) -> Backend:
    """The model of ``config`` as a decode backend: loaded here, or on Ray Serve replicas."""
    s = config.settings
    if config.ray:
        from live.serve.ray_backend import RayBackend

        return RayBackend.start(config.ray, replicas=config.ray_replicas, settings=s, max_batch=config.max_batch)
    from live.asr.loader import load_engine

    engine, reason = load_engine(s.engine, model=s.model, device=s.compute, threads=s.threads, backend=s.backend,
                                 language=s.language, on_status=lambda text: log.info("%s", text))
    log.info("engine: %s", reason)
    return LocalBackend(engine, max_batch=config.max_batch)


PRIVATE_DIR = 0o700


def prepare_data_dir(data_dir: Path) -> None:
    """The data dir and its ``streams``/``uploads`` folders, for the server's user alone (0700): they
    hold every lecture. Folders an older server (or a looser umask) made are tightened. A dir that
    cannot be made is logged here and answered per stream and per upload (full disk: storage_full)."""
    for folder in (data_dir, data_dir / "streams", data_dir / "uploads"):
        try:
            folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            if folder.stat().st_mode & 0o077:
                folder.chmod(PRIVATE_DIR)
                log.info("%s: made private to its owner (0700)", folder)
        except OSError as exc:
            log.warning("cannot prepare %s: %s", folder, exc.strerror or exc)


class Server:
    def __init__(self, config: ServerConfig, load_backend: Callable[[], Backend] | None = None) -> None:
        self.config = config
        self.limits = config.limits
        self.keys = KeyStore(config.db)
        self.metrics = Metrics()
        self.slots = Slots(config.limits)
        self.sessions = StreamSessions(config.data_dir)
        self.rooms = ServerRooms(config.data_dir)  # `live run --server URL --share`: /r/CODE on this server
        self.scheduler = DecodeScheduler(load_backend or (lambda: engine_backend(config)),
                                         on_batch=self.metrics.record_batch)
        self.metrics.watch_queue(lambda: self.scheduler.depth)
        # The streams share the decoder: the worst lag (or their bursts) sheds for all of them, and sooner
        # than a session alone does (the decoder's answer to a step shows within a second).
        self.pace = SharedPace(GovernorOptions(shed_s=1.0, restore_s=0.5, settle_s=1.0),
                               decode_time=self.scheduler.cost.time)
        self.streams: set[OpenStream] = set()
        self._watch: asyncio.Task | None = None
        self._usage_unsaved = False  # the key database could not be written (a full disk)
        self.started = time.time()

    @property
    def settings(self) -> Settings:
        return self.config.settings

    async def start(self) -> None:
        await asyncio.to_thread(prepare_data_dir, self.config.data_dir)
        self.scheduler.start()
        await self.rooms.start()
        self._watch = asyncio.create_task(self._watch_keys())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await self.rooms.stop()
        for stream in list(self.streams):
            stream.kill(ProtocolError("shutting_down", "the server is stopping; reconnect to resume"))
        self.scheduler.close()
        self.keys.close()

    def model_ready(self) -> bool:
        ready = self.scheduler.backend is not None
        self.metrics.model_ready.set(1 if ready else 0)
        return ready

    def record_use(self, key_id: str, *, streams: int = 0, files: int = 0, audio_s: float = 0.0) -> bool:
        """Count use against a key; False (and a warning) when the key database cannot be written (a full
        disk): the stream or upload goes on, and the caller may count it again later."""
        try:
            self.keys.record_use(key_id, streams=streams, files=files, audio_s=audio_s)
        except sqlite3.Error as exc:
            if not self._usage_unsaved:  # once, not once per stream every 10 s
                log.warning("the keys' use cannot be recorded (%s); it is counted again when it can be", exc)
            self._usage_unsaved = True
            return False
        if self._usage_unsaved:
            self._usage_unsaved = False
            log.info("the keys' use is recorded again")
        return True

    def close_streams_of(self, key_id: str, why: str) -> int:
        """Close the open streams of a key that may no longer be used; how many there were."""
        doomed = [s for s in self.streams if s.key_id == key_id]
        for stream in doomed:
            stream.kill(ProtocolError("unauthorized", f"the API key was {why}"))
        return len(doomed)

    async def _watch_keys(self) -> None:
        """Streams of a key revoked (or expired) anywhere, `live keys revoke` included, are closed."""
        while True:
            await asyncio.sleep(KEY_CHECK_S)
            for key_id in {s.key_id for s in self.streams}:
                why = await asyncio.to_thread(self.keys.still_valid, key_id)
                if why is not None:
                    self.close_streams_of(key_id, why)
