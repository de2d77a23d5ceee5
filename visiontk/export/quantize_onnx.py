"""ONNX FP16 and INT8 variants of an export's model.onnx (visiontk/export/quantize.py runs them).

FP16: every float weight and op in float16 (onnxruntime.transformers.float16, which ships with
onnxruntime: no extra package), the input and output kept float32 (`keep_io_types`), so every caller
feeds and reads the model as before. INT8: static quantisation (onnxruntime.quantization) in QDQ
format, weights int8 per output channel, activations uint8 with MinMax ranges calibrated on the run's
own training images; input and output stay float32 (the model quantises and dequantises at its ends).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

CALIBRATION_BATCH = 8          # images per calibration run (the model's batch is dynamic)


def write_fp16(src: Path, dst: Path) -> dict:
    """model.onnx -> a float16 copy with float32 input and output.

    Example:
        >>> write_fp16(Path("export/x/model.onnx"), Path("export/x/model_fp16.onnx"))  # doctest: +SKIP
        {'weights': 'float16', 'compute': 'float16', 'io': 'float32'}
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    _sort_nodes(proto.graph)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(dst))
    return {"weights": "float16", "compute": "float16", "io": "float32"}


def _sort_nodes(graph) -> None:
    """Order the nodes so each comes after the nodes it reads from. The float16 converter appends
    the casts of the graph's input and output at the end; ONNX Runtime sorts by itself, OpenCV's
    dnn refuses a node whose input is produced later ("unknown input 'graph_input_cast_0'")."""
    ready = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        now = [n for n in pending if all(i in ready for i in n.input)]
        if not now:                      # a cycle or an input from nowhere: leave the order alone
            return
        for node in now:
            ready.update(node.output)
        ordered += now
        pending = [n for n in pending if all(n is not m for m in now)]
    del graph.node[:]
    graph.node.extend(ordered)


def write_int8(src: Path, dst: Path, calibration: np.ndarray) -> dict:
    """model.onnx -> a statically quantised QDQ copy calibrated on `calibration` (N, H, W, C).

    Example:
        >>> write_int8(Path("export/x/model.onnx"), Path("export/x/model_int8.onnx"), images)  # doctest: +SKIP
        {'weights': 'int8 per channel', 'activations': 'uint8 (static, MinMax calibration)', ...}
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name
    batches = [np.ascontiguousarray(calibration[i:i + CALIBRATION_BATCH], np.float32)
               for i in range(0, len(calibration), CALIBRATION_BATCH)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    # U8S8 (uint8 activations, int8 weights) in QDQ: onnxruntime's x86-64 kernels multiply uint8 by
    # int8 (VNNI, AVX2); int8 activations ran 1.6x slower than float32 here (ResNet18 narrow, 64 px,
    # AVX512-VNNI), uint8 0.7x. MinMax calibration keeps only each tensor's min and max per batch
    # (reduce ops added to the graph), not the activations. (CalibMaxIntermediateOutputs would not
    # bound anything, and onnxruntime 1.32 drops what it collected when reaching that limit.)
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR   # its advice to run quant_pre_process: tf2onnx
    try:                                              # already folded the graph (see docs/export.md)
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    finally:
        root.level = level
    return {"weights": "int8 per channel", "activations": "uint8 (static, MinMax calibration)",
            "layout": "QDQ", "io": "float32"}


WRITERS = {"fp16": lambda src, dst, calibration: write_fp16(src, dst), "int8": write_int8}


def quantize_onnx(src: Path, files: dict, calibration: np.ndarray | None) -> dict:
    """Write each {mode: path} of `files` from the float model `src`; returns {mode: details}."""
    from visiontk.export.quantize import converting

    out = {}
    for mode, dst in files.items():
        with converting(f"ONNX {mode} quantisation"):
            out[mode] = WRITERS[mode](Path(src), Path(dst), calibration)
    return out
