"""The `model.head` section of a detection recipe."""

from __future__ import annotations

from typing import Literal

from visiontk.recipe.fields import Fraction, NonNegFloat, NonNegInt, PositiveInt, Strict


class DetectionHead(Strict):
    grid: PositiveInt = 7                       # S: the output is S x S cells
    boxes_per_cell: PositiveInt = 2             # B
    convs: NonNegInt = 2                        # 3x3 conv-BN-leaky layers before the output
    filters: PositiveInt = 128                  # their width
    coord_weight: NonNegFloat = 5.0             # lambda_coord of the YOLO v1 loss
    noobj_weight: NonNegFloat = 0.5             # lambda_noobj
    class_weight: NonNegFloat = 1.0
    box_loss: Literal["mse", "smooth_l1", "giou"] = "mse"
    confidence_target: Literal["iou", "one"] = "iou"
    confidence_loss: Literal["mse", "bce"] = "mse"
    score_threshold: Fraction = 0.25            # decode: keep boxes scoring at least this
    iou_threshold: Fraction = 0.45              # decode: per-class NMS overlap
    max_detections: PositiveInt = 100
    eval_score_threshold: Fraction = 0.001      # mAP: keep nearly every box to trace the PR curve
    map_every: PositiveInt = 1                  # validation mAP every N epochs (val_map50)
