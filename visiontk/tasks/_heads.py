"""Keras pieces of the box heads (imports Keras: used inside Task.build only)."""

from __future__ import annotations

import keras
from keras import layers

from visiontk.layers import Resize
from visiontk.tasks.base import pick_feature


def trim_backbone(backbone, feature: str | None, *, spatial: bool = True):
    """The backbone reduced to the one feature map the head uses (so deeper stages that nothing
    reads are neither computed nor reported as variables without gradients).

    Returns:
        (model named "backbone" with a single named output, that output's name)
    """
    out = backbone.output
    if not isinstance(out, dict):
        return backbone, feature
    chosen = pick_feature(out, feature, spatial=spatial)
    name = next(k for k, v in out.items() if v is chosen)
    if len(out) == 1:
        return backbone, name
    return keras.Model(backbone.inputs, {name: chosen}, name=backbone.name), name


def resize_to_grid(x, grid: int):
    """A feature map -> grid x grid: average pooling by an integer factor, else bilinear resize."""
    h, w = x.shape[1], x.shape[2]
    if (h, w) == (grid, grid):
        return x
    if h % grid == 0 and w % grid == 0 and h // grid == w // grid:
        return layers.AveragePooling2D(h // grid, name="head_pool")(x)
    return Resize(grid, grid, interpolation="bilinear", name="head_resize")(x)


def conv_bn_leaky(x, filters: int, *, name: str, kernel: int = 3):
    """3x3 conv -> batch norm -> leaky ReLU (0.1, as YOLO)."""
    from visiontk.architectures._blocks import BN_MOMENTUM

    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_initializer="he_normal",
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.LeakyReLU(0.1, name=f"{name}_leaky")(x)
