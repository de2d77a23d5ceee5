"""The `model.head` section of a localization recipe."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import Field

from visiontk.recipe.fields import NonNegFloat, NonNegInt, PositiveInt, Strict, between


class CropBackbone(Strict):
    """The crop stage's own architecture (`model.head.crop_backbone`): `name` defaults to
    model.backbone's, whose params these then update (e.g. only `widths`); `weights` a
    .weights.h5 file (or none / imagenet where the architecture has them)."""

    name: Optional[str] = None
    weights: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)


class LocalizationHead(Strict):
    box_loss: Literal["smooth_l1", "giou", "smooth_l1+giou"] = "smooth_l1+giou"
    box_weight: NonNegFloat = 1.0
    class_weight: NonNegFloat = 1.0
    filters: PositiveInt = 32            # 1x1 conv before flattening the feature map
    hidden: Optional[PositiveInt] = 256  # dense layer (ReLU) before the outputs; null: none
    top_k: PositiveInt = 3
    # how the class branch pools the feature map: its mean (a classifier's global pooling), its
    # maximum, or a learned softmax weighting over positions (a 1x1 conv scores each position)
    class_pool: Literal["avg", "max", "attention"] = "avg"
    # two stages: crop_size > 0 names the object from a square crop around the predicted box,
    # resampled to crop_size x crop_size and read by a second copy of the backbone (model.init_from
    # restores both copies); 0 reads the class from the whole image's feature map
    crop_size: NonNegInt = 0
    crop_margin: Annotated[float, between(1.0, 4.0)] = 1.15   # the crop's side / the box's longer side
    # the crop stage's architecture when it should differ from model.backbone (say, wider: it reads
    # a small crop); its weights then come from its own `weights` file, not from model.init_from
    crop_backbone: Optional[CropBackbone] = None
