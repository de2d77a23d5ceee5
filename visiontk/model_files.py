"""Reading model files safely: .keras models (Keras' safe mode, one-line errors for damaged or
foreign files), .weights.h5 weights, and a batched numpy predict function over a Keras model.

Below train/, evaluate.py, export/ and infer/, which all load models this way.
"""

from __future__ import annotations

from pathlib import Path

from visiontk.errors import ModelError, RecipeError


def load_weights_file(model, path: str, field: str) -> None:
    """Load a .weights.h5 into `model`; a ModelError naming `field` and the file when it is missing,
    not a complete HDF5 file, or of another architecture."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelError(f"{field}: weights file not found: {p}")
    problem = _file_problem(p, HDF5_SIGNATURE, "a .weights.h5 file")
    if problem:
        raise ModelError(f"{field}: cannot read {p}: {problem}")
    import warnings

    with warnings.catch_warnings(record=True) as said:    # Keras warns per layer, then raises
        warnings.simplefilter("always")
        try:
            model.load_weights(str(p))
            failure = None
        except Exception as exc:  # keras raises several kinds for mismatched files
            failure = f"{type(exc).__name__}: {str(exc).strip()}"
    if failure is None:
        for w in said:                                   # a load that worked: its warnings matter
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return
    if "truncated" in failure or "signature" in failure:    # h5py: the file itself is damaged
        raise ModelError(f"{field}: cannot read {p}: the file is truncated or damaged; copy it again "
                         f"or train the run that wrote it again")
    raise ModelError(f"{field}: {p} does not fit this architecture ({failure.splitlines()[0][:160]})")


def run_or_keras_file(path: str, field: str, train_first: str) -> tuple[Path, Path | None]:
    """(the .keras file, its run folder or None) for a recipe field naming another model: a run's
    folder (its model.keras) or a .keras file. `train_first` ends the error, e.g. "train it first,
    e.g. `visiontk train recipes/x.yaml`"."""
    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / "model.keras").is_file():
            raise RecipeError(f"{field}: {p} holds no model.keras (is the run finished? "
                              f"{train_first})")
        return p / "model.keras", p
    if p.suffix != ".keras" or not p.is_file():
        raise RecipeError(f"{field}: {p} is neither a run folder nor a .keras file (relative paths "
                          f"are relative to the working directory); {train_first}")
    return p, None


def import_custom_objects() -> None:
    """Import the modules that register visiontk's serialisable layers and losses: the shared
    layers and every task package's loss and layers."""
    import visiontk.layers  # noqa: F401  (registers the shared layers)
    from visiontk.tasks import task_modules

    task_modules("loss")
    task_modules("layers")


def load_keras_model(path: str | Path):
    """Load a .keras file with safe_mode on (a file that carries Python code is refused); a clear
    ModelError when it is missing, truncated, of another kind, or refused."""
    import keras

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {p}")
    problem = _file_problem(p, ZIP_SIGNATURE, "a .keras model")
    if problem:
        raise ModelError(f"cannot load {p}: {problem}")
    import_custom_objects()
    try:
        return keras.saving.load_model(str(p), compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelError(_keras_load_failure(p, exc)) from None


def _keras_load_failure(p: Path, exc: Exception) -> str:
    """The one-line reason a .keras file that looks whole did not load."""
    import zipfile

    text = str(exc)
    if "safe_mode" in text or "arbitrary code" in text:
        return (f"cannot load {p}: the file contains Python code (a Lambda layer or another Python "
                f"function) and is refused for safety: visiontk loads .keras files in Keras' safe mode, "
                f"which never runs code from a file; rebuild the model with registered layers instead "
                f"of Lambda layers")
    try:
        with zipfile.ZipFile(p) as z:
            if "config.json" not in z.namelist():
                return (f"cannot load {p}: the zip archive holds no config.json, so it is not a .keras "
                        f"model; give the model.keras of a run")
            bad = z.testzip()
    except zipfile.BadZipFile:
        bad = "?"
    if bad is not None:
        return (f"cannot load {p}: the file is damaged (member {bad} fails its checksum); copy it "
                f"again or retrain")
    detail = text.strip().splitlines()[0][:200] if text.strip() else ""
    return (f"cannot load {p}: {type(exc).__name__}: {detail} (written by an incompatible version of "
            f"Keras or visiontk, or with custom code visiontk does not have)")


ZIP_SIGNATURE = b"PK\x03\x04"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _file_problem(path: Path, signature: bytes, kind: str) -> str | None:
    """Why `path` cannot be the `kind` file its name says (empty, cut short, another type), judged
    from its first bytes (and, for a zip, its end record); None when it looks whole."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        return "the file is empty (an interrupted copy or save?); copy it again or retrain"
    if head.startswith(signature):
        if signature == ZIP_SIGNATURE and not zipfile.is_zipfile(path):
            return (f"the file is truncated or damaged ({path.stat().st_size} bytes, the zip archive "
                    f"has no end); copy it again or retrain")
        return None
    if head.startswith(HDF5_SIGNATURE):
        found = f"it is an HDF5 file (a legacy .h5 model or a .weights.h5 file), not {kind}"
    elif head.startswith(ZIP_SIGNATURE):
        found = f"it is a zip archive (a .keras model?), not {kind}"
    else:
        found = f"it is not {kind} (neither a zip archive nor an HDF5 file: another kind of file, " \
                f"or damaged)"
    return f"{found}; replace it with the right file or retrain"


def keras_predict_fn(model):
    """A batched numpy predict function: tf.function(model) (no per-call retracing)."""
    import numpy as np
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(images):
        out = fn(tf.convert_to_tensor(images, tf.float32))
        if isinstance(out, dict):
            return {k: np.asarray(v) for k, v in out.items()}
        if isinstance(out, (list, tuple)):
            return [np.asarray(v) for v in out]
        return np.asarray(out)

    return predict
