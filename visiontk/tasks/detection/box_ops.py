"""Box arithmetic for the box losses (Keras 3 ops): IoU / GIoU, 1 - GIoU, smooth L1. Shared by
the grid loss, the multi-scale loss and its assignment, and the localization head."""

from __future__ import annotations

from keras import ops

__all__ = ["box_iou", "giou_loss", "smooth_l1"]

_EPS = 1e-7


def box_iou(a, b, *, generalized: bool = False):
    """IoU (or GIoU) of boxes x1, y1, x2, y2 along the last axis (broadcasting)."""
    ix = ops.maximum(ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0.0)
    iy = ops.maximum(ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0.0)
    inter = ix * iy
    area_a = ops.maximum(a[..., 2] - a[..., 0], 0.0) * ops.maximum(a[..., 3] - a[..., 1], 0.0)
    area_b = ops.maximum(b[..., 2] - b[..., 0], 0.0) * ops.maximum(b[..., 3] - b[..., 1], 0.0)
    union = area_a + area_b - inter
    iou = inter / ops.maximum(union, _EPS)     # exact for real boxes: IoU 0.5 passes ">= 0.5"
    if not generalized:
        return iou
    hull = (ops.maximum(a[..., 2], b[..., 2]) - ops.minimum(a[..., 0], b[..., 0])) * \
           (ops.maximum(a[..., 3], b[..., 3]) - ops.minimum(a[..., 1], b[..., 1]))
    return iou - (hull - union) / (hull + _EPS)


def giou_loss(pred_xyxy, true_xyxy):
    """1 - GIoU: 0 for identical boxes, up to 2 for distant ones; gradients even without overlap."""
    return 1.0 - box_iou(pred_xyxy, true_xyxy, generalized=True)


def smooth_l1(pred, true, beta: float = 0.1):
    """Huber / smooth L1 summed over the last axis; quadratic below `beta` (in target units)."""
    d = ops.abs(pred - true)
    return ops.sum(ops.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), axis=-1)
