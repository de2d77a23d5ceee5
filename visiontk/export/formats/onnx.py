"""ONNX: converted by tf2onnx from the serving function (input `image`, batch dimension `batch`),
checked with onnx.checker; read with ONNX Runtime for verification and the `onnx` backend. With
`--quantize`, also model_fp16.onnx and model_int8.onnx (visiontk/export/quantize_onnx.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from visiontk.errors import ExportError
from visiontk.export.formats import ExportFormat, Option, register

FILE = "model.onnx"
# tf2onnx 1.17 writes opsets up to 18; below 13 several ops our models use have older forms.
OPSET = Option("opset", 17, "ONNX opset", allowed=range(13, 19), why="tf2onnx writes ONNX opsets")


def _name_batch_dim(proto) -> None:
    """tf2onnx names the dynamic batch dimension 'unk__N'; call it 'batch' on inputs and outputs."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"


def _embed_captured_constants(proto, fn) -> None:
    """tf2onnx turns tensors a tf.function captures by value (not variables: e.g. the mean and
    variance of a keras Normalization layer built with fixed values, as in EfficientNet and ConvNeXt)
    into extra graph inputs that nobody can feed. Make them initializers holding their values."""
    from onnx import numpy_helper

    graph = fn.get_concrete_function().graph
    values = {inner.name: outer for outer, inner in zip(graph.external_captures, graph.internal_captures)
              if outer.dtype.name != "resource"}
    extra = [v for v in proto.graph.input if v.name in values]
    for value in extra:
        proto.graph.initializer.append(numpy_helper.from_array(values[value.name].numpy(), value.name))
        proto.graph.input.remove(value)


def write_onnx(serving, path: Path, opset: int = OPSET.default) -> Path:
    """Convert `serving` (visiontk.export.serving.Serving) to an ONNX file at `path`.

    Example:
        >>> write_onnx(make_serving(model), Path("export/x/model.onnx"), opset=17)  # doctest: +SKIP
    """
    import onnx
    import tf2onnx

    OPSET.check(opset)
    try:
        proto, _ = tf2onnx.convert.from_function(serving.fn, input_signature=[serving.signature],
                                                 opset=opset)
        _embed_captured_constants(proto, serving.fn)
        _name_batch_dim(proto)
        onnx.checker.check_model(proto)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"ONNX conversion failed (opset {opset}): {type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ''}") from None
    onnx.save(proto, str(path))
    return Path(path)


def onnx_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session (`threads` intra-op threads, default one per core; no spinning)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    # Idle intra-op threads would spin after each call: with batch-1 calls in the demo loop that
    # burns the cores the capture and writer threads need (2 cores here: loop 47 FPS without
    # spinning against 14 FPS with it, ResNet18 at 224x224, load ~9).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def load_onnx(path: Path) -> Callable:
    """fn(batch float32 NHWC) -> {output name: numpy array} through ONNX Runtime (on the threads of
    visiontk.infer.backends.model_threads, by default one per core)."""
    import numpy as np

    from visiontk.infer.backends import threads

    session = onnx_session(path, threads())
    names = [o.name for o in session.get_outputs()]
    input_name = session.get_inputs()[0].name

    def run(batch):
        out = session.run(names, {input_name: np.ascontiguousarray(batch, np.float32)})
        return dict(zip(names, out))

    run.input_dims = tuple(session.get_inputs()[0].shape[1:])     # str for dynamic dimensions
    run.session = session
    return run


def _quantize(serving, folder: Path, files: dict, calibration) -> dict:
    from visiontk.export.quantize_onnx import quantize_onnx

    return quantize_onnx(Path(folder) / FILE, files, calibration)


register(ExportFormat(
    name="onnx", title="ONNX", files=FILE, needs=("tf2onnx", "onnx", "onnxruntime"), options=(OPSET,),
    write=lambda serving, folder, options: write_onnx(serving, Path(folder) / FILE, options["opset"]),
    load=lambda folder: load_onnx(Path(folder) / FILE), load_file=lambda path: load_onnx(Path(path)),
    metadata=lambda options: {"onnx_opset": options["opset"]},
    quantize_modes=("fp16", "int8"), quantize=_quantize))
