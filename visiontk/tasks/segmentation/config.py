"""The `model.head` section of a segmentation recipe."""

from __future__ import annotations

from typing import Literal

from visiontk.recipe.fields import NonNegFloat, NonNegInt, OpenFraction, PositiveInt, Strict


class SegmentationHead(Strict):
    loss: Literal["ce", "dice", "ce_dice"] = "ce_dice"
    ce_weight: NonNegFloat = 1.0
    dice_weight: NonNegFloat = 1.0
    output: Literal["auto", "softmax", "sigmoid"] = "auto"   # auto: sigmoid for one class, else softmax
    threshold: OpenFraction = 0.5          # sigmoid: foreground when p >= threshold
    decoder_width: PositiveInt = 64        # channels of the decoder built for non-U-Net backbones
    samples: NonNegInt = 8                 # overlays written by evaluate
