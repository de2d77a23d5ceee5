"""Inference backends: callables batch (N, H, W, C float32) -> raw outputs (numpy).

`keras` lives here; the export feature adds `saved_model`, `onnx` and `tflite` through BACKENDS.
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


def available(folder: Path) -> list[str]:
    """Backends whose model file is in `folder`."""
    return [n for n in BACKENDS.names()
            if all((Path(folder) / f).exists() for f in BACKENDS.entry(n).meta.get("files", ()))]
