"""Dynamic int8 quantization of the MatMuls with little memory: what ``quantize_dynamic`` writes.

onnxruntime's ``quantize_dynamic`` loads the whole fp32 model (and copies of it for shape
inference) before it quantizes anything: 2.9 GB for the full SenseVoice. This builds the same
model reading one fp32 weight at a time, from the graph's external data where it has them (as
``onnx_export`` writes it): the fp32 bytes are never all in memory, only the int8 result (~240 MB).

What is reproduced, from onnxruntime's ``ONNXQuantizer`` in IntegerOps mode with ``MatMulConstBOnly``
(its dynamic default): each MatMul whose B is a float initializer becomes DynamicQuantizeLinear (A,
once per tensor) → MatMulInteger → Cast → Mul by (A scale × B scale); B becomes ``<B>_quantized``
with ``<B>_scale`` and ``<B>_zero_point`` (per output channel, or one per tensor); unused float
initializers are dropped; the nodes are sorted with onnxruntime's own topological sort; the value
infos, metadata and producer are the ones onnxruntime writes. The weights are rounded with the same
float32/float64 steps as ``quant_utils.quantize_data``, vectorised over the channels. A test compares
the result with ``quantize_dynamic``'s, byte for byte, on the tiny model.

Anything else (other op types, a weight shared with an unquantized node, float16 weights) is
``Unsupported``: the caller then uses ``quantize_dynamic`` itself.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("live.asr.onnx")


class Unsupported(Exception):
    """This graph or these settings need onnxruntime's own quantizer."""


@dataclass(frozen=True)
class WeightQuant:
    """How weights are quantized: an onnx TensorProto integer type, symmetric, 7-bit, per channel."""

    qtype: int
    symmetric: bool
    reduce_range: bool
    per_channel: bool


def quantize_weight(weights: np.ndarray, how: WeightQuant) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quantized, scale, zero_point) of a MatMul B, per channel of its last axis or per tensor.

    Each step is the one ``quant_utils.compute_scale_zp`` / ``quantize_nparray`` takes for one channel,
    in the same dtypes, so the bytes are identical.
    """
    from onnx import helper
    from onnxruntime.quantization.quant_utils import get_qmin_qmax_for_qType

    qmin, qmax = get_qmin_qmax_for_qType(how.qtype, how.reduce_range, symmetric=how.symmetric)
    low, high = get_qmin_qmax_for_qType(how.qtype)  # the clip of quantize_nparray: the whole type
    data = np.asarray(weights, dtype=np.float32)
    if how.per_channel:
        others = tuple(range(data.ndim - 1))
        rmin, rmax = data.min(axis=others), data.max(axis=others)
    else:
        rmin, rmax = np.asarray(data.min()), np.asarray(data.max())
    rmin = np.minimum(rmin, np.float32(0))
    rmax = np.maximum(rmax, np.float32(0))
    if how.symmetric:
        absmax = np.maximum(np.abs(rmin), np.abs(rmax))
        rmin, rmax = -absmax, absmax
    scale64 = (rmax.astype(np.float64) - rmin.astype(np.float64)) / (np.float64(qmax) - np.float64(qmin))
    degenerate = scale64 < np.finfo(np.float32).tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        if how.symmetric:
            zero = np.full(scale64.shape, np.round((int(qmin) + int(qmax)) / np.float64(2.0)))
        else:
            zero = np.round(np.float64(qmin) - rmin.astype(np.float64) / scale64)
    zero_point = np.where(degenerate, 0, zero).astype(qmin.dtype)
    scale = np.where(degenerate, np.float32(1.0), scale64.astype(np.float32)).astype(np.float32)
    quantized = data / scale  # broadcast over the last axis (per channel) or a scalar
    np.round(quantized, out=quantized)
    quantized += zero_point.astype(np.float32)
    np.clip(quantized, low, high, out=quantized)
    return quantized.astype(helper.tensor_dtype_to_np_dtype(how.qtype)), scale, zero_point


class _Weights:
    """Reads initializers of a model saved with external data, one at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def array(self, tensor: Any) -> np.ndarray:
        from onnx import TensorProto, helper, numpy_helper

        if tensor.data_location != TensorProto.EXTERNAL:
            return numpy_helper.to_array(tensor)
        info = {entry.key: entry.value for entry in tensor.external_data}
        dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type)
        count = int(np.prod(tensor.dims, dtype=np.int64))
        path = self.folder / info["location"]
        array = np.fromfile(path, dtype=dtype, count=count, offset=int(info.get("offset", 0)))
        if array.size != count:
            raise ValueError(f"{path} ends inside tensor {tensor.name}")
        return array.reshape(tuple(tensor.dims))

    def inline(self, tensor: Any) -> None:
        """Bring a kept float tensor's bytes into the proto (the int8 model is one file).

        onnxruntime's quantizer round-trips the model through onnx's external-data save (tensors of
        ``sys.getsizeof(raw_data) >= 1024``) and load, which leaves ``data_location`` set to DEFAULT
        on exactly those: mirrored, so that the file is the same byte for byte.
        """
        from onnx import TensorProto

        if tensor.data_location == TensorProto.EXTERNAL:
            tensor.raw_data = self.array(tensor).tobytes()
            del tensor.external_data[:]
        tensor.ClearField("data_location")
        if tensor.HasField("raw_data") and sys.getsizeof(tensor.raw_data) >= 1024:
            tensor.data_location = TensorProto.DEFAULT


def _fill_from_array(tensor: Any, array: np.ndarray, name: str) -> None:
    """``onnx.numpy_helper.from_array`` into an existing TensorProto (the same fields, the same bytes)."""
    from onnx import helper

    tensor.dims.extend(array.shape)
    tensor.name = name
    tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
    tensor.raw_data = array.tobytes()


def _matmuls(graph: Any, initializers: dict) -> set[str]:
    """Names of the B inputs quantize_dynamic would quantize; Unsupported for cases not reproduced."""
    from onnx import TensorProto

    weights = set()
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in initializers:
            continue
        b = initializers[node.input[1]]
        if b.data_type != TensorProto.FLOAT:
            raise Unsupported(f"MatMul {node.name} has a weight of type {b.data_type}")
        if node.input[0] in initializers:
            raise Unsupported(f"MatMul {node.name} has two constant inputs")
        weights.add(b.name)
    for node in graph.node:
        others = node.input if node.op_type != "MatMul" or node.input[1] not in weights else node.input[:1]
        if weights.intersection(others):
            raise Unsupported(f"a quantized weight is also an input of {node.op_type} {node.name}")
    if weights.intersection(output.name for output in graph.output):
        raise Unsupported("a quantized weight is a graph output")
    return weights


def _integer_matmul(node: Any, a: tuple[str, str, str], b: tuple[str, str, str], out_type: int,
                    done: list) -> list:
    """MatMulInteger, Cast and the two Muls that replace ``node`` (as onnxruntime's MatMulInteger op)."""
    from onnx import helper

    (a_q, a_scale, a_zp), (b_q, b_scale, b_zp) = a, b
    output = node.output[0] + "_output_quantized"
    name = node.name + "_quant" if node.name else ""
    nodes = [
        helper.make_node("MatMulInteger", [a_q, b_q, a_zp, b_zp], [output], name),
        helper.make_node("Cast", [output], [output + "_cast_output"], output + "_cast", to=out_type),
    ]
    scales_name = name + "_scales_mul" if name else f"{a_scale}_{b_scale}_mul"
    scales = next((n for n in done if n.name == scales_name), None)
    if scales is None:
        scales = helper.make_node("Mul", [a_scale, b_scale], [scales_name + ":0"], scales_name)
        nodes.append(scales)
    nodes.append(helper.make_node("Mul", [output + "_cast_output", scales.output[0]], [node.output[0]],
                                  name + "_output_scale_mul" if name else ""))
    return nodes


def quantize_matmuls(source: Path, target: Path, how: WeightQuant) -> int:
    """Write the int8 model of fp32 ``source`` (external data beside it) to ``target``, as one file.

    Returns the number of MatMuls quantized.
    """
    import onnx
    from onnx import helper
    from onnxruntime.quantization.onnx_model import ONNXModel
    from onnxruntime.quantization.quant_utils import (
        TENSOR_NAME_QUANT_SUFFIX,
        __producer__,
        __version__,
        add_infer_metadata,
    )

    model = onnx.load(str(source), load_external_data=False)
    graph = model.graph
    # onnxruntime infers shapes on the model it loads, then again on its own copy: the value infos it
    # keeps (and the output types of the Casts) come from that.
    inferred = onnx.shape_inference.infer_shapes(onnx.shape_inference.infer_shapes(model))
    types = {value.name: value.type.tensor_type.elem_type
             for value in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)}
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    weights = _matmuls(graph, initializers)
    reader = _Weights(source.parent)

    quantized: dict[str, tuple[str, str, str]] = {}  # tensor → (quantized, scale, zero point) names
    nodes: list = []
    originals = len(graph.initializer)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            nodes.append(node)
            continue
        a, b = node.input[0], node.input[1]
        if a not in quantized:
            quantized[a] = (a + TENSOR_NAME_QUANT_SUFFIX, a + "_scale", a + "_zero_point")
            nodes.append(helper.make_node("DynamicQuantizeLinear", [a], list(quantized[a]), a + "_QuantizeLinear"))
        if b not in quantized:
            tensor = initializers[b]
            q, scale, zero_point = quantize_weight(reader.array(tensor), how)
            quantized[b] = (b + TENSOR_NAME_QUANT_SUFFIX, b + "_scale", b + "_zero_point")
            dims = [tensor.dims[-1]] if how.per_channel else []
            graph.initializer.append(helper.make_tensor(b + "_scale", tensor.data_type, dims,
                                                        scale.reshape(-1).tolist()))
            graph.initializer.append(helper.make_tensor(b + "_zero_point", how.qtype, dims,
                                                        zero_point.reshape(-1).tolist()))
            # Made in place: appending a finished TensorProto would copy its bytes.
            _fill_from_array(graph.initializer.add(), q.reshape(tuple(tensor.dims)), quantized[b][0])
            del q
        out_type = types.get(node.output[0]) or initializers[b].data_type
        nodes += _integer_matmul(node, quantized[a], quantized[b], out_type, nodes)

    graph.ClearField("node")
    graph.node.extend(nodes)
    # onnxruntime's clean_initializers: the unused ones go, the rest keep their order (originals,
    # then the quantized weights in the order they were made).
    used = {name for node in nodes for name in node.input if name} | {output.name for output in graph.output}
    unused = []
    for index, tensor in enumerate(graph.initializer):
        if tensor.name in used:
            used.discard(tensor.name)
            if index < originals:
                reader.inline(tensor)
        else:
            unused.append(index)
    for index in reversed(unused):
        del graph.initializer[index]
    graph.ClearField("value_info")
    graph.value_info.extend(inferred.graph.value_info)
    add_infer_metadata(model)
    model.producer_name, model.producer_version = __producer__, __version__
    ONNXModel(model).topological_sort()
    onnx.save_model(model, str(target))
    return len([n for n in nodes if n.op_type == "MatMulInteger"])
