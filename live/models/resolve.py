"""Turning what the user passed to --model (a folder, a hub id, or nothing) into a ready folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

from live.errors import ModelError
from live.models.download import (
    KNOWN_SPECS,
    OFFLINE_HINT,
    SENSEVOICE_SMALL,
    Hub,
    ModelSpec,
    Progress,
    download_model,
)
from live.models.folders import DEFAULT_SENSEVOICE, check_sensevoice_folder, models_dir


def _looks_like_hub_id(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", text))


def _spec_for(model_id: str) -> tuple[ModelSpec, list[Hub]]:
    """The spec to fetch for a hub id or registry name, and the hubs to try, preferred first."""
    ms_endpoint = (os.environ.get("MODELSCOPE_ENDPOINT", "").strip() or "https://www.modelscope.cn").rstrip("/")
    hf_endpoint = (os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co").rstrip("/")
    for spec in KNOWN_SPECS.values():
        ids = {spec.name, spec.modelscope, spec.huggingface}
        if model_id in ids:
            hubs = [Hub("modelscope", spec.modelscope, ms_endpoint)] if spec.modelscope else []
            if spec.huggingface:
                hf = Hub("huggingface", spec.huggingface, hf_endpoint)
                hubs = [hf, *hubs] if model_id == spec.huggingface else [*hubs, hf]
            return spec, hubs
    # Another SenseVoice repository (a fine-tune): same layout, its own folder, either hub.
    spec = ModelSpec(name=model_id.replace("/", "--"), modelscope=model_id, huggingface=model_id,
                     files=SENSEVOICE_SMALL.files, license="see the model card")
    return spec, [Hub("modelscope", model_id, ms_endpoint), Hub("huggingface", model_id, hf_endpoint)]


def resolve_sensevoice(model: str | None, *, download: bool = True,
                       progress: Progress | None = None) -> Path:
    """A ready SenseVoice folder for ``model``: a local folder, or a hub id (default iic/SenseVoiceSmall).

    A hub id already downloaded into ``models_dir()`` is used as is; otherwise it is downloaded when
    ``download`` is true. Raises ModelError with what to do when none of that works.
    """
    model = (model or DEFAULT_SENSEVOICE).strip()
    local = Path(model).expanduser()
    if local.exists():
        check_sensevoice_folder(local)
        return local
    if model not in KNOWN_SPECS and not _looks_like_hub_id(model):
        raise ModelError(f"model folder {model} does not exist: pass --model FOLDER with a SenseVoiceSmall "
                         f"folder, or a hub id such as {DEFAULT_SENSEVOICE}")
    spec, hubs = _spec_for(model)
    target = models_dir() / spec.name
    if target.exists():
        check_sensevoice_folder(target)
        return target
    if not download:
        raise ModelError(f"{model} is not downloaded (looked in {target}): {OFFLINE_HINT}")
    return download_model(spec, hubs, target, model_id=model, progress=progress)
