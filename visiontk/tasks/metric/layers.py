"""Layers of the metric-learning models: class centres for the centre loss and the pair distance
of a Siamese pair model (Keras 3, registered serialisable)."""

from __future__ import annotations

import keras
from keras import ops

from visiontk.tasks.metric.loss import center_loss_values, center_update

__all__ = ["ClassCenters", "PairDistance"]


@keras.saving.register_keras_serializable(package="visiontk")
class ClassCenters(keras.layers.Layer):
    """Holds one centre per training class as non-trainable state and outputs, for inputs
    `[features (B, D), labels (B,)]`, the per-sample centre loss 1/2 ||x_i - C_{y_i}||^2.

    While training, each call moves the centres by seed 002's rule with rate `alpha` (after the loss
    is computed from the old centres, as Wen et al. do). The centres are weights of the layer, so
    checkpoints, backups and `.keras` files keep them.

    Example:
        >>> import numpy as np
        >>> layer = ClassCenters(num_classes=2, alpha=0.5)
        >>> out = layer([np.ones((2, 3), "float32"), np.array([0, 1])], training=True)
        >>> [float(v) for v in np.asarray(out)]               # centres started at 0
        [1.5, 1.5]
        >>> float(np.asarray(layer.centers)[0, 0])             # 0 - 0.5 * (0 - 1) / 2
        0.25
    """

    def __init__(self, num_classes: int, alpha: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.alpha = float(alpha)

    def build(self, input_shape):
        dim = input_shape[0][-1]
        self.centers = self.add_weight(shape=(self.num_classes, dim), initializer="zeros",
                                       trainable=False, autocast=False, dtype="float32",
                                       name="centers")

    def call(self, inputs, training=None):
        features, labels = inputs
        features = ops.cast(features, "float32")
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        values = center_loss_values(features, labels, self.centers)
        if training:
            self.centers.assign(center_update(self.centers, ops.stop_gradient(features), labels,
                                              self.alpha))
        return values

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="visiontk")
class PairDistance(keras.layers.Layer):
    """Distance between the rows of two embedding batches: `euclidean`, `squared` or `cosine`
    (1 - cosine similarity). Output (B,).

    Example:
        >>> import numpy as np
        >>> float(PairDistance("euclidean")([np.zeros((1, 2)), np.array([[3.0, 4.0]])])[0])
        5.0
    """

    def __init__(self, distance: str = "euclidean", **kwargs):
        super().__init__(**kwargs)
        if distance not in ("euclidean", "squared", "cosine"):
            raise ValueError(f"distance must be euclidean, squared or cosine, got {distance!r}")
        self.distance = distance

    def call(self, inputs):
        a, b = (ops.cast(x, "float32") for x in inputs)
        if self.distance == "cosine":
            na = a / ops.sqrt(ops.maximum(ops.sum(ops.square(a), -1, keepdims=True), 1e-12))
            nb = b / ops.sqrt(ops.maximum(ops.sum(ops.square(b), -1, keepdims=True), 1e-12))
            return 1.0 - ops.sum(na * nb, -1)
        d2 = ops.sum(ops.square(a - b), -1)
        if self.distance == "squared":
            return d2
        zero = ops.cast(ops.less_equal(d2, 0.0), d2.dtype)
        return ops.sqrt(d2 + zero * 1e-16) * (1.0 - zero)     # finite gradient at d = 0

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        return {**super().get_config(), "distance": self.distance}
