"""Task-aligned assignment (TOOD, Feng et al. 2021; YOLOv8): which anchors learn which object.

For every object, the candidate anchors are those whose centre lies inside its box or within
`radius` strides of its centre (the second rule gives objects smaller than a stride a candidate at
every level). Among them, the `topk` anchors with the highest alignment score^alpha x IoU^beta
(score: the anchor's predicted probability of the object's class; IoU: of its predicted box with
the object) become positives; an anchor claimed by several objects keeps the one its box overlaps
most. Each positive's class target is its alignment, rescaled so that an object's best anchor gets
the best IoU any of its anchors reaches: the classifier learns to score boxes by their quality.

Keras ops only, no gradient: the assignment is recomputed from the predictions at every step.
"""

from __future__ import annotations

from keras import ops

from visiontk.tasks.detection.box_ops import box_iou

_EPS = 1e-9


def candidates(gt_boxes, centres, strides, radius: float):
    """(B, K, A) 1.0 where anchor a may learn object k: centre inside the box or near its centre.

    Args:
        gt_boxes: (B, K, 4) normalised x1, y1, x2, y2. centres, strides: (A, 2) normalised.
    """
    ax, ay = centres[None, None, :, 0], centres[None, None, :, 1]
    x1, y1 = gt_boxes[..., 0:1], gt_boxes[..., 1:2]
    x2, y2 = gt_boxes[..., 2:3], gt_boxes[..., 3:4]
    inside = (ax > x1) & (ax < x2) & (ay > y1) & (ay < y2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    near = (ops.abs(ax - cx) < radius * strides[None, None, :, 0]) & \
           (ops.abs(ay - cy) < radius * strides[None, None, :, 1])
    return ops.cast(inside | near, "float32")


def assign(pred_boxes, pred_scores, gt_boxes, gt_classes, centres, strides, *, topk: int = 10,
           alpha: float = 0.5, beta: float = 6.0, radius: float = 1.0):
    """Targets for every anchor of a batch.

    Args:
        pred_boxes: (B, A, 4) predicted boxes. pred_scores: (B, A, C) class probabilities.
        gt_boxes: (B, K, 4) padded objects. gt_classes: (B, K), -1 for padding rows.
        centres, strides: (A, 2) anchor centres and strides, normalised (multiscale.anchors_of).

    Returns:
        dict: `positive` (B, A) 0/1, `boxes` (B, A, 4) the assigned object's box, `scores`
        (B, A, C) the class targets (0 except the assigned class of a positive), `object` (B, A)
        the index of the assigned object.
    """
    pred_boxes = ops.stop_gradient(ops.cast(pred_boxes, "float32"))
    pred_scores = ops.stop_gradient(ops.cast(pred_scores, "float32"))
    gt_boxes = ops.cast(gt_boxes, "float32")
    gt_classes = ops.cast(gt_classes, "int32")
    num_classes = pred_scores.shape[-1]
    num_anchors = pred_boxes.shape[1]
    k = gt_boxes.shape[1]
    wh = gt_boxes[..., 2:4] - gt_boxes[..., 0:2]
    valid = ops.cast((gt_classes >= 0) & (wh[..., 0] > 0) & (wh[..., 1] > 0), "float32")   # (B, K)
    onehot = ops.one_hot(ops.maximum(gt_classes, 0), num_classes)                           # (B, K, C)
    score = ops.matmul(onehot, ops.transpose(pred_scores, (0, 2, 1)))                       # (B, K, A)
    iou = ops.maximum(box_iou(gt_boxes[:, :, None, :], pred_boxes[:, None, :, :]), 0.0)     # (B, K, A)
    cand = candidates(gt_boxes, centres, strides, radius) * valid[..., None]
    align = ops.power(score + _EPS, alpha) * ops.power(iou, beta) * cand
    # top-k per object; ties at 0 (early training: no overlap yet) fall to candidates only
    _, idx = ops.top_k(align + cand * _EPS, min(topk, num_anchors))
    chosen = ops.sum(ops.one_hot(idx, num_anchors), axis=-2)                                # (B, K, A)
    pos = ops.minimum(chosen, 1.0) * cand
    # an anchor claimed by several objects keeps the one with the highest IoU
    claims = ops.sum(pos, axis=1, keepdims=True)                                            # (B, 1, A)
    best = ops.transpose(ops.one_hot(ops.argmax(iou * pos - (1.0 - pos), axis=1), k), (0, 2, 1))
    pos = ops.where(claims > 1.0, best * pos, pos)
    positive = ops.minimum(ops.sum(pos, axis=1), 1.0)                                       # (B, A)
    obj = ops.argmax(pos, axis=1)                                                           # (B, A)
    boxes = ops.take_along_axis(gt_boxes, ops.repeat(obj[..., None], 4, axis=-1), axis=1)
    classes = ops.take_along_axis(ops.maximum(gt_classes, 0), obj, axis=1)
    # class target: alignment normalised per object to its best IoU among its positives
    align_pos = align * pos
    max_align = ops.max(align_pos, axis=-1, keepdims=True)
    max_iou = ops.max(iou * pos, axis=-1, keepdims=True)
    quality = ops.max(align_pos * max_iou / (max_align + _EPS), axis=1)                     # (B, A)
    scores = ops.one_hot(classes, num_classes) * (quality * positive)[..., None]
    return {"positive": positive, "boxes": boxes, "scores": scores, "object": obj}
