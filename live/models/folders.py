"""Where models live on disk, and what a usable model folder holds.

Cheap checks only (files, sizes, config.yaml's ``model:``): they run before the UI starts, so a
wrong --model is reported at once, without torch or a download.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from live.errors import ModelError

DEFAULT_SENSEVOICE = "iic/SenseVoiceSmall"
SENSEVOICE_MODEL_CLASS = "SenseVoiceSmall"
SENSEVOICE_BPE = "chn_jpn_yue_eng_ko_spectok.bpe.model"


def cpu_threads() -> int:
    """CPU cores this process may use (respects affinity/cgroup masks where the OS exposes them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def checkout_root() -> Path | None:
    """The source checkout this package runs from (pyproject.toml + live/), or None when installed."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "live").is_dir():
        return root
    return None


def models_dir() -> Path:
    """Where downloaded models go: $LIVE_MODELS_DIR, else <checkout>/models, else the XDG data dir."""
    override = os.environ.get("LIVE_MODELS_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    root = checkout_root()
    if root is not None:
        return root / "models"
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home).expanduser() if data_home else Path.home() / ".local" / "share"
    return base / "live" / "models"


def registry_path() -> Path | None:
    """models/registry.toml of the checkout (not shipped in a wheel)."""
    root = checkout_root()
    path = root / "models" / "registry.toml" if root else None
    return path if path is not None and path.is_file() else None


def load_registry(path: Path | None = None) -> dict[str, dict]:
    """The model table of models/registry.toml, for listing; {} when the file is absent."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = path or registry_path()
    if path is None:
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


# --- SenseVoice folders -------------------------------------------------------------------------


def sensevoice_files(folder: Path) -> dict[str, Path]:
    """The files a SenseVoice folder uses, by role, as its configuration.json names them."""
    metas: dict = {}
    conf = folder / "configuration.json"
    if conf.is_file():
        try:
            metas = json.loads(conf.read_text(encoding="utf-8")).get("file_path_metas") or {}
        except (OSError, ValueError, AttributeError) as error:
            raise ModelError(f"{conf} cannot be read ({error}): download the model again or pass "
                             "another --model FOLDER") from error
    tokenizer = metas.get("tokenizer_conf") or {}
    frontend = metas.get("frontend_conf") or {}
    return {
        "configuration": conf,
        "config": folder / str(metas.get("config") or "config.yaml"),
        "weights": folder / str(metas.get("init_param") or "model.pt"),
        "cmvn": folder / str(frontend.get("cmvn_file") or "am.mvn"),
        "bpe": folder / str(tokenizer.get("bpemodel") or SENSEVOICE_BPE),
    }


def _config_model_class(config: Path) -> str | None:
    import yaml  # PyYAML comes with funasr; imported here so `live --help` stays fast

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ModelError(f"{config} cannot be read ({type(error).__name__}): download the model "
                         "again or pass another --model FOLDER") from error
    model = data.get("model") if isinstance(data, dict) else None
    return str(model) if model is not None else None


def check_sensevoice_folder(folder: Path) -> None:
    """Raise ModelError unless ``folder`` looks like a complete SenseVoiceSmall folder.

    Cheap (no torch): it checks the files and config.yaml's ``model:``; whether the weights fit is
    checked when the engine loads them.
    """
    if not folder.exists():
        raise ModelError(f"model folder {folder} does not exist: pass --model FOLDER with a "
                         "SenseVoiceSmall folder, or leave --model out to download it")
    if not folder.is_dir():
        raise ModelError(f"{folder} is a file, not a model folder: pass --model FOLDER with a "
                         "SenseVoiceSmall folder")
    files = sensevoice_files(folder)
    if not any(files[role].is_file() for role in ("config", "weights", "configuration")):
        raise ModelError(f"{folder} is not a SenseVoice model folder (no config.yaml, model.pt or "
                         "configuration.json): pass a SenseVoiceSmall folder or use --engine whisper")
    if files["config"].is_file():
        model_class = _config_model_class(files["config"])
        if model_class != SENSEVOICE_MODEL_CLASS:
            raise ModelError(f"{folder} is not a SenseVoice model folder (config.yaml says model: "
                             f"{model_class}); pass a SenseVoiceSmall folder or use --engine whisper")
    missing = [path.name for path in files.values() if not path.is_file() or path.stat().st_size == 0]
    if missing:
        raise ModelError(f"{folder} is incomplete (missing or empty: {', '.join(missing)}): download "
                         "it again (delete the folder first) or pass another --model FOLDER")


def is_whisper_folder(folder: Path) -> bool:
    """True for a CTranslate2 Whisper folder (model.bin + config.json), which --engine auto runs with Whisper."""
    return (folder / "model.bin").is_file() and (folder / "config.json").is_file()

