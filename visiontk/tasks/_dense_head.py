"""Full-resolution feature maps for dense heads (segmentation, denoising) from any backbone.

A backbone's own decoder output (a feature named "decoder" (U-Net) or "decoded" (autoencoders), at the
input's resolution, or at the centre of it for valid-padding nets) is used as it is, and so is any
map at more than half the input's resolution. Otherwise a light U-Net-style decoder climbs from the
chosen map to the input size: x2 up-conv (Conv2DTranspose 2x2/2) -> concatenation with the backbone
map of that size when there is one (the skip) -> conv 3x3 + BN + ReLU, and a final bilinear resize
when the ratio is not a power of two. Imports Keras (underscore module: not auto-imported).
"""

from __future__ import annotations

import keras
from keras import layers

from visiontk.architectures._blocks import HE, conv_bn_relu
from visiontk.errors import ModelError
from visiontk.layers import Resize
from visiontk.tasks.base import pick_feature

OWN_DECODERS = ("decoder", "decoded")        # full-resolution outputs of U-Net and the autoencoders


def full_resolution(features, input_shape, *, feature: str | None = None, width: int = 64,
                    name: str = "head", stride: int = 1):
    """A (B, H', W', C) map with H' close to the input height / `stride` (equal except for
    valid-padding nets).

    Args:
        features: the backbone's outputs (dict name -> tensor, shallow to deep) or one tensor.
        input_shape: the model input (H, W, C).
        feature: the map to start from (`model.feature`); default the deepest spatial one.
        width: channels of the decoder's convolutions.
        name: prefix of the decoder's layer names.
        stride: the output's stride (1: the input's resolution; 8: a map 8 times smaller, as a
            density head wants); the decoder stops climbing there.
    """
    x = pick_feature(features, feature, spatial=True)
    chosen = feature
    if chosen is None and isinstance(features, dict):
        chosen = next((k for k, v in reversed(features.items()) if v is x), None)
    if len(x.shape) != 4:
        raise ModelError(f"model.feature: '{feature}' is a vector {tuple(x.shape)}; a dense head needs "
                         f"a spatial map (B, H, W, C)")
    h, w = input_shape[0] // stride, input_shape[1] // stride
    if chosen in OWN_DECODERS or (x.shape[1] * 2 > h and x.shape[2] * 2 > w):
        return x                                         # already full resolution
    skips = {}
    if isinstance(features, dict):
        for v in features.values():
            if len(v.shape) == 4 and v is not x:
                skips[(v.shape[1], v.shape[2])] = v      # the deepest map of each size wins
    step = 0
    while x.shape[1] * 2 <= h and x.shape[2] * 2 <= w:
        step += 1
        x = layers.Conv2DTranspose(width, 2, strides=2, kernel_initializer=HE,
                                   name=f"{name}_up{step}")(x)
        skip = skips.get((x.shape[1], x.shape[2]))
        if skip is not None:
            x = layers.Concatenate(name=f"{name}_skip{step}")([x, skip])
        x = conv_bn_relu(x, width, 3, name=f"{name}_dec{step}")
    if (x.shape[1], x.shape[2]) != (h, w):
        x = Resize(h, w, interpolation="bilinear", name=f"{name}_resize")(x)
        x = conv_bn_relu(x, width, 3, name=f"{name}_dec_final")
    return x


def image_input(input_shape):
    return keras.Input(tuple(input_shape), name="image")
