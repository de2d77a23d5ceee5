"""The `model.head` section of a segmentation recipe."""

from __future__ import annotations

from typing import Literal, Optional

from visiontk.recipe.fields import Fraction, NonNegFloat, NonNegInt, OpenFraction, PositiveInt, Strict


class BoxNamer(Strict):
    """Classes for the garment pixels from a detector's boxes (visiontk/tasks/segmentation/
    box_classes.py): where the segmenter says "object" and detected boxes cover the pixel, the
    boxes' class scores name it."""

    model: str                             # a detection run folder (model.keras) or a .keras file
    min_score: Fraction = 0.1              # boxes whose best class score is below it name nothing


class SegmentationHead(Strict):
    loss: Literal["ce", "dice", "ce_dice"] = "ce_dice"
    ce_weight: NonNegFloat = 1.0
    dice_weight: NonNegFloat = 1.0
    output: Literal["auto", "softmax", "sigmoid"] = "auto"   # auto: sigmoid for one class, else softmax
    threshold: OpenFraction = 0.5          # sigmoid: foreground when p >= threshold
    decoder_width: PositiveInt = 64        # channels of the decoder built for non-U-Net backbones
    samples: NonNegInt = 8                 # overlays written by evaluate
    # model.keras and the exports name the object pixels after a detector's boxes (softmax only)
    detector: Optional[BoxNamer] = None
