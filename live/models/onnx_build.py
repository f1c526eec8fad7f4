"""The ONNX cache's build steps, run in a child process by `onnx_cache.ensure_onnx`.

``python -m live.models.onnx_build export MODEL_DIR WORK`` or ``... quantize FP32_ONNX WORK``: each step
writes into an empty WORK folder, and the caller moves the files into the cache. This (with
``onnx_export`` and ``onnx_quant``, which it runs) is the only code of the cache that imports torch,
funasr and the quantizer.

Peak memory of the full model (234 M parameters): export ~1.7 GB (weights memory-mapped, written as
external data one tensor at a time), quantization ~0.85 GB (one fp32 weight at a time).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from live.models.folders import cpu_threads
from live.models.onnx_cache import (
    DEFAULT_QUANTIZATION,
    FP32_NAME,
    INT8_NAME,
    Quantization,
)

log = logging.getLogger("live.asr.onnx")

# Changing the opset or the export changes the graph: bump onnx_cache.EXPORT_RECIPE with it.
OPSET = 14


def _export(model_dir: Path, work: Path) -> None:
    from live.models.onnx_export import export_fp32

    export_fp32(model_dir, work / FP32_NAME, opset=OPSET, threads=cpu_threads())


def _quantize(source: Path, work: Path, quantization: Quantization) -> None:
    """The MatMuls to int8, one weight at a time (``onnx_quant``), or by onnxruntime when it must."""
    from onnx import TensorProto

    from live.models.onnx_quant import Unsupported, WeightQuant, quantize_matmuls

    if quantization.op_types == ("MatMul",):
        qtype = TensorProto.UINT8 if quantization.weight_type == "QUInt8" else TensorProto.INT8
        how = WeightQuant(qtype=qtype, symmetric=qtype == TensorProto.INT8,  # onnxruntime's default symmetry
                          reduce_range=quantization.reduce_range, per_channel=quantization.per_channel)
        try:
            count = quantize_matmuls(source, work / INT8_NAME, how)
        except Unsupported as why:
            log.warning("quantizing with onnxruntime's quantize_dynamic (more memory): %s", why)
        else:
            log.info("quantized %d MatMuls of %s", count, source.name)
            return
    from onnxruntime.quantization import QuantType, quantize_dynamic

    (work / INT8_NAME).unlink(missing_ok=True)
    quantize_dynamic(
        model_input=str(source),
        model_output=str(work / INT8_NAME),
        op_types_to_quantize=list(quantization.op_types),
        per_channel=quantization.per_channel,
        reduce_range=quantization.reduce_range,
        weight_type=getattr(QuantType, quantization.weight_type),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build steps of the ONNX cache (run by ensure_onnx).")
    steps = parser.add_subparsers(dest="step", required=True)
    export = steps.add_parser("export", help="export a funasr SenseVoice folder to fp32 ONNX")
    export.add_argument("model_dir", type=Path)
    export.add_argument("work", type=Path)
    quant = steps.add_parser("quantize", help="int8-quantize an fp32 ONNX file")
    quant.add_argument("source", type=Path)
    quant.add_argument("--weight-type", default=DEFAULT_QUANTIZATION.weight_type)
    quant.add_argument("--reduce-range", action="store_true")
    quant.add_argument("--per-tensor", action="store_true")
    quant.add_argument("--op-types", default=",".join(DEFAULT_QUANTIZATION.op_types))
    quant.add_argument("work", type=Path)
    ensure = steps.add_parser("ensure", help="build whatever the cache lacks (a build in the background)")
    ensure.add_argument("model_dir", type=Path)
    ensure.add_argument("--nice", type=int, default=0,
                        help="lower this build's CPU priority (and its steps'): a session's captions come first")
    ensure.add_argument("--cores", type=int, default=0, help="run the build on this many cores (the last ones)")
    args = parser.parse_args(argv)
    # The quantizer logs one INFO line per tensor: keep the log to warnings, plus our own lines.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    if args.step == "ensure":
        from live.models.onnx_cache import ensure_onnx

        # The export and quantize children inherit both (and cpu_threads() follows the affinity).
        if args.cores and hasattr(os, "sched_setaffinity"):
            cores = sorted(os.sched_getaffinity(0))
            if len(cores) > args.cores:
                os.sched_setaffinity(0, cores[-args.cores:])
        if args.nice and hasattr(os, "nice"):
            os.nice(args.nice)

        ensure_onnx(args.model_dir, on_status=lambda text: print(text, flush=True))
    elif args.step == "export":
        from live.models.onnx_export import ExportError

        try:
            _export(args.model_dir, args.work)
        except ExportError as err:
            raise SystemExit(f"error: {err}") from None
    else:
        settings = Quantization(
            weight_type=args.weight_type,
            reduce_range=args.reduce_range,
            per_channel=not args.per_tensor,
            op_types=tuple(args.op_types.split(",")),
        )
        _quantize(args.source, args.work, settings)


if __name__ == "__main__":
    main()
