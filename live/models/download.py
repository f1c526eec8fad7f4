"""Downloading a model folder from ModelScope or Hugging Face, safely and within bounded time.

Files go to a hidden partial folder next to the target, renamed into place only when complete and
valid, so a half-downloaded folder is never taken for a model; a retry resumes it. Offline, every
hub is given up within seconds. See models/README.md.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from live import __version__
from live.errors import ModelError
from live.models.folders import SENSEVOICE_BPE, check_sensevoice_folder

log = logging.getLogger("live.models")

Progress = Callable[[int, "int | None"], None]
"""Called with (bytes done, bytes expected in all); the total is None while unknown."""

CONNECT_TIMEOUT_S = 4.0  # per hub; offline must fail within ~10 s over both hubs
READ_TIMEOUT_S = 30.0  # a stalled transfer fails instead of hanging forever
_CHUNK = 1 << 20

OFFLINE_HINT = "pass --model FOLDER with a local SenseVoice folder, or use --engine whisper"


class DownloadError(ModelError):
    """A model could not be downloaded; ``offline`` when no hub could even be reached."""

    def __init__(self, message: str, *, model_id: str, offline: bool) -> None:
        super().__init__(message)
        self.model_id = model_id
        self.offline = offline


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model (mirrors an entry of models/registry.toml).

    Attributes:
        name: the folder name under ``models_dir()``.
        modelscope: ModelScope repository id, or None.
        huggingface: Hugging Face repository id, or None.
        files: the files a complete folder needs, with their approximate sizes in bytes.
        license: the model's license, as its card states it.
    """

    name: str
    modelscope: str | None
    huggingface: str | None
    files: tuple[tuple[str, int], ...]
    license: str

    @property
    def approx_bytes(self) -> int:
        return sum(size for _, size in self.files)


SENSEVOICE_SMALL = ModelSpec(
    name="sensevoice-small",
    modelscope="iic/SenseVoiceSmall",
    huggingface="FunAudioLLM/SenseVoiceSmall",
    files=(
        ("configuration.json", 400),
        ("config.yaml", 2_000),
        ("am.mvn", 11_000),
        (SENSEVOICE_BPE, 380_000),
        ("model.pt", 936_000_000),
    ),
    license="FunASR Model Open Source License (see the model card)",
)

KNOWN_SPECS = {SENSEVOICE_SMALL.name: SENSEVOICE_SMALL}


@dataclass(frozen=True)
class Hub:
    """One place a model can be fetched from.

    Attributes:
        kind: "modelscope" or "huggingface".
        repo: the repository id on that hub.
        endpoint: base URL, e.g. https://www.modelscope.cn.
    """

    kind: str
    repo: str
    endpoint: str

    def file_url(self, filename: str) -> str:
        quoted = urllib.parse.quote(filename)
        if self.kind == "modelscope":
            return f"{self.endpoint}/models/{self.repo}/resolve/master/{quoted}"
        return f"{self.endpoint}/{self.repo}/resolve/main/{quoted}"


# --- downloading ---------------------------------------------------------------------------------


def check_reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise OSError unless ``url``'s server answers an HTTP HEAD request within ``timeout``.

    Any HTTP answer counts (even 404): it proves name resolution, the route, any proxy and TLS all
    work. Name resolution has no timeout of its own and can stall for tens of seconds on a silent
    network, so the attempt runs in a daemon thread that is abandoned when time is up.
    """
    outcome: list[BaseException | None] = []
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": f"live-captions/{__version__}"})

    def attempt() -> None:
        try:
            urllib.request.urlopen(request, timeout=timeout).close()
            outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)  # the server is there, it just has nothing at that address
        except (OSError, ValueError) as error:  # URLError is an OSError; ValueError: a malformed URL
            outcome.append(error)

    worker = threading.Thread(target=attempt, name="live-net-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer from {url} within {timeout:g} s")
    if outcome[0] is not None:
        error = outcome[0]
        raise error if isinstance(error, OSError) else OSError(str(error))


class _Tally:
    """Bytes downloaded across files, with a total that firms up as real sizes become known."""

    def __init__(self, expected: dict[str, int], progress: Progress | None) -> None:
        self._expected = dict(expected)
        self._done: dict[str, int] = {}
        self._progress = progress
        self._lock = threading.Lock()
        self._last = 0.0

    def size(self, name: str, size: int | None) -> None:
        if size:
            with self._lock:
                self._expected[name] = size

    def set(self, name: str, done: int, *, force: bool = False) -> None:
        with self._lock:
            self._done[name] = done
            now = time.monotonic()
            if self._progress is None or (not force and now - self._last < 0.2):
                return
            self._last = now
            done_all = sum(self._done.values())
            total = max(sum(self._expected.values()), done_all)
        self._progress(done_all, total)

    def add(self, name: str, count: int) -> None:
        with self._lock:
            done = self._done.get(name, 0) + count
        self.set(name, done)


def _open(url: str, offset: int):
    request = urllib.request.Request(url, headers={"User-Agent": f"live-captions/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=READ_TIMEOUT_S)


def fetch_files(hub: Hub, files: list[str], dest: Path, tally: _Tally) -> None:
    """Download ``files`` from ``hub`` into ``dest`` with urllib, resuming ``*.part`` leftovers."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in files:
        target = dest / name
        if target.is_file():
            tally.set(name, target.stat().st_size)
            continue
        part = target.with_name(target.name + ".part")
        have = part.stat().st_size if part.is_file() else 0
        try:
            response = _open(hub.file_url(name), have)
        except urllib.error.HTTPError as error:
            if error.code != 416 or not have:
                raise
            have = 0  # the leftover is not a prefix the server can continue: start over
            response = _open(hub.file_url(name), have)
        with response:
            if have and response.status != 206:  # the server ignored Range: start over
                have = 0
            length = response.headers.get("Content-Length")
            tally.size(name, have + int(length) if length and length.isdigit() else None)
            tally.set(name, have)
            with part.open("ab" if have else "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    tally.add(name, len(chunk))
        part.rename(target)
        tally.set(name, target.stat().st_size, force=True)


def _fetch_modelscope(hub: Hub, files: list[str], dest: Path, tally: _Tally) -> None:
    from modelscope.hub.snapshot_download import snapshot_download

    from modelscope.hub.callback import ProgressCallback

    class Report(ProgressCallback):  # modelscope makes one per file
        def __init__(self, filename: str, file_size: int) -> None:
            super().__init__(filename, file_size)
            tally.size(filename, file_size)

        def update(self, size: int) -> None:
            tally.add(self.filename, size)

        def end(self) -> None:
            pass

    # modelscope logs INFO lines on its own stderr handler, which would scribble over a TUI.
    ms_log = logging.getLogger("modelscope")
    level = ms_log.level
    ms_log.setLevel(logging.WARNING)
    try:
        snapshot_download(hub.repo, local_dir=str(dest), allow_patterns=files, endpoint=hub.endpoint,
                          progress_callbacks=[Report])
    finally:
        ms_log.setLevel(level)


def _fetch_huggingface(hub: Hub, files: list[str], dest: Path, tally: _Tally) -> None:
    import huggingface_hub
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    # huggingface_hub reports progress only through tqdm bars on stderr: turn them off and watch
    # the bytes arrive in the folder instead (it downloads into dest/.cache/... then moves files).
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            try:
                size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
            except OSError:  # a file moved from .cache/ into place between listing and stat
                continue
            tally.set("*", size)

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    watcher = threading.Thread(target=watch, name="live-download-watch", daemon=True)
    watcher.start()
    try:
        huggingface_hub.snapshot_download(hub.repo, local_dir=str(dest), allow_patterns=files,
                                          endpoint=hub.endpoint, etag_timeout=READ_TIMEOUT_S)
    finally:
        stop.set()
        watcher.join()
        if not was_disabled:
            enable_progress_bars()
    tally.set("*", sum((dest / name).stat().st_size for name in files if (dest / name).is_file()), force=True)


Fetcher = Callable[[Hub, list[str], Path, _Tally], None]


def _fetchers(hub: Hub) -> list[Fetcher]:
    """The hub's own client when installed (mirrors, auth, caching), then plain urllib.

    urllib comes last also when the client is installed: it needs nothing but the resolve URLs,
    so a client whose API has drifted does not leave the user without a model.
    """
    module = "modelscope" if hub.kind == "modelscope" else "huggingface_hub"
    if importlib.util.find_spec(module) is None:
        return [fetch_files]
    return [_fetch_modelscope if hub.kind == "modelscope" else _fetch_huggingface, fetch_files]


def _short(error: BaseException) -> str:
    """An exception as one short line (hub clients write whole HTML pages into theirs)."""
    return " ".join(f"{type(error).__name__}: {error}".split())[:200]


def download_model(spec: ModelSpec, hubs: list[Hub], target: Path, *, model_id: str,
                   progress: Progress | None = None,
                   fetchers: Callable[[Hub], list[Fetcher]] = _fetchers) -> Path:
    """Download ``spec`` from the first hub that answers into ``target``, atomically.

    Files land in ``.<name>.partial`` beside ``target`` (kept on failure so a retry resumes) and the
    folder is renamed to ``target`` only once it passes ``check_sensevoice_folder``.
    """
    partial = target.with_name(f".{target.name}.partial")
    files = [name for name, _ in spec.files]
    reasons: list[str] = []
    reachable = 0
    for hub in hubs:
        try:
            check_reachable(hub.endpoint)
        except OSError as error:
            log.info("%s unreachable: %s", hub.endpoint, _short(error))
            reasons.append(f"{hub.endpoint}: {_short(error)}")
            continue
        reachable += 1
        target.parent.mkdir(parents=True, exist_ok=True)
        for fetch in fetchers(hub):
            log.info("downloading %s from %s with %s into %s", hub.repo, hub.endpoint, fetch.__name__, partial)
            try:
                fetch(hub, files, partial, _Tally(dict(spec.files), progress))
                check_sensevoice_folder(partial)
            except (TypeError, AttributeError, NameError):
                raise  # our own mistake in calling a hub client: must not pass for a network problem
            except Exception as error:  # noqa: BLE001 - hub clients raise their own types; try the next way
                log.warning("download of %s from %s with %s failed: %s", hub.repo, hub.endpoint,
                            fetch.__name__, _short(error))
                reasons.append(f"{hub.endpoint}: {_short(error)}")
                continue
            _move_into_place(partial, target)
            log.info("downloaded %s into %s", model_id, target)
            return target
    why = "no network?" if not reachable else "download failed"
    log.info("cannot download %s: %s", model_id, "; ".join(reasons))
    raise DownloadError(f"cannot download {model_id} ({why}): {OFFLINE_HINT}", model_id=model_id,
                        offline=not reachable)


def _move_into_place(partial: Path, target: Path) -> None:
    for leftover in partial.glob(".*"):  # the hub clients' own bookkeeping (.cache, .msc, ...)
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    if target.exists():  # another process finished first; keep its copy
        shutil.rmtree(partial, ignore_errors=True)
    else:
        partial.rename(target)
