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
    from visiontk.evaluate import keras_predict_fn
    from visiontk.train.model import load_keras_model

    return keras_predict_fn(load_keras_model(Path(folder) / "model.keras"))


def _structured(run: Callable, meta: dict) -> Callable:
    from visiontk.runtime.outputs import restructure

    def predict(batch):
        return restructure(run(batch), meta)

    predict.raw = run
    return predict


def _load(kind: str, loader: Callable, path: Path) -> Callable:
    try:
        return loader(path)
    except Exception as exc:
        raise ModelError(f"cannot load the {kind} model {path}: {type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''} "
                         f"(re-export the run with `visiontk export`)") from None


@BACKENDS.register("saved_model", files=("saved_model/saved_model.pb", "metadata.json"))
def saved_model_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.export.saved_model import load_saved_model

    return _structured(_load("SavedModel", load_saved_model, Path(folder) / "saved_model"), meta)


@BACKENDS.register("onnx", files=("model.onnx", "metadata.json"))
def onnx_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.export.onnx import load_onnx

    return _structured(_load("ONNX", load_onnx, Path(folder) / "model.onnx"), meta)


@BACKENDS.register("tflite", files=("model.tflite", "metadata.json"))
def tflite_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.export.tflite import load_tflite

    return _structured(_load("TFLite", load_tflite, Path(folder) / "model.tflite"), meta)


def available(folder: Path) -> list[str]:
    """Backends whose model file is in `folder`."""
    return [n for n in BACKENDS.names()
            if all((Path(folder) / f).exists() for f in BACKENDS.entry(n).meta.get("files", ()))]
