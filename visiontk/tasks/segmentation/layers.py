"""In-graph layers of the segmentation task's optional box naming (`model.head.detector`)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="visiontk")
class NameByBoxes(keras.layers.Layer):
    """(probabilities (N, h, w, 1 + C): background then C classes; detector rows (N, K, 4 + C):
    x1, y1, x2, y2 relative to the image, then class scores) -> the probabilities with the classes
    of each pixel taken from the boxes that cover it.

    Boxes whose best class score is under `min_score` are ignored. Where at least one box covers a
    pixel's centre, its class distribution is the covering boxes' class scores summed and
    normalised (q), scaled by the segmenter's object probability: (p_bg, (1 - p_bg) q). Pixels no
    box covers keep the segmenter's distribution. `window` = (top, left, H, W): where the map lies
    in an H x W input (valid padding gives a map smaller than its input, centred)."""

    def __init__(self, min_score: float = 0.1, window=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.min_score = float(min_score)
        self.window = None if window is None else [int(v) for v in window]

    def call(self, inputs):
        probs, rows = (ops.cast(t, "float32") for t in inputs)
        h, w, c = probs.shape[1], probs.shape[2], rows.shape[-1] - 4
        k = rows.shape[1]
        top, left, full_h, full_w = self.window or (0, 0, h, w)
        ys = (ops.arange(h, dtype="float32") + (top + 0.5)) / full_h
        xs = (ops.arange(w, dtype="float32") + (left + 0.5)) / full_w
        scores = rows[..., 4:]
        scores = scores * ops.cast(ops.max(scores, -1, keepdims=True) >= self.min_score, "float32")
        inside_y = ops.cast(ops.logical_and(ys >= rows[..., 1:2], ys < rows[..., 3:4]), "float32")
        inside_x = ops.cast(ops.logical_and(xs >= rows[..., 0:1], xs < rows[..., 2:3]), "float32")
        # votes[n, y, x, c] = sum_k inside_y[n, k, y] inside_x[n, k, x] scores[n, k, c], as one
        # batched matmul (every backend and exporter has it; einsum is not in TFLite's builtins)
        cols = ops.reshape(inside_x[..., None] * scores[:, :, None, :], (-1, k, w * c))
        votes = ops.reshape(ops.matmul(ops.transpose(inside_y, (0, 2, 1)), cols), (-1, h, w, c))
        total = ops.sum(votes, -1, keepdims=True)
        background = probs[..., :1]
        named = ops.concatenate([background, (1.0 - background) * votes / ops.maximum(total, 1e-12)], -1)
        return ops.where(total > 0, named, probs)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "min_score": self.min_score, "window": self.window}
