"""Bilinear resizing inside a model, without Keras' preprocessing-layer `training` default.

Keras' image preprocessing layers (`keras.layers.Resizing` included) declare `call(..., training=
True)`: a model that holds one, called as `model(x)` without `training`, runs every layer after it
in training mode (BatchNormalization on the batch's statistics), so its output differs from
`model.predict(x)`. `Resize` does the same resizing (`keras.ops.image.resize`, the op `Resizing`
runs, so every exporter reads it the same) with no training argument.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["Resize"]


@keras.saving.register_keras_serializable(package="visiontk")
class Resize(keras.layers.Layer):
    """(N, H, W, C) -> (N, height, width, C), bilinear (or `interpolation`).

    Example:
        >>> import numpy as np
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> Resize(2, 2)(x).shape
        (1, 2, 2, 1)
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.height, self.width, self.interpolation = int(height), int(width), interpolation

    def call(self, x):
        out = ops.image.resize(x, (self.height, self.width), interpolation=self.interpolation)
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation}
