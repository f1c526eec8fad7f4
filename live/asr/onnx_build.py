"""The ONNX cache's build steps, run in a child process by `onnx_cache.ensure_onnx`.

``python -m live.asr.onnx_build export MODEL_DIR WORK`` or ``... quantize FP32_ONNX WORK``: each step
writes into an empty WORK folder, and the caller moves the files into the cache. This is the only
code of the cache that imports torch, funasr and the quantizer.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from live.asr.onnx_cache import DEFAULT_QUANTIZATION, FP32_NAME, INT8_NAME, Quantization
from live.models import cpu_threads

log = logging.getLogger("live.asr.onnx")

# Changing the opset or _export changes the graph: bump onnx_cache.EXPORT_RECIPE with it.
OPSET = 14


def _export(model_dir: Path, work: Path) -> None:
    """Export with funasr's own export wrapper of SenseVoice and torch's TorchScript exporter.

    The wrapper (``export_meta.py``) puts the language/event/emotion/textnorm queries inside the
    graph; its inputs are ``speech`` [B,T,560], ``speech_lengths``, ``language``, ``textnorm`` and its
    outputs ``ctc_logits`` [B,T+4,V], ``encoder_out_lens``. ``dynamo=False`` because torch's default
    dynamo exporter needs onnxscript, which this project does not otherwise depend on.
    """
    import torch
    from funasr import AutoModel

    auto = AutoModel(model=str(model_dir), disable_update=True, disable_pbar=True, device="cpu", ncpu=cpu_threads())
    model = auto.model.export(max_seq_len=512, device="cpu")
    model.eval()
    with torch.no_grad():
        torch.onnx.export(
            model,
            model.export_dummy_inputs(),
            str(work / FP32_NAME),
            dynamo=False,
            opset_version=OPSET,
            input_names=model.export_input_names(),
            output_names=model.export_output_names(),
            dynamic_axes=model.export_dynamic_axes(),
        )


def _quantize(source: Path, work: Path, quantization: Quantization) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

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
    args = parser.parse_args(argv)
    # The quantizer logs one INFO line per tensor: keep the log to warnings, plus our own lines.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    if args.step == "ensure":
        from live.asr.onnx_cache import ensure_onnx

        ensure_onnx(args.model_dir, on_status=lambda text: print(text, flush=True))
    elif args.step == "export":
        _export(args.model_dir, args.work)
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
