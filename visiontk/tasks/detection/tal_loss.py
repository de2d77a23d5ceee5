"""The multi-scale head's loss: task-aligned assignment, then a box loss (CIoU or GIoU) on the
positives and a class loss (BCE or focal) on every anchor, both weighted by the class targets
(YOLOv8 without its distribution focal loss: our boxes are plain distances).

Targets (from `Detection.encode`): (K, 5) per image = the padded objects, x1, y1, x2, y2 (normalised)
and the class (-1 = padding). Predictions: (A, 4 + C) as `visiontk.runtime.detection` reads them.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from visiontk.tasks.detection.assign import assign
from visiontk.tasks.detection.box_ops import box_iou

_EPS = 1e-7


def ciou(a, b):
    """Complete IoU (Zheng et al. 2020): IoU - centre distance^2 / enclosing diagonal^2 - alpha v."""
    iou = box_iou(a, b)
    cw = ops.maximum(a[..., 2], b[..., 2]) - ops.minimum(a[..., 0], b[..., 0])
    ch = ops.maximum(a[..., 3], b[..., 3]) - ops.minimum(a[..., 1], b[..., 1])
    diag = cw * cw + ch * ch + _EPS
    dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) / 2
    dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) / 2
    wa, ha = a[..., 2] - a[..., 0], ops.maximum(a[..., 3] - a[..., 1], _EPS)
    wb, hb = b[..., 2] - b[..., 0], ops.maximum(b[..., 3] - b[..., 1], _EPS)
    v = (4 / math.pi ** 2) * ops.square(ops.arctan(wb / hb) - ops.arctan(wa / ha))
    alpha = ops.stop_gradient(v / (v - iou + 1 + _EPS))
    return iou - (dx * dx + dy * dy) / diag - alpha * v


@keras.saving.register_keras_serializable(package="visiontk")
class TaskAlignedLoss(keras.losses.Loss):
    """Per image: (box_weight x box loss + class_weight x class loss) / sum of class targets.

    Args:
        input_shape: the model input (H, W, ...). strides: the head's levels. num_classes: C.
        topk, alpha, beta, radius: the assignment (visiontk.tasks.detection.assign).
        box_loss: "ciou" or "giou". class_loss: "bce" or "focal" (gamma 1.5, as YOLOv5's option).
    """

    def __init__(self, input_shape, strides, num_classes, topk=10, alpha=0.5, beta=6.0, radius=1.0,
                 box_loss="ciou", class_loss="bce", box_weight=7.5, class_weight=0.5,
                 name="task_aligned_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        from visiontk.tasks.detection.multiscale import anchors_of

        if box_loss not in ("ciou", "giou"):
            raise ValueError(f"box_loss must be ciou or giou, got {box_loss!r}")
        if class_loss not in ("bce", "focal"):
            raise ValueError(f"class_loss must be bce or focal, got {class_loss!r}")
        self.input_shape = [int(v) for v in input_shape]
        self.strides = [int(s) for s in strides]
        self.num_classes = int(num_classes)
        self.topk, self.alpha, self.beta, self.radius = int(topk), float(alpha), float(beta), float(radius)
        self.box_loss, self.class_loss = box_loss, class_loss
        self.box_weight, self.class_weight = float(box_weight), float(class_weight)
        self._centres, self._strides = anchors_of(self.input_shape, self.strides)

    def terms(self, y_true, y_pred) -> dict:
        """Per-image loss terms `box` and `class` (weights applied) and the positives' count."""
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        pred_boxes, probs = y_pred[..., :4], y_pred[..., 4:]
        t = assign(pred_boxes, probs, y_true[..., :4], y_true[..., 4], self._centres, self._strides,
                   topk=self.topk, alpha=self.alpha, beta=self.beta, radius=self.radius)
        target = t["scores"]
        norm = ops.maximum(ops.sum(target, axis=(1, 2)), 1.0)                          # (B,)
        p = ops.clip(probs, _EPS, 1.0 - _EPS)
        bce = -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))
        if self.class_loss == "focal":
            p_t = target * p + (1.0 - target) * (1.0 - p)
            bce = bce * ops.power(1.0 - p_t, 1.5)
        cls = ops.sum(bce, axis=(1, 2)) / norm
        overlap = ciou(pred_boxes, t["boxes"]) if self.box_loss == "ciou" else \
            box_iou(pred_boxes, t["boxes"], generalized=True)
        weight = ops.sum(target, axis=-1) * t["positive"]                               # (B, A)
        box = ops.sum((1.0 - overlap) * weight, axis=1) / norm
        return {"box": self.box_weight * box, "class": self.class_weight * cls,
                "positives": ops.sum(t["positive"], axis=1)}

    def call(self, y_true, y_pred):
        t = self.terms(y_true, y_pred)
        return t["box"] + t["class"]

    def get_config(self):
        return {"input_shape": self.input_shape, "strides": self.strides,
                "num_classes": self.num_classes, "topk": self.topk, "alpha": self.alpha,
                "beta": self.beta, "radius": self.radius, "box_loss": self.box_loss,
                "class_loss": self.class_loss, "box_weight": self.box_weight,
                "class_weight": self.class_weight, "name": self.name}
