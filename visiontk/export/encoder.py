"""The encoder of an autoencoder run (denoising task) as an embedding model of its own.

`visiontk export RUN --encoder` (or `export_run(RUN, encoder=True)`) cuts the autoencoder's encoder
out of model.keras (image -> the bottleneck layer `code`, flattened) and exports it like any model;
its metadata says task `metric`, so `visiontk predict`, `embed`, `enroll`, `identify`, `demo` and
export/onnx_predict.py treat it as an embedding model (euclidean distance, no threshold).
"""

from __future__ import annotations

from visiontk.errors import ExportError, VisionTKError


def encoder_meta(run_meta: dict, embedding_size: int) -> dict:
    """meta.json of the encoder: the run's input and class names, task `metric`, the code size.

    Example:
        >>> encoder_meta({"task": "denoising", "input": {"shape": [28, 28, 1]}}, 64)["decode"]
        ... # doctest: +NORMALIZE_WHITESPACE
        {'embedding_size': 64, 'distance': 'euclidean', 'loss': None, 'threshold': None,
         'train_identities': None, 'heldout_identities': None}
    """
    meta = dict(run_meta)
    meta["task"] = "metric"
    meta["decode"] = {"embedding_size": int(embedding_size), "distance": "euclidean", "loss": None,
                      "threshold": None, "train_identities": None, "heldout_identities": None}
    meta["encoder_of"] = {"task": run_meta.get("task"), "layer": "code"}
    return meta


def encoder_and_meta(model, run_meta: dict):
    """(the encoder keras.Model, its meta) of a loaded run model; ExportError when it has none."""
    from visiontk.architectures.autoencoder import encoder_model

    if run_meta.get("task") != "denoising":
        raise ExportError(f"--encoder: the run is a '{run_meta.get('task')}' model; only autoencoder "
                          f"runs (task: denoising with backbone autoencoder_cnn or autoencoder_mlp) "
                          f"have an encoder to export")
    import keras

    try:
        enc = encoder_model(model)
    except VisionTKError as exc:
        raise ExportError(f"--encoder: {exc}") from None
    enc = keras.Model(enc.inputs[0], enc.output, name=enc.name)    # a single input, not a list
    return enc, encoder_meta(run_meta, int(enc.output.shape[-1]))
