"""Speech models: where they live (``folders``), how they are fetched (``download``), and what
--model names (``resolve``). The repository's top-level models/ folder is where they land in a
checkout; see models/README.md.
"""

from live.models.download import (
    CONNECT_TIMEOUT_S,
    KNOWN_SPECS,
    READ_TIMEOUT_S,
    SENSEVOICE_SMALL,
    DownloadError,
    Hub,
    ModelSpec,
    Progress,
    check_reachable,
    download_model,
    fetch_files,
)
from live.models.folders import (
    DEFAULT_SENSEVOICE,
    SENSEVOICE_BPE,
    SENSEVOICE_MODEL_CLASS,
    check_sensevoice_folder,
    checkout_root,
    cpu_threads,
    is_whisper_folder,
    load_registry,
    models_dir,
    registry_path,
    sensevoice_files,
)
from live.models.packaged import WHISPER_BASE, PackagedModel, packaged_folder, packages_installed
from live.models.resolve import resolve_sensevoice

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_SENSEVOICE",
    "KNOWN_SPECS",
    "READ_TIMEOUT_S",
    "SENSEVOICE_BPE",
    "SENSEVOICE_MODEL_CLASS",
    "SENSEVOICE_SMALL",
    "WHISPER_BASE",
    "DownloadError",
    "Hub",
    "ModelSpec",
    "PackagedModel",
    "Progress",
    "check_reachable",
    "check_sensevoice_folder",
    "checkout_root",
    "cpu_threads",
    "download_model",
    "fetch_files",
    "is_whisper_folder",
    "load_registry",
    "models_dir",
    "packaged_folder",
    "packages_installed",
    "registry_path",
    "resolve_sensevoice",
    "sensevoice_files",
]
