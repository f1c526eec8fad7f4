"""Export a funasr SenseVoice folder to ONNX once, int8-quantize it, and cache both with a manifest.

The export needs torch and funasr (minutes, several GB of memory for the full model); decoding the
result needs neither. So the export and the quantization run in a child process
(``python -m live.models.onnx_build``): the caller never imports torch, and the memory is returned to
the system when the child exits. This module decides when a build is needed, runs it and records it.

The cache folder holds ``model.onnx`` (the fp32 graph) with ``model.onnx.data`` (its weights, as ONNX
external data: keep the two together), ``model_int8.onnx`` and ``manifest.json``. The manifest
records the sha256 of every source file (model.pt, config.yaml, am.mvn, the bpe model) and of every
produced file, with the live version, the export recipe and the quantization settings. A cached
file is used only when all of that still matches; otherwise it is rebuilt, never used.

Hashing policy: hashing the 940 MB model.pt takes seconds, too slow for every start. Each hash is
stored with the file's size and mtime; when both are unchanged the stored hash is trusted, when the
size differs the file has changed, and when only the mtime differs the file is hashed in full (a
file touched but unchanged is then accepted and its new mtime recorded).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from live import __version__
from live.errors import ModelError
from live.events import StatusCallback
from live.files import atomic_write
from live.models.folders import check_sensevoice_folder, sensevoice_files

log = logging.getLogger("live.asr.onnx")


MANIFEST = "manifest.json"
FP32_NAME = "model.onnx"
FP32_DATA = FP32_NAME + ".data"  # written by onnx_export; ONNX Runtime finds it beside the graph
INT8_NAME = "model_int8.onnx"
# Bump when the exported graph or the way it is made changes: old caches are then rebuilt.
# 2: the fp32 weights in model.onnx.data (same graph and values; int8 byte for byte the same).
EXPORT_RECIPE = 2


@dataclass(frozen=True)
class Quantization:
    """Settings passed to ``onnxruntime.quantization.quantize_dynamic``.

    Plain QInt8 (signed weights, full range) is wrong on AVX2 CPUs without VNNI (encoder cosine
    0.93 against torch): use QUInt8, or QInt8 with ``reduce_range``.

    Attributes:
        weight_type: "QUInt8" or "QInt8".
        reduce_range: quantize weights to 7 bits; required with QInt8.
        per_channel: one scale per output channel rather than per tensor.
        op_types: operator types to quantize.
    """

    weight_type: str = "QUInt8"
    reduce_range: bool = False
    per_channel: bool = True
    op_types: tuple[str, ...] = ("MatMul",)

    def __post_init__(self) -> None:
        if self.weight_type not in ("QUInt8", "QInt8"):
            raise ValueError(f"weight_type must be QUInt8 or QInt8, not {self.weight_type!r}")
        if self.weight_type == "QInt8" and not self.reduce_range:
            raise ValueError("QInt8 without reduce_range gives wrong results on CPUs without VNNI")

    def to_json(self) -> dict:
        return {**asdict(self), "op_types": list(self.op_types)}


DEFAULT_QUANTIZATION = Quantization()


# ---------------------------------------------------------------------------------------------
# Hashes and the manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _record(path: Path) -> dict:
    """What the manifest keeps about one file: its hash, and the stat used as a fast pre-check."""
    stat = path.stat()
    return {"sha256": sha256_file(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _matches(path: Path, record: dict) -> bool:
    """True when ``path`` still has the recorded content (see the hashing policy above).

    Updates ``record``'s mtime in place when the file was touched but is unchanged.
    """
    try:
        stat = path.stat()
    except OSError:
        return False
    if stat.st_size != record.get("size"):
        return False
    if stat.st_mtime_ns == record.get("mtime_ns"):
        return True
    log.info("%s changed on disk since it was recorded; checking its sha256", path.name)
    if sha256_file(path) != record.get("sha256"):
        return False
    record["mtime_ns"] = stat.st_mtime_ns
    return True


def source_files(model_dir: Path) -> dict[str, Path]:
    """The files of a SenseVoice folder that determine the exported graph and its decoding, by role."""
    check_sensevoice_folder(model_dir)
    files = sensevoice_files(model_dir)
    return {role: files[role] for role in ("weights", "config", "cmvn", "bpe")}


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable %s: %s", out_dir / MANIFEST, err)
        return None
    return manifest if isinstance(manifest, dict) else None


def _write_manifest(out_dir: Path, manifest: dict) -> None:
    atomic_write(out_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True), durable=False)


def _source_ok(manifest: dict, sources: dict[str, Path]) -> bool:
    recorded = manifest.get("source") or {}
    if manifest.get("recipe") != EXPORT_RECIPE or set(recorded) != set(sources):
        return False
    return all(_matches(path, recorded[name]) for name, path in sources.items())


def _variant_ok(out_dir: Path, manifest: dict, variant: str, quantization: Quantization | None) -> bool:
    entry = (manifest.get("outputs") or {}).get(variant)
    if not entry or not entry.get("files"):
        return False
    if quantization is not None and entry.get("quantization") != quantization.to_json():
        return False
    for name, record in entry["files"].items():
        if not _matches(out_dir / name, record):
            log.warning("cached ONNX file %s is missing or corrupt; rebuilding it", out_dir / name)
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Where the cache lives


def _writable(folder: Path) -> bool:
    probe = folder if folder.exists() else folder.parent
    return os.access(probe, os.W_OK | os.X_OK)


def fallback_cache_dir(model_dir: Path) -> Path:
    """Per-user cache for model folders we may not write into (one subfolder per model path)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "live" / "onnx"
    tag = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:12]
    return root / f"{model_dir.resolve().name}-{tag}"


def choose_out_dir(model_dir: Path, cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return cache_dir
    beside = model_dir / "onnx"
    if _writable(beside):
        return beside
    return fallback_cache_dir(model_dir)


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Serialise builds of one cache folder between processes (a second caller waits, then reuses)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent first runs would both build.
        yield
        return
    with (out_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# Building


def child_command(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a build step (``python -m live.models.onnx_build ...``)."""
    env = dict(os.environ)
    # The child must import this package even when it is run from a source checkout.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    # glibc: blocks of 1 MiB and more get their own mapping, returned on free. Otherwise the
    # exporter's shape inference, copying weights to and fro, can leave ~0.5 GB of freed heap behind.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 20))
    return [sys.executable, "-m", "live.models.onnx_build", *args], env


def _run_child(args: list[str], log_path: Path, what: str) -> None:
    """Run one build step in a child process; its output goes to ``log_path``."""
    command, env = child_command(args)
    log.info("running %s (log: %s)", " ".join(command), log_path)
    with log_path.open("w", encoding="utf-8") as out:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    if result.returncode < 0:
        raise ModelError(f"{what} was killed by signal {-result.returncode} (out of memory? the full model "
                         f"needs ~1.7 GB once); free memory and start again (log: {log_path})")
    if result.returncode != 0:
        lines = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {result.returncode}"
        raise ModelError(f"{what} failed: {last} (full log: {log_path})")


def _build_step(out_dir: Path, args: list[str], what: str, log_name: str) -> dict:
    """Run a step that writes into a fresh temporary folder, then move its files into ``out_dir``.

    Returns the manifest records of the moved files. Nothing half-written ever has a final name.
    """
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=out_dir))
    try:
        _run_child([*args, str(work)], out_dir / log_name, what)
        produced = sorted(p for p in work.iterdir() if p.is_file())
        if not produced:
            raise ModelError(f"{what} produced no files (log: {out_dir / log_name})")
        records = {}
        for path in produced:
            final = out_dir / path.name
            os.replace(path, final)
            records[path.name] = _record(final)
        return records
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _remove_variant(out_dir: Path, manifest: dict, variant: str) -> None:
    entry = (manifest.get("outputs") or {}).pop(variant, None)
    for name in (entry or {}).get("files", {}):
        (out_dir / name).unlink(missing_ok=True)


def ensure_onnx(
    model_dir: Path,
    *,
    quantize: bool = True,
    cache_dir: Path | None = None,
    on_status: StatusCallback | None = None,
    quantization: Quantization = DEFAULT_QUANTIZATION,
) -> Path:
    """Return the path of an up-to-date ONNX export of ``model_dir`` (int8 when ``quantize``).

    Reuses the cache when the manifest's source and output hashes match; otherwise exports (and
    quantizes) again. ``on_status`` receives one-line progress messages for the UI.
    """
    model_dir = Path(model_dir).expanduser()
    sources = source_files(model_dir)
    cached = _find_cached(model_dir, sources, quantize, cache_dir, quantization)
    if cached is not None:
        return cached
    variant = "int8" if quantize else "fp32"
    out_dir = choose_out_dir(model_dir, cache_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelError(
            f"cannot create the ONNX cache folder {out_dir} ({err.strerror}): make it writable or free some space"
        ) from err
    try:
        with _locked(out_dir):
            return _build(model_dir, out_dir, sources, variant, quantization, on_status)
    except OSError as err:
        raise ModelError(
            f"cannot write the ONNX cache in {out_dir} ({err.strerror}): free some disk space "
            "(the full model needs ~1.2 GB) or make the folder writable"
        ) from err


def cached_onnx(
    model_dir: Path,
    *,
    quantize: bool = True,
    cache_dir: Path | None = None,
    quantization: Quantization = DEFAULT_QUANTIZATION,
) -> Path | None:
    """The up-to-date export `ensure_onnx` would load as it is, or None when it would build one.

    For callers that must not wait for a build (a benchmark timing loads, for one).
    """
    model_dir = Path(model_dir).expanduser()
    return _find_cached(model_dir, source_files(model_dir), quantize, cache_dir, quantization)


def _find_cached(model_dir: Path, sources: dict[str, Path], quantize: bool, cache_dir: Path | None,
                 quantization: Quantization) -> Path | None:
    variant, name = ("int8", INT8_NAME) if quantize else ("fp32", FP32_NAME)
    wanted_quant = quantization if quantize else None
    candidates = [cache_dir] if cache_dir is not None else [model_dir / "onnx", fallback_cache_dir(model_dir)]
    for folder in candidates:
        manifest = _read_manifest(folder)
        if manifest and _source_ok(manifest, sources) and _variant_ok(folder, manifest, variant, wanted_quant):
            log.info("using cached ONNX model %s", folder / name)
            _save_refreshed_stats(folder, manifest)
            return folder / name
    return None


def _save_refreshed_stats(out_dir: Path, manifest: dict) -> None:
    # _matches() may have recorded new mtimes of touched-but-unchanged files: keep them, so the next
    # start is fast again. A read-only cache simply stays slow to check.
    if _read_manifest(out_dir) == manifest:
        return
    try:
        _write_manifest(out_dir, manifest)
    except OSError as err:
        log.debug("cannot update %s (%s); later starts will hash the touched files again", out_dir / MANIFEST, err)


def _build(
    model_dir: Path,
    out_dir: Path,
    sources: dict[str, Path],
    variant: str,
    quantization: Quantization,
    on_status: StatusCallback | None,
) -> Path:
    def status(message: str) -> None:
        log.info("%s", message)
        if on_status is not None:
            on_status(message)

    manifest = _read_manifest(out_dir) or {}
    if not _source_ok(manifest, sources):
        # A different model (or recipe): nothing cached here may be used.
        for stale in ("fp32", "int8"):
            _remove_variant(out_dir, manifest, stale)
        status(f"Hashing the model files in {model_dir}…")
        manifest = {
            "recipe": EXPORT_RECIPE,
            "live_version": __version__,
            "model_dir": str(model_dir.resolve()),
            "source": {role: {**_record(path), "file": path.name} for role, path in sources.items()},
            "outputs": {},
        }
        _write_manifest(out_dir, manifest)

    if not _variant_ok(out_dir, manifest, "fp32", None):
        _remove_variant(out_dir, manifest, "fp32")
        _remove_variant(out_dir, manifest, "int8")  # made from the old fp32 graph
        _write_manifest(out_dir, manifest)
        status("Converting SenseVoice to ONNX (one time only; minutes for the full model)…")
        started = time.monotonic()
        files = _build_step(out_dir, ["export", str(model_dir)], "ONNX export", "export.log")
        manifest["outputs"]["fp32"] = {"files": files, "seconds": round(time.monotonic() - started, 1)}
        _write_manifest(out_dir, manifest)

    if variant == "int8" and not _variant_ok(out_dir, manifest, "int8", quantization):
        _remove_variant(out_dir, manifest, "int8")
        _write_manifest(out_dir, manifest)
        status("Quantizing the ONNX model to int8 (one time only)…")
        started = time.monotonic()
        args = ["quantize", str(out_dir / FP32_NAME), "--weight-type", quantization.weight_type]
        args += ["--reduce-range"] if quantization.reduce_range else []
        args += [] if quantization.per_channel else ["--per-tensor"]
        args += ["--op-types", ",".join(quantization.op_types)]
        files = _build_step(out_dir, args, "int8 quantization", "quantize.log")
        manifest["outputs"]["int8"] = {
            "files": files,
            "quantization": quantization.to_json(),
            "seconds": round(time.monotonic() - started, 1),
        }
        _write_manifest(out_dir, manifest)

    status("ONNX model ready")
    return out_dir / (INT8_NAME if variant == "int8" else FP32_NAME)
