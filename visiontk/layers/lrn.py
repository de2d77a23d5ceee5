"""Local response normalisation across channels (AlexNet, VGG A-LRN; seed 001).

    b[i] = a[i] / (k + alpha * sum_{j = max(0, i - n//2)}^{min(N - 1, i + n//2)} a[j]^2) ** beta

as the seed writes it: `alpha` multiplies the *sum* over the n neighbouring channels, as in the paper
and in tf.nn.local_response_normalization (depth_radius = n // 2). PyTorch's nn.LocalResponseNorm
and Caffe divide alpha by n: to match them pass `alpha = n * alpha_torch`.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["LocalResponseNormalization"]


@keras.saving.register_keras_serializable(package="visiontk")
class LocalResponseNormalization(keras.layers.Layer):
    """Normalises each activation by the energy of its `size` neighbouring channels (last axis).

    Built from pads, slices and elementwise ops only, so it exports to SavedModel, ONNX and TFLite
    like any other layer and has no weights.

    Args:
        size: n, the number of channels summed (odd; the paper: 5).
        alpha: scale of the sum (paper: 1e-4).
        beta: exponent (paper: 0.75).
        k: additive constant (paper: 2).

    Example:
        >>> import numpy as np
        >>> lrn = LocalResponseNormalization(size=3, alpha=1.0, beta=1.0, k=1.0)
        >>> x = np.array([[[[1.0, 2.0, 0.0]]]], "float32")
        >>> [round(float(v), 4) for v in np.asarray(lrn(x))[0, 0, 0]]   # 1/(1+5), 2/(1+5), 0
        [0.1667, 0.3333, 0.0]
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 **kwargs):
        super().__init__(**kwargs)
        if int(size) < 1 or int(size) % 2 == 0:
            raise ValueError(f"LocalResponseNormalization: size must be a positive odd number, "
                             f"got {size}")
        self.size = int(size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")       # the sum of squares overflows float16
        r = self.size // 2
        channels = x.shape[-1]
        sq = ops.square(x)
        padded = ops.pad(sq, [[0, 0]] * (len(x.shape) - 1) + [[r, r]])
        total = sq if r == 0 else sum(padded[..., d:d + channels] for d in range(self.size))
        y = x / ops.power(self.k + self.alpha * total, self.beta)
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta,
                "k": self.k}
