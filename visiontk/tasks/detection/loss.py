"""The detection losses: the YOLO v1 grid loss here, the multi-scale head's TaskAlignedLoss in
tal_loss.py, the box arithmetic they and the localization head share in box_ops.py (Keras 3 ops).

Targets (one per image, from `Detection.encode`): (S, S, 5 + C) = (object, x, y, sqrt(w), sqrt(h),
one-hot class) of the object whose centre falls in the cell; predictions: (S, S, B * 5 + C) laid out
as in `visiontk.runtime.detection`.
"""

from __future__ import annotations

import keras
from keras import ops

from visiontk.tasks.detection.box_ops import box_iou, giou_loss, smooth_l1
from visiontk.tasks.detection.tal_loss import TaskAlignedLoss  # registers the multi-scale loss

__all__ = ["TaskAlignedLoss", "YoloLoss", "box_iou", "giou_loss", "smooth_l1"]

_EPS = 1e-7


def grid_to_xyxy(cell_boxes, grid: int):
    """(..., S, S, [B,] 4) cell-relative (x, y, sqrt w, sqrt h) -> image-normalised x1, y1, x2, y2.

    `cell_boxes` has the grid axes at -4, -3 when a predictor axis is present (rank 5) and at -3,
    -2 otherwise (rank 4)."""
    idx = ops.arange(grid, dtype="float32")
    with_b = len(cell_boxes.shape) == 5
    cols = ops.reshape(idx, (1, 1, grid, 1) if with_b else (1, 1, grid))
    rows = ops.reshape(idx, (1, grid, 1, 1) if with_b else (1, grid, 1))
    cx = (cols + cell_boxes[..., 0]) / grid
    cy = (rows + cell_boxes[..., 1]) / grid
    w, h = ops.square(cell_boxes[..., 2]), ops.square(cell_boxes[..., 3])
    return ops.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


@keras.saving.register_keras_serializable(package="visiontk")
class YoloLoss(keras.losses.Loss):
    """YOLO v1 (Redmon et al. 2016) sum-of-squares loss, per image, summed over the grid.

    For each cell holding an object, its predictor whose box overlaps the object most is
    "responsible": it pays `coord_weight` x the box loss and (confidence - target)^2, where target
    is that IoU (`confidence_target: iou`, as in the paper) or 1. Every other predictor pays
    `noobj_weight` x confidence^2. The cell's class probabilities pay cross-entropy (`class_weight`).
    `confidence_loss: bce` replaces both squared confidence errors by binary cross-entropy (as
    YOLO v2/v3 do): sigmoid outputs saturated on the wrong side then still get a full gradient.

    Args:
        grid: S. boxes_per_cell: B. num_classes: C.
        coord_weight: lambda_coord (paper: 5). noobj_weight: lambda_noobj (paper: 0.5).
        box_loss: "mse" (paper: squared error on x, y, sqrt w, sqrt h), "smooth_l1" (on the
            same four numbers) or "giou" (1 - GIoU of the decoded boxes).
        confidence_loss: "mse" (paper) or "bce".

    Example:
        >>> loss = YoloLoss(grid=7, boxes_per_cell=2, num_classes=3)  # doctest: +SKIP
    """

    def __init__(self, grid, boxes_per_cell, num_classes, coord_weight=5.0, noobj_weight=0.5,
                 class_weight=1.0, box_loss="mse", confidence_target="iou", confidence_loss="mse",
                 name="yolo_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.grid, self.boxes_per_cell, self.num_classes = int(grid), int(boxes_per_cell), int(num_classes)
        self.coord_weight, self.noobj_weight = float(coord_weight), float(noobj_weight)
        self.class_weight = float(class_weight)
        if box_loss not in ("mse", "smooth_l1", "giou"):
            raise ValueError(f"box_loss must be mse, smooth_l1 or giou, got {box_loss!r}")
        if confidence_target not in ("iou", "one"):
            raise ValueError(f"confidence_target must be iou or one, got {confidence_target!r}")
        if confidence_loss not in ("mse", "bce"):
            raise ValueError(f"confidence_loss must be mse or bce, got {confidence_loss!r}")
        self.box_loss, self.confidence_target = box_loss, confidence_target
        self.confidence_loss = confidence_loss

    def terms(self, y_true, y_pred) -> dict:
        """Per-image loss terms: coord, object, noobject, class (weights applied)."""
        s, b = self.grid, self.boxes_per_cell
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        obj = y_true[..., 0]                                             # (N, S, S)
        tbox = y_true[..., 1:5]
        tcls = y_true[..., 5:]
        pred = ops.reshape(y_pred[..., :5 * b], (-1, s, s, b, 5))
        conf, pbox = pred[..., 0], pred[..., 1:5]                        # (N,S,S,B), (N,S,S,B,4)
        probs = y_pred[..., 5 * b:]
        p_xyxy = grid_to_xyxy(pbox, s)
        t_xyxy = grid_to_xyxy(tbox, s)[..., None, :]
        iou = ops.stop_gradient(box_iou(p_xyxy, t_xyxy))                 # (N, S, S, B)
        resp = ops.one_hot(ops.argmax(iou, axis=-1), b) * obj[..., None]
        if self.box_loss == "mse":
            box = ops.sum(ops.square(pbox - tbox[..., None, :]), axis=-1)
        elif self.box_loss == "smooth_l1":
            box = smooth_l1(pbox, tbox[..., None, :])
        else:
            box = giou_loss(p_xyxy, t_xyxy)
        target = iou if self.confidence_target == "iou" else ops.ones_like(iou)
        per_image = lambda t: ops.sum(ops.reshape(t, (ops.shape(t)[0], -1)), axis=-1)  # noqa: E731
        ce = -ops.sum(tcls * ops.log(ops.clip(probs, _EPS, 1.0)), axis=-1)
        if self.confidence_loss == "bce":
            c = ops.clip(conf, _EPS, 1.0 - _EPS)
            err_obj = -(target * ops.log(c) + (1.0 - target) * ops.log(1.0 - c))
            err_obj = err_obj + target * ops.log(ops.clip(target, _EPS, 1.0)) + \
                (1.0 - target) * ops.log(ops.clip(1.0 - target, _EPS, 1.0))   # 0 when conf == target
            err_noobj = -ops.log(1.0 - c)
        else:
            err_obj, err_noobj = ops.square(conf - target), ops.square(conf)
        return {"coord": self.coord_weight * per_image(resp * box),
                "object": per_image(resp * err_obj),
                "noobject": self.noobj_weight * per_image((1.0 - resp) * err_noobj),
                "class": self.class_weight * per_image(obj * ce)}

    def call(self, y_true, y_pred):
        t = self.terms(y_true, y_pred)
        return t["coord"] + t["object"] + t["noobject"] + t["class"]

    def get_config(self):
        return {"grid": self.grid, "boxes_per_cell": self.boxes_per_cell,
                "num_classes": self.num_classes, "coord_weight": self.coord_weight,
                "noobj_weight": self.noobj_weight, "class_weight": self.class_weight,
                "box_loss": self.box_loss, "confidence_target": self.confidence_target,
                "confidence_loss": self.confidence_loss, "name": self.name}
