"""Single-object localization: box loss (smooth L1 and/or GIoU) + cross-entropy, and the box metrics
(mean IoU, share of boxes with IoU >= 0.5, class accuracy) on the (N, 4 + C) output.

Layout (targets and predictions): (cx, cy, w, h) relative to the image, then C class
probabilities (visiontk.runtime.localization).
"""

from __future__ import annotations

import keras
from keras import ops

from visiontk.tasks.detection.loss import box_iou, giou_loss, smooth_l1

__all__ = ["LocalizationLoss", "BoxIoU", "ClassAccuracy", "cxcywh_to_xyxy"]

_EPS = 1e-7


def cxcywh_to_xyxy(b):
    half = b[..., 2:4] / 2
    return ops.concatenate([b[..., 0:2] - half, b[..., 0:2] + half], axis=-1)


@keras.saving.register_keras_serializable(package="visiontk")
class LocalizationLoss(keras.losses.Loss):
    """box_weight x box loss + class_weight x cross-entropy, per image.

    Args:
        num_classes: C.
        box_loss: "smooth_l1" (on cx, cy, w, h; quadratic below 0.05 of the image side), "giou"
            (1 - GIoU) or "smooth_l1+giou" (their sum).

    Example:
        >>> LocalizationLoss(3, box_loss="giou")  # doctest: +SKIP
    """

    def __init__(self, num_classes, box_loss="smooth_l1+giou", box_weight=1.0, class_weight=1.0,
                 label_smoothing=0.0, name="localization_loss", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)
        if box_loss not in ("smooth_l1", "giou", "smooth_l1+giou"):
            raise ValueError(f"box_loss must be smooth_l1, giou or smooth_l1+giou, got {box_loss!r}")
        self.num_classes, self.box_loss = int(num_classes), box_loss
        self.box_weight, self.class_weight = float(box_weight), float(class_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        tb, pb = y_true[..., :4], y_pred[..., :4]
        box = 0.0
        if "smooth_l1" in self.box_loss:
            box = box + smooth_l1(pb, tb, beta=0.05) * 10.0      # ~ the GIoU loss's scale
        if "giou" in self.box_loss:
            box = box + giou_loss(cxcywh_to_xyxy(pb), cxcywh_to_xyxy(tb))
        target = y_true[..., 4:]
        if self.label_smoothing:          # as keras.losses.CategoricalCrossentropy smooths
            target = target * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        ce = -ops.sum(target * ops.log(ops.clip(y_pred[..., 4:], _EPS, 1.0)), axis=-1)
        return self.box_weight * box + self.class_weight * ce

    def get_config(self):
        return {"num_classes": self.num_classes, "box_loss": self.box_loss,
                "box_weight": self.box_weight, "class_weight": self.class_weight,
                "label_smoothing": self.label_smoothing, "name": self.name}


@keras.saving.register_keras_serializable(package="visiontk")
class BoxIoU(keras.metrics.Mean):
    """Mean IoU of predicted vs true boxes; with `threshold`, the share with IoU >= threshold."""

    def __init__(self, threshold=None, name="mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        iou = box_iou(cxcywh_to_xyxy(ops.cast(y_pred[..., :4], "float32")),
                      cxcywh_to_xyxy(ops.cast(y_true[..., :4], "float32")))
        if self.threshold is not None:
            iou = ops.cast(iou >= self.threshold, "float32")
        return super().update_state(iou, sample_weight)

    def get_config(self):
        return {"threshold": self.threshold, "name": self.name}


@keras.saving.register_keras_serializable(package="visiontk")
class ClassAccuracy(keras.metrics.Mean):
    """Class accuracy on the probabilities after the first `offset` channels."""

    def __init__(self, offset=4, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.offset = int(offset)

    def update_state(self, y_true, y_pred, sample_weight=None):
        hit = ops.argmax(y_true[..., self.offset:], axis=-1) == ops.argmax(y_pred[..., self.offset:], axis=-1)
        return super().update_state(ops.cast(hit, "float32"), sample_weight)

    def get_config(self):
        return {"offset": self.offset, "name": self.name}
