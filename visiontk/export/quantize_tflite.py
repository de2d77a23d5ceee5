"""TFLite FP16 and full-integer INT8 variants, converted from the export's SavedModel as model.tflite
is (visiontk/export/quantize.py runs them).

FP16: weights stored in float16 (the interpreter computes in float32, or float16 where the CPU has
it). INT8: full-integer quantisation (every op in int8, `TFLITE_BUILTINS_INT8` only, so a model with an
op that has no int8 kernel fails here rather than running half in float), weights per output channel
(convolutions and dense layers), activation ranges calibrated on the run's own training images; the
input and output stay float32 (quantise / dequantise ops at the model's ends), so every caller feeds
and reads it as model.tflite.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np


def _converter(saved_model_dir: Path):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter


def write_fp16(saved_model_dir: Path, dst: Path, calibration=None) -> dict:
    """A float16-weight .tflite of the SavedModel (float32 input and output).

    Example:
        >>> write_fp16(Path("export/x/saved_model"), Path("export/x/model_fp16.tflite"))  # doctest: +SKIP
        {'weights': 'float16', 'compute': 'float32 (float16 where the CPU supports it)', 'io': 'float32'}
    """
    import tensorflow as tf

    converter = _converter(saved_model_dir)
    converter.target_spec.supported_types = [tf.float16]
    Path(dst).write_bytes(converter.convert())
    return {"weights": "float16", "compute": "float32 (float16 where the CPU supports it)",
            "io": "float32"}


def write_int8(saved_model_dir: Path, dst: Path, calibration: np.ndarray) -> dict:
    """A full-integer .tflite of the SavedModel calibrated on `calibration` (N, H, W, C), one image
    at a time; float32 input and output.

    Example:
        >>> write_int8(Path("export/x/saved_model"), Path("export/x/model_int8.tflite"), images)  # doctest: +SKIP
    """
    import tensorflow as tf

    def representative():
        for image in calibration:
            yield {"image": np.ascontiguousarray(image[None], np.float32)}

    converter = _converter(saved_model_dir)
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    Path(dst).write_bytes(converter.convert())
    return {"weights": "int8 per channel", "activations": "int8 (full integer, calibrated)",
            "io": "float32"}


WRITERS = {"fp16": write_fp16, "int8": write_int8}


def quantize_tflite(serving, folder: Path, files: dict, calibration: np.ndarray | None) -> dict:
    """Write each {mode: path} of `files`: from folder/saved_model when the export keeps one, else
    from a SavedModel of `serving` written to a scratch folder inside `folder` and removed after."""
    from visiontk.export.formats.saved_model import FOLDER, write_saved_model
    from visiontk.export.quantize import converting

    saved, scratch = Path(folder) / FOLDER, None
    if not (saved / "saved_model.pb").is_file():
        scratch = Path(tempfile.mkdtemp(prefix=".quantize-", dir=folder))
        saved = write_saved_model(serving, scratch / FOLDER)
    try:
        out = {}
        for mode, dst in files.items():
            with converting(f"TFLite {mode} quantisation"), _quiet():
                out[mode] = WRITERS[mode](saved, Path(dst), calibration)
        return out
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _quiet():
    """The converter's calibrator prints its settings from C++ ("fully_quantize: 0, ...") and warns
    that tf.lite.Interpreter is deprecated: keep both off the terminal (an error stays one line; the
    converter's exception says what failed)."""
    from visiontk.cli.quiet_import import _fd2_to_file     # fd 2 into a temporary file

    with _fd2_to_file(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
