"""The `model.head` section of a detection recipe: `type: grid` (the seed's YOLO v1 grid, the
default) or `type: multiscale` (a feature pyramid with an anchor-free head per level)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from visiontk.recipe.fields import (Fraction, NonNegFloat, NonNegInt, PositiveFloat, PositiveInt,
                                    Strict, between)


class CropClassifier(Strict):
    """The grid head's second stage (visiontk/tasks/detection/rescore.py): a classification model
    trained on crops of the objects (`data.crops`) names each of the `top_k` most confident boxes."""

    model: str                                  # its run folder (model.keras) or a .keras file
    top_k: PositiveInt = 32                     # boxes per image read by the classifier
    weight: Fraction = 0.5                      # class p ~ detector^(1 - weight) x classifier^weight
    margin: Optional[Annotated[float, between(1.0, 4.0)]] = None   # default: the run's data.crops
    flip: bool = False                          # average the classifier over each crop and its mirror


class DetectionHead(Strict):
    """The grid head (YOLO v1, seed 003): one S x S grid, B boxes and one class per cell."""

    type: Literal["grid", "multiscale"] = "grid"
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
    eval_multi_label: bool = True               # mAP: a box once per class reaching that threshold
    map_every: PositiveInt = 1                  # validation mAP every N epochs (val_map50)
    # a second stage that names the boxes: model.keras and the exports then output anchor-free rows
    crop_classifier: Optional[CropClassifier] = None

    @classmethod
    def variant(cls, raw: dict) -> type[Strict]:
        """The head class a raw `model.head` mapping is validated against (its `type`)."""
        return MultiscaleHead if isinstance(raw, dict) and raw.get("type") == "multiscale" else cls


class MultiscaleHead(Strict):
    """Anchor-free multi-scale head (YOLOv8 / TOOD style): an FPN (+ PAN) neck over the backbone's
    stride 8, 16 and 32 maps, a decoupled box / class head per level, task-aligned assignment."""

    type: Literal["multiscale"] = "multiscale"
    strides: list[PositiveInt] = [8, 16, 32]    # backbone levels by stride (deepest map of each)
    neck: Literal["fpn", "pan"] = "pan"         # top-down only, or top-down then bottom-up
    neck_filters: PositiveInt = 64              # width of every neck level
    convs: NonNegInt = 2                        # 3x3 conv-BN-SiLU layers in each head branch
    filters: PositiveInt = 64                   # their width
    topk: PositiveInt = 10                      # assignment: anchors per object (before conflicts)
    alpha: NonNegFloat = 0.5                    # alignment = class score^alpha x IoU^beta
    beta: NonNegFloat = 6.0
    centre_radius: PositiveFloat = 1.0          # candidates: inside the box or within r strides of its centre
    box_loss: Literal["ciou", "giou"] = "ciou"
    class_loss: Literal["bce", "focal"] = "bce"
    box_weight: NonNegFloat = 7.5               # YOLOv8's box gain
    class_weight: NonNegFloat = 0.5             # YOLOv8's cls gain
    score_threshold: Fraction = 0.25
    iou_threshold: Fraction = 0.6
    max_detections: PositiveInt = 100
    eval_score_threshold: Fraction = 0.001
    eval_multi_label: bool = True
    map_every: PositiveInt = 1
