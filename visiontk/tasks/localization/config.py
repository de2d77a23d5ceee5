"""The `model.head` section of a localization recipe."""

from __future__ import annotations

from typing import Literal, Optional

from visiontk.recipe.fields import NonNegFloat, PositiveInt, Strict


class LocalizationHead(Strict):
    box_loss: Literal["smooth_l1", "giou", "smooth_l1+giou"] = "smooth_l1+giou"
    box_weight: NonNegFloat = 1.0
    class_weight: NonNegFloat = 1.0
    filters: PositiveInt = 32            # 1x1 conv before flattening the feature map
    hidden: Optional[PositiveInt] = 256  # dense layer (ReLU) before the outputs; null: none
    top_k: PositiveInt = 3
