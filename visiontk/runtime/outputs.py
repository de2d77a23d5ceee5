"""Exported models return named outputs; decode expects the Keras model's own structure.

An export's metadata.json records `outputs: {"structure": "tensor" | "list" | "dict", "names": [...]}`
(the Keras model returned one tensor, a list, or a dict). Every exported-format backend (SavedModel,
ONNX Runtime, TFLite, the TensorFlow-free runner) rebuilds that structure here, so decode sees exactly
what it sees from Keras.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def restructure(named: dict, meta: dict):
    """{output name: array} -> a single array, a list or a dict, as the Keras model returns.

    Example:
        >>> meta = {"outputs": {"structure": "tensor", "names": ["probs"]}}
        >>> restructure({"probs": np.zeros((1, 3))}, meta).shape
        (1, 3)
    """
    spec = meta.get("outputs") or {}
    names = spec.get("names") or list(named)
    missing = [n for n in names if n not in named]
    if missing:
        raise InputError(f"the model has no output(s) {', '.join(missing)} named in metadata.json "
                         f"(it has: {', '.join(named)}); re-export the run")
    arrays = [np.asarray(named[n]) for n in names]
    structure = spec.get("structure", "tensor" if len(names) == 1 else "dict")
    if structure == "tensor":
        return arrays[0]
    if structure == "list":
        return arrays
    return dict(zip(names, arrays))
