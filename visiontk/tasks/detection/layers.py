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


# ---- the second stage (model.head.crop_classifier): grid candidates -> crops -> rescored rows ------


@keras.saving.register_keras_serializable(package="visiontk")
class GridCandidates(keras.layers.Layer):
    """Grid outputs (N, S, S, B*5 + C) -> the `top_k` most confident of the S*S*B boxes:
    (N, K, 5 + C) as cx, cy, w, h (relative to the image), confidence, then the cell's C class
    probabilities (the layout of `visiontk.runtime.detection.grid_boxes`, in the graph)."""

    def __init__(self, grid: int, boxes_per_cell: int, top_k: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.grid, self.boxes_per_cell = int(grid), int(boxes_per_cell)
        self.top_k = min(int(top_k), self.grid * self.grid * self.boxes_per_cell)

    def call(self, grid_out):
        s, b = self.grid, self.boxes_per_cell
        out = ops.cast(grid_out, "float32")
        c = out.shape[-1] - 5 * b
        preds = ops.reshape(out[..., :5 * b], (-1, s, s, b, 5))
        probs = ops.reshape(ops.repeat(out[..., None, 5 * b:], b, axis=3), (-1, s * s * b, c))
        cols = ops.reshape(ops.tile(ops.arange(s, dtype="float32")[None, :], (s, 1)), (1, s, s, 1))
        rows = ops.reshape(ops.tile(ops.arange(s, dtype="float32")[:, None], (1, s)), (1, s, s, 1))
        boxes = ops.stack([(cols + preds[..., 1]) / s, (rows + preds[..., 2]) / s,
                           ops.square(preds[..., 3]), ops.square(preds[..., 4])], -1)
        boxes = ops.reshape(boxes, (-1, s * s * b, 4))
        conf = ops.reshape(preds[..., 0], (-1, s * s * b))
        conf, index = ops.top_k(conf, self.top_k)
        return ops.concatenate([_rows_at(boxes, index), conf[..., None], _rows_at(probs, index)], -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.top_k, 5 + input_shape[-1] - 5 * self.boxes_per_cell)

    def get_config(self):
        return {**super().get_config(), "grid": self.grid, "boxes_per_cell": self.boxes_per_cell,
                "top_k": self.top_k}


def _rows_at(x, index):
    """x (N, A, D) at the row indices (N, K) -> (N, K, D)."""
    return ops.take_along_axis(x, ops.repeat(index[..., None], x.shape[-1], axis=-1), axis=1)


def _corners(box):
    """cx, cy, w, h (relative) -> x1, y1, x2, y2 clipped to the image."""
    half = box[..., 2:] / 2
    return ops.clip(ops.concatenate([box[..., :2] - half, box[..., :2] + half], -1), 0.0, 1.0)


@keras.saving.register_keras_serializable(package="visiontk")
class FoldCandidates(keras.layers.Layer):
    """(N, K, ...) -> (N * K, ...): each candidate's crop becomes one image of a batch (and back
    with `unfold=K`: (N * K, ...) -> (N, K, ...))."""

    def __init__(self, unfold: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.unfold = int(unfold)

    def call(self, x):
        if self.unfold:
            return ops.reshape(x, (-1, self.unfold, *x.shape[1:]))
        return ops.reshape(x, (-1, *x.shape[2:]))

    def compute_output_shape(self, input_shape):
        if self.unfold:
            return (None, self.unfold, *input_shape[1:])
        return (None, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "unfold": self.unfold}


@keras.saving.register_keras_serializable(package="visiontk")
class MirrorImages(keras.layers.Layer):
    """(N, H, W, C) -> the images mirrored left to right, as a product with the W x W anti-diagonal
    (MatMul: every exporter and OpenCV's DNN module read it; a reversed slice is not everywhere)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")          # exact pixels: the crops are float32
        super().__init__(**kwargs)

    def call(self, x):
        import numpy as np

        anti = ops.convert_to_tensor(np.eye(x.shape[2], dtype="float32")[:, ::-1].copy(), x.dtype)
        return ops.transpose(ops.matmul(ops.transpose(x, (0, 1, 3, 2)), anti), (0, 1, 3, 2))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="visiontk")
class RescoreRows(keras.layers.Layer):
    """(candidates (N, K, 5 + C), crop probabilities (N, K, C)) -> (N, K, 4 + C) anchor-free rows:
    x1, y1, x2, y2, then confidence x p(c), where p is the detector's and the crop classifier's
    class probabilities combined as a weighted geometric mean, renormalised:
    p ~ p_detector^(1 - weight) x p_crop^weight."""

    def __init__(self, weight: float = 0.5, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, inputs):
        cand, crop = (ops.cast(t, "float32") for t in inputs)
        box, conf, det = cand[..., :4], cand[..., 4:5], cand[..., 5:]
        eps = 1e-7
        logp = (1.0 - self.weight) * ops.log(det + eps) + self.weight * ops.log(crop + eps)
        probs = ops.softmax(logp, axis=-1)
        corners = _corners(box)
        return ops.concatenate([corners, conf * probs], -1)

    def compute_output_shape(self, input_shape):
        cand, crop = input_shape
        return (cand[0], cand[1], 4 + crop[-1])

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@keras.saving.register_keras_serializable(package="visiontk")
class CandidateRows(keras.layers.Layer):
    """Candidates (N, K, 5 + C) of `GridCandidates` -> anchor-free rows (N, K, 4 + C): x1, y1, x2,
    y2, then confidence x p(c): the grid's own boxes in the multi-scale head's layout (what
    `RescoreRows` gives with no second opinion)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, cand):
        cand = ops.cast(cand, "float32")
        box, conf, probs = cand[..., :4], cand[..., 4:5], cand[..., 5:]
        corners = _corners(box)
        return ops.concatenate([corners, conf * probs], -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] - 1)
