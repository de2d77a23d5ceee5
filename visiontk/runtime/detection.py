"""Detection: raw outputs -> boxes with scores, per-class NMS; overlay. Two output layouts, named by
metadata's `decode.layout`:

`anchor_free` (the multi-scale head), per image: (A, 4 + C), one row per anchor of every level:
x1, y1, x2, y2 normalised to the model input (decoded in the graph), then C independent class
probabilities (sigmoids). A box's score is its best class probability.

`yolo_v1` (the grid head), per image: (S, S, B * 5 + C). For each cell (row, col) and each of its B predictors
b, channels [5b .. 5b+4] are (confidence, x, y, sqrt(w), sqrt(h)), all in [0, 1]: x, y are the box
centre relative to the cell (0 = left/top edge of the cell, 1 = right/bottom), w, h are relative to
the image and predicted as their square roots (YOLO v1: an error on a small box counts more than
the same error on a large one). The last C channels are the cell's class probabilities (softmax).
A box's score is confidence x the probability of its cell's best class.

With `decode.multi_label` (evaluation's mAP sets it), a box is kept once for every class whose
score reaches the threshold, not only for its best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .boxes import nms_per_class, to_pixels
from .draw import class_color, draw_box
from .predictions import Box, Prediction, box_differences


@dataclass
class DetectionPrediction(Prediction):
    """The boxes above the score threshold after NMS, in pixels of the original image."""

    task: ClassVar[str] = "detection"
    boxes: list = field(default_factory=list)        # [Box]

    @property
    def count(self) -> int:
        return len(self.boxes)

    def json_fields(self) -> dict:
        return {"count": float(self.count), "boxes": [b.to_dict() for b in self.boxes]}

    def differences(self, other, size) -> list[str]:
        return box_differences(self.boxes, other.boxes, size)


def grid_boxes(outputs: np.ndarray, grid: int, boxes_per_cell: int):
    """All S*S*B candidate boxes of a batch.

    Returns:
        boxes (N, S*S*B, 4) normalised x1, y1, x2, y2; confidence (N, S*S*B);
        class probabilities (N, S*S*B, C) (each predictor shares its cell's).
    """
    out = np.asarray(outputs, np.float64)
    n, s, b = out.shape[0], grid, boxes_per_cell
    if out.shape[1:3] != (s, s) or out.shape[3] <= 5 * b:
        raise ValueError(f"detection outputs of shape {out.shape} do not fit grid {s} with {b} "
                         f"box(es) per cell")
    preds = out[..., :5 * b].reshape(n, s, s, b, 5)
    probs = out[..., 5 * b:]
    cols, rows = np.meshgrid(np.arange(s), np.arange(s))          # (S, S): x index, y index
    cx = (cols[None, :, :, None] + preds[..., 1]) / s
    cy = (rows[None, :, :, None] + preds[..., 2]) / s
    w, h = preds[..., 3] ** 2, preds[..., 4] ** 2
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    probs = np.broadcast_to(probs[:, :, :, None, :], (n, s, s, b, probs.shape[-1]))
    return (np.clip(boxes, 0.0, 1.0).reshape(n, -1, 4), preds[..., 0].reshape(n, -1),
            probs.reshape(n, s * s * b, -1))


def _anchor_rows(outputs) -> np.ndarray:
    """The anchor-free head's (N, A, 4 + C) rows as float64; a ValueError for any other shape."""
    out = np.asarray(outputs, np.float64)
    if out.ndim != 3 or out.shape[-1] <= 4:
        raise ValueError(f"detection outputs of shape {out.shape} are not (N, anchors, 4 + classes)")
    return out


def anchor_free_boxes(outputs: np.ndarray):
    """(N, A, 4 + C) -> boxes (N, A, 4) clipped to the image, classes (N, A), scores (N, A)."""
    out = _anchor_rows(outputs)
    probs = out[..., 4:]
    classes = probs.argmax(-1)
    return np.clip(out[..., :4], 0.0, 1.0), classes, np.take_along_axis(probs, classes[..., None], -1)[..., 0]


def class_scores(outputs: np.ndarray, d: dict):
    """Every candidate box of a batch with its score for every class.

    Returns:
        boxes (N, K, 4) normalised x1, y1, x2, y2 and scores (N, K, C): the class probability
        (`anchor_free`), or confidence x the cell's class probability (`yolo_v1`).
    """
    if d.get("layout") == "anchor_free":
        out = _anchor_rows(outputs)
        return np.clip(out[..., :4], 0.0, 1.0), out[..., 4:]
    boxes, conf, probs = grid_boxes(outputs, d["grid"], d["boxes_per_cell"])
    return boxes, conf[..., None] * probs


def candidates(scores: np.ndarray, threshold: float, multi_label: bool):
    """One image's (K, C) class scores -> (box index, class, score) of the candidates at or above
    `threshold`: each box's best class, or with `multi_label` every class that reaches it (as
    Ultralytics' validation decodes for mAP: a garment whose class the model is unsure of is then
    also scored under its second guess, instead of being missed in that class)."""
    if multi_label:
        k, c = np.nonzero(scores >= threshold)
        return k, c, scores[k, c]
    best = scores.argmax(-1)
    top = np.take_along_axis(scores, best[:, None], -1)[:, 0]
    k = np.flatnonzero(top >= threshold)
    return k, best[k], top[k]


def decode(outputs, meta: dict, sizes=None, *, score_threshold: float | None = None,
           multi_label: bool | None = None) -> list:
    """Detection outputs -> one Prediction per image, boxes in original pixels: grid outputs
    (N, S, S, B*5+C) (`layout: yolo_v1`) or anchor rows (N, A, 4+C) (`layout: anchor_free`).

    Args:
        outputs: the model's output (or a one-element list of it).
        meta: meta.json / metadata.json (`decode`: layout, grid and boxes_per_cell (yolo_v1),
            score_threshold, iou_threshold, max_detections, multi_label).
        sizes: original (h, w) per image; default the model input size.
        score_threshold: overrides meta's (evaluation uses a low one to trace the whole PR curve).
        multi_label: overrides meta's (default False: one class per box, its best); True keeps
            a box once per class whose score reaches the threshold (evaluation's mAP does).

    Example:
        >>> meta = {"input": {"shape": [64, 64, 3]}, "class_names": ["a"],
        ...         "decode": {"grid": 2, "boxes_per_cell": 1}}
        >>> out = np.zeros((1, 2, 2, 6)); out[0, 0, 1] = [0.9, 0.5, 0.5, 0.5, 0.5, 1.0]
        >>> [round(v) for v in vars(decode(out, meta)[0].boxes[0]).values() if isinstance(v, float)]
        [40, 8, 56, 24, 1]
    """
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    d = meta.get("decode", {})
    names = meta.get("class_names", [])
    threshold = d.get("score_threshold", 0.25) if score_threshold is None else score_threshold
    multi = bool(d.get("multi_label", False)) if multi_label is None else multi_label
    boxes, scores = class_scores(outputs, d)
    ih, iw = meta["input"]["shape"][:2]
    sizes = list(sizes) if sizes is not None else [(ih, iw)] * len(boxes)
    preds = []
    for i in range(len(boxes)):
        k, cls, score = candidates(scores[i], threshold, multi)
        keep = nms_per_class(boxes[i, k], score, cls, d.get("iou_threshold", 0.45),
                             d.get("max_detections", 100))
        px = to_pixels(boxes[i, k[keep]], meta, sizes[i])
        found = [Box(*map(float, px[j]), cls=int(cls[m]), score=float(score[m]),
                     name=names[cls[m]] if cls[m] < len(names) else str(cls[m]))
                 for j, m in enumerate(keep)]
        preds.append(DetectionPrediction(boxes=found))
    return preds


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    """Each box in its class colour with `name score` above it."""
    for box in sorted(prediction.boxes, key=lambda b: b.score):      # best drawn last (on top)
        draw_box(frame, (box.x1, box.y1, box.x2, box.y2), f"{box.name} {box.score:.2f}",
                 class_color(box.cls))
    return frame
