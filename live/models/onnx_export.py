"""The fp32 export step, made to fit a small machine: ``model.onnx`` (the graph) + ``model.onnx.data``.

Run only in the build child (``onnx_build export``). Left to themselves, funasr's checkpoint loader
holds the weights three times (the module, ``torch.load``'s copy, a deep copy of that) and torch's
exporter adds the ONNX proto it builds in memory and its serialized bytes: 4.35 GB for the full
model. Here

- the checkpoint is memory-mapped and its tensors become the module's parameters (no copy);
- torch exports the graph without weights (``export_params=False``) but still folds constants as
  usual; the values it would have written (its folded Transposes are views of the parameters) are
  taken from the pass that hands them to the serializer;
- they are written to ``model.onnx.data`` one tensor at a time.

The graph and every initializer are the same as a plain ``torch.onnx.export`` makes; only where the
bytes live differs (peak ~1.7 GB, most of it funasr's import and the memory-mapped weights).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("live.asr.onnx")

# Tensors smaller than this stay inside model.onnx (onnx's own default threshold for external data).
INLINE_BELOW = 1024
# Each external tensor starts on a page boundary, so a runtime may map it instead of copying it.
ALIGN = 4096


class ExportError(Exception):
    """The model folder cannot be exported as it is (the message is one line for the user)."""


def _source_key(key: str, source: dict, scope_map: list[str]) -> str:
    """The checkpoint key for model key ``key``, mapped the way funasr's ``load_pretrained_model`` does."""
    found = key
    for i in range(0, len(scope_map) - 1, 2):
        src_prefix = "" if scope_map[i].lower() == "none" else scope_map[i]
        dst_prefix = "" if scope_map[i + 1].lower() == "none" else scope_map[i + 1]
        if dst_prefix == "" and src_prefix + key in source:
            found = src_prefix + key
        elif key.startswith(dst_prefix) and key.replace(dst_prefix, src_prefix, 1) in source:
            found = key.replace(dst_prefix, src_prefix, 1)
    return found


def _load_checkpoint(path: str) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError as err:
        if "mmap" not in str(err):
            raise
        log.warning("%s is an old, non-zip checkpoint: loading it without memory-mapping (more memory)", path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model_state_dict", "model"):  # the nestings funasr accepts, in its order
        if isinstance(state, dict) and wrapper in state:
            state = state[wrapper]
    return state


def load_weights_mapped(path: str, model: Any, scope_map: Any = None, excludes: Any = None, **_: Any) -> None:
    """Stand-in for funasr's ``load_pretrained_model``: the checkpoint's tensors become the parameters.

    Same key mapping (``scope_map`` plus funasr's ``module.`` rule) and exclusions; unlike funasr, a
    checkpoint that lacks a weight or holds one in another shape is refused (funasr would keep the
    random initial value and still log "All keys matched"), as the torch engine refuses it.
    """
    source = _load_checkpoint(path)
    scopes = (scope_map.split(",") if isinstance(scope_map, str) else list(scope_map or [])) + ["module.", "None"]
    skipped = tuple(excludes.split(",") if isinstance(excludes, str) else excludes or ())
    state = model.state_dict()
    bad = []
    for key, current in state.items():
        if skipped and key.startswith(skipped):
            continue
        value = source.get(_source_key(key, source, scopes))
        if value is None or tuple(value.shape) != tuple(current.shape):
            bad.append(key)
            continue
        state[key] = value if value.dtype == current.dtype else value.to(current.dtype)
    if bad:
        raise ExportError(f"{path} does not fit config.yaml ({len(bad)} of {len(state)} weights missing or of "
                          f"another shape, e.g. {bad[0]}): download the model again")
    model.load_state_dict(state, strict=True, assign=True)
    on_loaded = getattr(model, "on_pretrained_model_loaded", None)
    if callable(on_loaded):
        on_loaded(frozenset(key for key in state if not (skipped and key.startswith(skipped))))
    log.info("weights of %s mapped from %s (%d tensors)", type(model).__name__, path, len(state))


@contextlib.contextmanager
def _funasr_loads_mapped() -> Iterator[None]:
    from funasr.auto import auto_model

    if not hasattr(auto_model, "load_pretrained_model"):
        log.warning("this funasr loads weights its own way: the export will need ~1.5 GB more memory")
        yield
        return
    original = auto_model.load_pretrained_model

    def load(**kwargs: Any) -> None:
        if kwargs.get("oss_bucket") is not None:  # weights from object storage: funasr's own way
            return original(**kwargs)
        return load_weights_mapped(**kwargs)

    auto_model.load_pretrained_model = load
    try:
        yield
    finally:
        auto_model.load_pretrained_model = original


@contextlib.contextmanager
def _initializers_seen(into: dict) -> Iterator[None]:
    """Record the name → tensor map torch's TorchScript exporter hands to its serializer.

    That map (after constant folding and de-duplication) is what ``export_params=True`` would write:
    it is taken from the last pass before serialization, which returns it.
    """
    import torch

    original = torch._C._jit_pass_onnx_deduplicate_initializers

    def recording(graph: Any, params: dict, training: bool) -> dict:
        result = original(graph, params, training)
        into.update(result)
        return result

    torch._C._jit_pass_onnx_deduplicate_initializers = recording
    try:
        yield
    finally:
        torch._C._jit_pass_onnx_deduplicate_initializers = original


def _external(tensor: Any, location: str, offset: int, length: int) -> None:
    from onnx import TensorProto

    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def attach_initializers(proto: Any, values: dict, data_path: Path) -> int:
    """Turn the weightless graph's parameter inputs into initializers stored in ``data_path``.

    Returns the number of bytes written. Tensors are converted and written one at a time.
    """
    import numpy as np
    from onnx import TensorProto, helper

    graph = proto.graph
    params = [value for value in graph.input if value.name in values]
    if not params:
        raise ExportError("torch's exporter handed over no weights (a torch version live does not know?)")
    kept = [value for value in graph.input if value.name not in values]
    del graph.input[:]
    graph.input.extend(kept)
    offset = 0
    with data_path.open("wb") as data:
        for value in params:
            array = np.ascontiguousarray(values.pop(value.name).detach().numpy())
            declared = value.type.tensor_type
            dims = [d.dim_value for d in declared.shape.dim]
            elem_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            if elem_type != declared.elem_type or dims != list(array.shape):
                raise ExportError(f"weight {value.name} is {array.dtype}{list(array.shape)} but the graph "
                                  f"expects type {declared.elem_type}{dims}")
            tensor = TensorProto(name=value.name, data_type=elem_type, dims=array.shape)
            if array.nbytes < INLINE_BELOW:
                tensor.raw_data = array.tobytes()
            else:
                padding = -offset % ALIGN
                data.write(b"\0" * padding)
                offset += padding
                data.write(memoryview(array).cast("B"))
                _external(tensor, data_path.name, offset, array.nbytes)
                offset += array.nbytes
            graph.initializer.append(tensor)
    return offset


def export_fp32(model_dir: Path, graph_path: Path, *, opset: int, threads: int) -> None:
    """Export SenseVoice with funasr's export wrapper to ``graph_path`` + ``graph_path.data``.

    The wrapper (``export_meta.py``) puts the language/event/emotion/textnorm queries inside the
    graph; its inputs are ``speech`` [B,T,560], ``speech_lengths``, ``language``, ``textnorm`` and its
    outputs ``ctc_logits`` [B,T+4,V], ``encoder_out_lens``. ``dynamo=False`` because torch's default
    dynamo exporter needs onnxscript, which this project does not otherwise depend on.
    """
    import onnx
    import torch

    with _funasr_loads_mapped():
        from funasr import AutoModel

        auto = AutoModel(model=str(model_dir), disable_update=True, disable_pbar=True, device="cpu", ncpu=threads)
    model = auto.model.export(max_seq_len=512, device="cpu")
    model.eval()
    values: dict = {}
    graph_only = io.BytesIO()
    with _initializers_seen(values), torch.no_grad():
        torch.onnx.export(
            model,
            model.export_dummy_inputs(),
            graph_only,
            dynamo=False,
            opset_version=opset,
            export_params=False,
            input_names=model.export_input_names(),
            output_names=model.export_output_names(),
            dynamic_axes=model.export_dynamic_axes(),
        )
    proto = onnx.load_from_string(graph_only.getvalue())
    del graph_only
    data_path = graph_path.with_name(graph_path.name + ".data")
    written = attach_initializers(proto, values, data_path)
    onnx.save_model(proto, str(graph_path))
    log.info("exported %s (%d nodes, %d initializers, %.0f MB of weights)", graph_path.name,
             len(proto.graph.node), len(proto.graph.initializer), written / 1e6)
