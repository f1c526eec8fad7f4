"""Helpers for the asr and model tests: real speech, test signals, damaged model folders, a local hub."""

from __future__ import annotations

import csv
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

import live
from live.audio.source import SAMPLE_RATE

DEMO = Path(live.__file__).resolve().parent / "data" / "demo.flac"  # real talk, ships with live
SHARED_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "audio"


def demo_speech(seconds: float = 6.0, start: float = 0.0) -> np.ndarray:
    """``seconds`` of the packaged demo talk (real speech), 16 kHz mono float32."""
    audio, rate = sf.read(DEMO, dtype="float32", start=int(start * SAMPLE_RATE),
                          frames=int(seconds * SAMPLE_RATE))
    assert rate == SAMPLE_RATE and audio.ndim == 1
    return audio


def white_noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    """Gaussian white noise whose RMS level is ``dbfs``."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 10 ** (dbfs / 20)).astype(np.float32)


@dataclass(frozen=True)
class Clip:
    path: Path
    reference: str


def gold_english_clips() -> list[Clip]:
    """The English clips of ../shared/audio with a human (gold) transcript."""
    with (SHARED_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [Clip(SHARED_AUDIO / row["file"], row["reference"]) for row in rows
            if row["language"] == "en" and row["reference_kind"] == "gold"]


def damage_checkpoint(source: Path, dest: Path, how: str) -> Path:
    """Copy a SenseVoice folder and break its model.pt: "shape" (one tensor resized) or "missing"."""
    import torch

    shutil.copytree(source, dest)
    state = torch.load(dest / "model.pt", map_location="cpu", weights_only=True)
    key = next(k for k, v in state.items() if k.startswith("encoder.") and v.ndim == 2)
    if how == "shape":
        state[key] = torch.zeros(3, 3)
    elif how == "missing":
        del state[key]
    else:
        raise ValueError(how)
    torch.save(state, dest / "model.pt")
    return dest


# --- a local model hub ---------------------------------------------------------------------------


@dataclass
class LocalHub:
    """A real HTTP server on 127.0.0.1 serving files at a hub's resolve URLs (see ``local_hub``).

    Attributes:
        endpoint: its base URL.
        requests: (path, Range header) of every GET, in order.
        missing: file names it answers 404 for.
    """

    endpoint: str
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)


@contextmanager
def local_hub(repo: str, folder: Path, layout: str = "modelscope") -> Iterator[LocalHub]:
    """Serve ``folder``'s files as repository ``repo``, honouring Range requests (for resume).

    ``layout`` is "modelscope" (``/models/<repo>/resolve/master/``) or "huggingface" (``/<repo>/resolve/main/``).
    """
    prefix = f"/models/{repo}/resolve/master/" if layout == "modelscope" else f"/{repo}/resolve/main/"
    hub = LocalHub(endpoint="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hub.requests.append((self.path, self.headers.get("Range")))
            name = self.path[len(prefix):] if self.path.startswith(prefix) else ""
            path = folder / name
            if not name or name in hub.missing or not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start = 0
            wanted = self.headers.get("Range", "")
            if wanted.startswith("bytes=") and wanted.endswith("-"):
                start = int(wanted[len("bytes="):-1])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def silent_server() -> Iterator[str]:
    """A URL on 127.0.0.1 whose server accepts connections and never answers (a stalled network)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
