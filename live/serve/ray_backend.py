"""Decoding on Ray Serve replicas (``live serve --ray ADDRESS``), for more streams than one machine holds.

The gateway (this ``live serve``) keeps everything that belongs to a stream: the socket, the VAD, the
captioner, the session folder. A decode is a stateless call, audio in and text out, so the
scheduler sends its batches to a Ray Serve deployment of N replicas, each holding the model, on
whatever machines the Ray cluster has; one batch per replica is in flight at a time. ``local``
starts a Ray instance on this machine (what the tests do); otherwise ``ADDRESS`` is a cluster's
(``ray://head:10001``, or ``auto`` on a cluster node). Every Ray node needs ``live-captions``
installed, with the model at the same path.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from live.asr.base import Transcription
from live.config import Settings
from live.errors import ConfigError
from live.serve.scheduler import LocalBackend

log = logging.getLogger("live.serve")

APP_NAME = "live-decoder"


class Decoder:
    """One replica: the model, loaded once, decoding batches (the deployment's class)."""

    def __init__(self, engine: str, model: str | None, backend: str, compute: str, threads: int | None,
                 max_batch: int, language: str = "auto") -> None:
        from live.asr.loader import load_engine

        # The language decides which Whisper loads (tiny.en for English, base otherwise), as on the gateway.
        loaded, self.reason = load_engine(engine, model=model, device=compute, threads=threads, backend=backend,
                                          language=language)
        self.local = LocalBackend(loaded, max_batch=max_batch)

    def info(self) -> dict:
        return {"name": self.local.name, "model": self.local.model, "max_batch": self.local.max_batch,
                "reason": self.reason}

    def decode(self, audios: list[np.ndarray], language: str) -> dict:
        return {"replica": f"pid {os.getpid()}", "results": [asdict(r) for r in self.local.decode(audios, language)]}


class RayBackend:
    """The scheduler's backend when decoding runs on Ray Serve."""

    def __init__(self, handle, info: dict, replicas: int, started_ray: bool) -> None:
        self._handle = handle
        self.name, self.model = info["name"], info["model"]
        self.max_batch = int(info["max_batch"])
        self.parallel = replicas
        self._started_ray = started_ray
        self.replicas: Counter[str] = Counter()  # batches decoded by each replica (shown by /readyz)

    @classmethod
    def start(cls, address: str, *, replicas: int, settings: Settings, max_batch: int) -> RayBackend:
        try:
            import ray
            from ray import serve
        except ImportError:
            raise ConfigError("--ray needs Ray Serve: pip install 'live-captions[ray]'") from None
        local = address == "local"
        kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                        "ignore_reinit_error": True}
        if local:
            # Ray's workers must import this very checkout, installed or not; the replicas must fit
            # even when they ask for more threads than the machine has cores.
            kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}}
            kwargs["num_cpus"] = max(os.cpu_count() or 1, replicas * (settings.threads or 1))
            kwargs["object_store_memory"] = 256 * 1024 * 1024  # audio segments are small
        log.info("connecting to Ray (%s)…", address)
        try:
            ray.init(address=None if local else address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from None
        serve.start(proxy_location="Disabled")  # no HTTP proxy: only this gateway calls the replicas
        deployment = serve.deployment(
            Decoder, name=APP_NAME, num_replicas=replicas, max_ongoing_requests=1,
            ray_actor_options={"num_cpus": settings.threads or 1},
        )
        s = settings
        handle = serve.run(deployment.bind(s.engine, s.model, s.backend, s.compute, s.threads, max_batch, s.language),
                           name=APP_NAME, route_prefix=None)
        info = handle.info.remote().result()
        log.info("Ray Serve: %d replicas of %s %s (%s)", replicas, info["name"], info["model"], info["reason"])
        return cls(handle, info, replicas, started_ray=local)

    def decode(self, audios: list[np.ndarray], language: str) -> list[Transcription]:
        answer = self._handle.decode.remote(list(audios), language).result()
        self.replicas[answer["replica"]] += 1
        results = answer["results"]
        return [Transcription(text=r["text"], language=r.get("language"), emotion=r.get("emotion"),
                              events=tuple(r.get("events") or ())) for r in results]

    def preempt(self) -> bool:
        return False  # a replica's call runs to its end (its partials are short)

    def close(self) -> None:
        try:
            from ray import serve

            serve.delete(APP_NAME)
            if self._started_ray:
                import ray

                ray.shutdown()
        except Exception:  # noqa: BLE001 - shutting down a cluster that is already gone is not an error
            log.info("Ray Serve was gone already at shutdown")
