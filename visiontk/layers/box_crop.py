"""Crop a square around a predicted box and resample it to a fixed size, inside the model (the
second stage of a two-stage localizer: the class is read from the object's own pixels at one scale).

Resampling is two matrix products with a triangle (bilinear, widened when shrinking) filter built
from the box, so the layer exports to SavedModel, ONNX and TFLite like any other layer and needs no
crop_and_resize op.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["BoxCrop"]


@keras.saving.register_keras_serializable(package="visiontk")
class BoxCrop(keras.layers.Layer):
    """`[images (B, H, W, C), boxes (B, 4)] -> crops (B, size, size, C)`, or with K boxes per
    image `[images, boxes (B, K, 4)] -> crops (B, K, size, size, C)` (a detector's candidates; the
    image is not copied K times).

    Boxes are (cx, cy, w, h) relative to the image (a localizer's sigmoid outputs). The crop is the
    square centred on the box whose side is the box's longer side (in pixels) times `margin`;
    samples outside the image repeat its border. No gradient flows into the boxes (the box branch
    learns from its own loss only).

    Example:
        >>> import numpy as np
        >>> img = np.zeros((1, 8, 8, 1), "float32"); img[0, 2:4, 4:6] = 1.0
        >>> box = np.array([[5 / 8, 3 / 8, 2 / 8, 2 / 8]], "float32")   # exactly that 2 x 2 patch
        >>> crop = BoxCrop(2, margin=1.0)([img, box])
        >>> np.asarray(crop)[0, :, :, 0].tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(self, size: int, margin: float = 1.15, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.size = int(size)
        self.margin = float(margin)

    def _weights(self, centre, side, n: int):
        """(..., size, n): row i holds the filter that gives crop sample i from the n pixels."""
        s = self.size
        t = (ops.arange(s, dtype="float32") + 0.5) / s - 0.5                    # (s,)
        pos = centre[..., None] + t * side[..., None] - 0.5                     # pixel index space
        pos = ops.clip(pos, 0.0, float(n - 1))
        width = ops.maximum(side / s, 1.0)[..., None, None]                     # widened to shrink
        dist = ops.abs(pos[..., None] - ops.arange(n, dtype="float32"))
        w = ops.relu(1.0 - dist / width)
        return w / ops.maximum(ops.sum(w, axis=-1, keepdims=True), 1e-6)

    def call(self, inputs):
        images, boxes = inputs
        images = ops.cast(images, "float32")
        boxes = ops.stop_gradient(ops.cast(boxes, "float32"))
        h, w = images.shape[1], images.shape[2]
        side = ops.maximum(ops.maximum(boxes[..., 2] * w, boxes[..., 3] * h) * self.margin, 1.0)
        wy = self._weights(boxes[..., 1] * h, side, h)                          # (B, [K,] s, H)
        wx = ops.swapaxes(self._weights(boxes[..., 0] * w, side, w), -1, -2)    # (B, [K,] W, s)
        x = ops.transpose(images, (0, 3, 1, 2))                                 # (B, C, H, W)
        if len(boxes.shape) == 3:                                               # K boxes an image
            x = ops.matmul(wy[:, :, None], x[:, None])                          # (B, K, C, s, W)
            return ops.transpose(ops.matmul(x, wx[:, :, None]), (0, 1, 3, 4, 2))
        x = ops.matmul(wy[:, None], x)                                          # (B, C, s, W)
        x = ops.matmul(x, wx[:, None])                                          # (B, C, s, s)
        return ops.transpose(x, (0, 2, 3, 1))

    def compute_output_shape(self, input_shape):
        shape, boxes = input_shape
        lead = (shape[0],) if len(boxes) == 2 else (shape[0], boxes[1])
        return (*lead, self.size, self.size, shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "margin": self.margin}
