"""The multi-scale head's in-graph decoding: one level's raw maps -> boxes and class probabilities.

Decoding inside the model keeps every backend (Keras, SavedModel, ONNX, TFLite, cv2.dnn) on one
output layout, (N, A, 4 + C), that needs no anchors to read: see `visiontk.runtime.detection`.
"""

from __future__ import annotations

import keras
from keras import ops


def anchor_centres(grid_h: int, grid_w: int, stride: int, image_h: int, image_w: int):
    """Cell centres of one level (a grid_h x grid_w map of `stride` pixels a cell), normalised by
    the image size, row-major: (grid_h * grid_w, 2) as (x, y).

    Example:
        >>> anchor_centres(2, 2, 8, 16, 16).tolist()
        [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]
    """
    import numpy as np

    xs = (np.arange(grid_w, dtype=np.float32) + 0.5) * stride / image_w
    ys = (np.arange(grid_h, dtype=np.float32) + 0.5) * stride / image_h
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.reshape(-1), gy.reshape(-1)], -1)


@keras.saving.register_keras_serializable(package="visiontk")
class LevelBoxes(keras.layers.Layer):
    """(distances (N, h, w, 4), class logits (N, h, w, C)) -> (N, h*w, 4 + C).

    The four distances from the cell centre to the box's left, top, right and bottom edges are
    softplus(raw) strides (positive, smooth, no upper bound: a stride-32 cell can hold a box the
    size of the image); the output box is x1, y1, x2, y2 normalised by the image size, the class
    probabilities are sigmoids (independent per class, as YOLOv8: no background class).
    """

    def __init__(self, stride: int, image_size, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.stride = int(stride)
        self.image_size = (int(image_size[0]), int(image_size[1]))

    def call(self, inputs):
        raw, logits = inputs
        raw = ops.cast(raw, "float32")
        logits = ops.cast(logits, "float32")
        h, w = raw.shape[1], raw.shape[2]
        ih, iw = self.image_size
        centres = ops.convert_to_tensor(anchor_centres(h, w, self.stride, ih, iw))
        dist = ops.reshape(ops.softplus(raw), (-1, h * w, 4)) * self.stride
        scale = ops.convert_to_tensor([1.0 / iw, 1.0 / ih, 1.0 / iw, 1.0 / ih])
        cx, cy = centres[None, :, 0], centres[None, :, 1]
        d = dist * scale
        boxes = ops.stack([cx - d[..., 0], cy - d[..., 1], cx + d[..., 2], cy + d[..., 3]], -1)
        probs = ops.reshape(ops.sigmoid(logits), (-1, h * w, logits.shape[-1]))
        return ops.concatenate([boxes, probs], -1)

    def compute_output_shape(self, input_shape):
        raw, logits = input_shape
        return (raw[0], raw[1] * raw[2], 4 + logits[-1])

    def get_config(self):
        return {**super().get_config(), "stride": self.stride, "image_size": list(self.image_size)}
