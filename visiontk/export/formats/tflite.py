"""TFLite: converted from the SavedModel (float32, no quantisation), run with the TFLite interpreter
(ai_edge_litert when installed, else tf.lite) through its signature runner (dynamic batch). The
SavedModel it is converted from is written first (`via`) and removed when it was not asked for. With
`--quantize`, also model_fp16.tflite and model_int8.tflite (visiontk/export/quantize_tflite.py)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

from visiontk.errors import ExportError
from visiontk.export.formats import ExportFormat, register
from visiontk.export.formats.saved_model import FOLDER as SAVED_MODEL

FILE = "model.tflite"


def write_tflite(saved_model_dir: Path, path: Path) -> Path:
    """Convert a SavedModel written by write_saved_model to a float32 .tflite file.

    Example:
        >>> write_tflite(Path("export/x/saved_model"), Path("export/x/model.tflite"))  # doctest: +SKIP
    """
    import tensorflow as tf

    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
        data = converter.convert()
    except Exception as exc:
        msg = str(exc).strip().splitlines()
        raise ExportError(f"TFLite conversion failed: {type(exc).__name__}: "
                          f"{msg[0][:240] if msg else ''}") from None
    Path(path).write_bytes(data)
    return Path(path)


def _interpreter(path: Path):
    from visiontk.infer.backends import threads as model_threads

    threads = model_threads() or max(1, os.cpu_count() or 1)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # tf.lite.Interpreter's deprecation notice
        return Interpreter(model_path=str(path), num_threads=threads)


def load_tflite(path: Path) -> Callable:
    """fn(batch float32 NHWC) -> {output name: numpy array} through the TFLite interpreter."""
    import numpy as np

    interpreter = _interpreter(path)
    runner = interpreter.get_signature_runner()

    def run(batch):
        out = runner(image=np.ascontiguousarray(batch, np.float32))
        return {k: np.array(v) for k, v in out.items()}

    run.keep_alive = interpreter
    run.input_dims = tuple(int(d) for d in interpreter.get_input_details()[0]["shape_signature"][1:])
    return run


def _quantize(serving, folder: Path, files: dict, calibration) -> dict:
    from visiontk.export.quantize_tflite import quantize_tflite

    return quantize_tflite(serving, Path(folder), files, calibration)


register(ExportFormat(
    name="tflite", title="TFLite", files=FILE, needs=("tensorflow",), via="saved_model",
    write=lambda serving, folder, options: write_tflite(Path(folder) / SAVED_MODEL, Path(folder) / FILE),
    load=lambda folder: load_tflite(Path(folder) / FILE), load_file=lambda path: load_tflite(Path(path)),
    quantize_modes=("fp16", "int8"), quantize=_quantize))
