"""SavedModel: the serving function (signature `serving_default`: image -> named outputs) and the
model's variables, read back with tf.saved_model.load for verification and the `saved_model` backend.
TFLite is converted from it (visiontk/export/formats/tflite.py).

Saving a bare tf.Module that tracks only the variables is about twice as fast as saving the Keras
model object (which traces every layer for Keras' own restore functions: 4.3 s against 8.8 s for a
narrow ResNet18 here) and loads the same signature; ExportArchive is the fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from visiontk.export.formats import ExportFormat, register

SIGNATURE = "serving_default"
FOLDER = "saved_model"


def write_saved_model(serving, path: Path) -> Path:
    """Write `serving` (visiontk.export.serving.Serving) as a SavedModel directory at `path`.

    Example:
        >>> write_saved_model(make_serving(model), Path("export/x/saved_model"))  # doctest: +SKIP
    """
    import shutil

    import tensorflow as tf

    concrete = serving.fn.get_concrete_function()
    module = tf.Module()
    module.variables_ = [getattr(v, "value", v) for v in serving.model.variables]
    try:
        tf.saved_model.save(module, str(path), signatures={SIGNATURE: concrete})
    except (ValueError, AssertionError):          # an untracked resource: let Keras track everything
        import keras

        shutil.rmtree(path, ignore_errors=True)
        archive = keras.export.ExportArchive()
        archive.track(serving.model)
        archive.add_endpoint(SIGNATURE, serving.fn, input_signature=[serving.signature])
        archive.write_out(str(path), verbose=False)
    return Path(path)


def load_saved_model(path: Path) -> Callable:
    """fn(batch float32 NHWC) -> {output name: numpy array}, through the serving signature."""
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures[SIGNATURE]

    def run(batch):
        out = sig(image=tf.convert_to_tensor(np.asarray(batch, np.float32)))
        return {k: v.numpy() for k, v in out.items()}

    run.keep_alive = loaded          # the signature needs its SavedModel object alive
    return run


register(ExportFormat(
    name="saved_model", title="SavedModel", files=FOLDER, needs=("tensorflow",),
    marker=f"{FOLDER}/saved_model.pb",
    write=lambda serving, folder, options: write_saved_model(serving, Path(folder) / FOLDER),
    load=lambda folder: load_saved_model(Path(folder) / FOLDER)))
