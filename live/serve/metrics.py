"""``/metrics`` in Prometheus text format. Counts and timings only: never a key, never caption text.

Each server has a registry of its own, so several servers (the tests) can live in one process.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only double the output
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.streams_active = Gauge("live_streams_active", "WebSocket streams in progress", registry=r)
        self.uploads_active = Gauge("live_uploads_active", "file transcriptions in progress", registry=r)
        self.rejections = Counter("live_rejections", "requests and streams refused, by reason", ["reason"], registry=r)
        self.audio_seconds = Counter("live_audio_seconds", "seconds of audio received", ["kind"], registry=r)
        self.finals = Counter("live_finals", "final captions sent", registry=r)
        self.final_latency = Histogram("live_final_latency_seconds",
                                       "a final's latency: when it was produced, after the end of its audio",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("live_decode_queue_depth", "decode requests waiting for the model", registry=r)
        self.decodes = Counter("live_decodes", "decode requests done, by kind", ["kind"], registry=r)
        self.batch_size = Histogram("live_decode_batch_size", "requests in one model call",
                                    buckets=(1, 2, 3, 4, 6, 8, 16), registry=r)
        self.decode_seconds = Histogram("live_decode_seconds", "wall time of one model call",
                                        buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0), registry=r)
        self.model_ready = Gauge("live_model_ready", "1 once the model is loaded", registry=r)
        for reason in ("unauthorized", "forbidden", "server_full", "too_many_streams", "quota_exceeded",
                       "too_large", "bad_frame"):
            self.rejections.labels(reason)  # present at 0, so a scraper sees the series before the first one
        for kind in ("stream", "file"):
            self.audio_seconds.labels(kind)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(lambda: float(depth()))

    def record_batch(self, kinds: list[str], wall_s: float, audio_s: float) -> None:
        self.batch_size.observe(len(kinds))
        self.decode_seconds.observe(wall_s)
        for kind in kinds:
            self.decodes.labels(kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
