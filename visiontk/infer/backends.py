"""Inference backends: callables batch (N, H, W, C float32) -> raw outputs (numpy), in the structure
the Keras model returns (one array, a list or a dict), so every task's decode works on each.

`keras` reads a run's model.keras; every export format (visiontk/export/formats/: `saved_model`,
`onnx`, `tflite`) reads an export folder (`visiontk export`) with the format's own loader and
restructures its named outputs from metadata.json; `open_file` runs a quantised file of an export
(model_int8.onnx, ...) on its format's backend. Models opened inside `model_threads(n)` run on `n`
CPU threads (`visiontk predict --threads`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Iterator, Optional

from visiontk.errors import ModelError
from visiontk.registry import Registry

BACKENDS = Registry("backend", ModelError)
# Backends whose model may be called from several threads at once, each call on its own threads: an
# ONNX Runtime session may; a TFLite interpreter may not; TensorFlow spreads one call over every
# core by itself.
CONCURRENT = ("onnx",)

_THREADS: ContextVar[Optional[int]] = ContextVar("visiontk_model_threads", default=None)


@contextmanager
def model_threads(n: Optional[int]) -> Iterator[None]:
    """Models opened inside run on `n` CPU threads: ONNX Runtime's intra-op threads, TFLite's
    num_threads, TensorFlow's intra-op threads (when TensorFlow has not started yet: it fixes them
    once). None: each runtime's default (one thread per core).

    Example:
        >>> with model_threads(1):
        ...     predictor = Predictor("export/classify")        # doctest: +SKIP
    """
    token = _THREADS.set(int(n) if n else None)
    try:
        yield
    finally:
        _THREADS.reset(token)


def threads() -> Optional[int]:
    """The CPU threads `model_threads` asks for (None: the runtime's default)."""
    return _THREADS.get()


def _tensorflow_threads() -> None:
    n = threads()
    if n:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
        except RuntimeError:                         # TensorFlow already running: its own count
            pass


@BACKENDS.register("keras", files=("model.keras",))
def keras_backend(folder: Path, meta: dict) -> Callable:
    from visiontk.model_files import keras_predict_fn
    from visiontk.model_files import load_keras_model

    path = Path(folder) / "model.keras"
    _tensorflow_threads()
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


def _export_backend(fmt) -> Callable:
    """The backend of an export format: its loader, outputs restructured from metadata.json."""

    def backend(folder: Path, meta: dict) -> Callable:
        if fmt.name == "saved_model":
            _tensorflow_threads()
        return _opened(fmt, Path(folder) / fmt.files, lambda: fmt.load(folder), meta)

    return backend


def open_file(name: str, path: Path, meta: dict) -> Callable:
    """Backend `name` (an export format) on one model file of its export folder under another name
    than its own: a quantised variant (model_int8.onnx, model_fp16.tflite, ...)."""
    from visiontk.export import formats

    fmt = formats.get(name)
    if fmt.load_file is None:
        raise ModelError(f"{path}: the {fmt.title} backend reads only its export's {fmt.files}")
    return _opened(fmt, Path(path), lambda: fmt.load_file(path), meta)


def _opened(fmt, path: Path, load: Callable, meta: dict) -> Callable:
    """`load()`'s callable, restructured; a file it cannot read is one ModelError line."""
    try:
        run = load()
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ModelError(f"cannot load the {fmt.title} model {path}: the file is truncated, "
                         f"damaged or not a valid {fmt.title} model file ({type(exc).__name__}: "
                         f"{detail}); re-export the run with `visiontk export RUN_DIR --force`") \
            from None
    return _structured(run, meta, path)


def _register_export_formats() -> None:
    """Every export format is a backend too (visiontk/export/formats/: no TensorFlow imported)."""
    from visiontk.export import formats

    for name in formats.names():
        fmt = formats.get(name)
        BACKENDS.add(name, _export_backend(fmt), files=(fmt.marker or fmt.files, "metadata.json"))


_register_export_formats()


def available(folder: Path) -> list[str]:
    """Backends whose model file is in `folder`."""
    return [n for n in BACKENDS.names()
            if all((Path(folder) / f).exists() for f in BACKENDS.entry(n).meta.get("files", ()))]
