"""Box arithmetic shared by detection and localization (numpy only): IoU, per-class NMS and the
mapping from normalised model-input coordinates to pixels of the original image."""

from __future__ import annotations

import numpy as np

from .preprocess import letterbox_params


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N, 4) with every box in `b` (M, 4), both x1, y1, x2, y2.

    Example:
        >>> iou_matrix(np.array([[0, 0, 2, 2.]]), np.array([[1, 0, 3, 2.]])).round(3)
        array([[0.333]])
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    overlaps = iou_matrix(boxes[order], boxes[order]) > iou_threshold    # one matrix, then flags
    alive = np.ones(len(order), bool)
    for i in range(len(order)):
        if alive[i]:
            alive[i + 1:] &= ~overlaps[i, i + 1:]
    return order[alive]


def nms_per_class(boxes, scores, classes, iou_threshold: float, max_detections: int) -> np.ndarray:
    """NMS within each class (boxes of different classes never suppress each other); indices of
    the kept boxes sorted by score, at most `max_detections`."""
    keep = []
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        keep.extend(idx[nms(boxes[idx], scores[idx], iou_threshold)])
    keep = np.array(keep, np.int64)
    if keep.size:
        keep = keep[np.argsort(-scores[keep], kind="stable")][:max_detections]
    return keep


def to_pixels(boxes: np.ndarray, meta: dict, size) -> np.ndarray:
    """Normalised boxes of the model input (x1, y1, x2, y2 in [0, 1]) -> pixels of the original
    image of `size` (h, w), undoing the letterbox when the run was trained with `resize: pad`."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = int(size[0]), int(size[1])
    ih, iw = meta["input"]["shape"][:2]
    if meta["input"].get("resize", "stretch") == "pad":
        scale, _, _, top, left = letterbox_params(h, w, ih, iw)
        out = (boxes * [iw, ih, iw, ih] - [left, top, left, top]) / scale
    else:
        out = boxes * [w, h, w, h]
    return np.clip(out, 0, [w, h, w, h])


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64)
    half = b[..., 2:4] / 2
    return np.concatenate([b[..., 0:2] - half, b[..., 0:2] + half], -1)
