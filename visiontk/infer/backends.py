"""Inference backends: callables batch (N, H, W, C float32) -> raw outputs (numpy), in the structure
the Keras model returns (one array, a list or a dict), so every task's decode works on each.

`keras` reads a run's model.keras; `saved_model`, `onnx` and `tflite` read an export folder
(`visiontk export`) and restructure its named outputs from metadata.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from visiontk.errors import ModelError
from visiontk.registry import Registry

BACKENDS = Registry("backend", ModelError)


@BACKENDS.register("keras", files=("model.keras",))
def keras_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.model_files import keras_predict_fn
    from visiontk.model_files import load_keras_model

    path = Path(folder) / "model.keras"
    model = load_keras_model(path)
    predict = keras_predict_fn(model)
    shape = model.input_shape
    if isinstance(shape, tuple):                    # one input: checked against meta.json
        predict.input_dims, predict.model_file = shape[1:], path
    return predict


def _structured(run: Callable, meta: dict, path: Path) -> Callable:
    from visiontk.runtime.outputs import restructure

    def predict(batch):
        return restructure(run(batch), meta)

    predict.raw = run
    predict.model_file = path
    if getattr(run, "input_dims", None) is not None:
        predict.input_dims = run.input_dims
    return predict


def _load(kind: str, loader: Callable, path: Path) -> Callable:
    try:
        return loader(path)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ModelError(f"cannot load the {kind} model {path}: the file is truncated, damaged or "
                         f"not a valid {kind} model file ({type(exc).__name__}: {detail}); "
                         f"re-export the run with `visiontk export RUN_DIR --force`") from None


@BACKENDS.register("saved_model", files=("saved_model/saved_model.pb", "metadata.json"))
def saved_model_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.export.saved_model import load_saved_model

    path = Path(folder) / "saved_model"
    return _structured(_load("SavedModel", load_saved_model, path), meta, path)


@BACKENDS.register("onnx", files=("model.onnx", "metadata.json"))
def onnx_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.export.onnx import load_onnx

    path = Path(folder) / "model.onnx"
    return _structured(_load("ONNX", load_onnx, path), meta, path)


@BACKENDS.register("tflite", files=("model.tflite", "metadata.json"))
def tflite_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.export.tflite import load_tflite

    path = Path(folder) / "model.tflite"
    return _structured(_load("TFLite", load_tflite, path), meta, path)


def available(folder: Path) -> list[str]:
    """Backends whose model file is in `folder`."""
    return [n for n in BACKENDS.names()
            if all((Path(folder) / f).exists() for f in BACKENDS.entry(n).meta.get("files", ()))]
