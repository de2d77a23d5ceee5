"""U-Net (Ronneberger, Fischer, Brox 2015; seed 003): a contracting path of (conv 3x3 -> ReLU) x 2
-> max pool 2x2 levels that double the width, a bottleneck, and an expanding path of up-conv 2x2 that
halves the width -> concatenation with the cropped encoder map of the same level -> (conv 3x3 -> ReLU)
x 2; a 1x1 conv gives the per-pixel class scores.

Two forms:
- `padding: valid` (default, the paper): 572x572 -> 388x388; encoder maps are centre-cropped before
  the concatenation. Only some input sizes work (every map before a pool must be even); a wrong size
  raises a ValueError naming the nearest sizes that work (`valid_input_sizes`).
- `padding: same`: output size = input size, for inputs divisible by 2**depth.

`decoder: transpose` is the paper's up-conv (Conv2DTranspose 2x2/2); `decoder: upsample` is bilinear
upsampling followed by a 2x2 conv with the same parameter count. `batch_norm: true` adds batch norm
after every 3x3 conv (not in the paper; it trains much faster on small data). With 1 input channel,
2 classes, depth 4 and base width 64 the network has 31,030,658 parameters in either form
(counted by hand in tests/dense/test_unet.py).

include_top=True: per-pixel softmax over `num_classes` (B, H', W', num_classes).
include_top=False: {"enc1".."enc{depth}", "bottleneck", "decoder"} (shallow to deep; "decoder" is
the last expanding level at full output resolution, width `base_width`).
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES


def valid_output_size(size: int, depth: int = 4) -> int | None:
    """Output side of the valid-padding U-Net for an input side, or None when the size does not work.

    Example:
        >>> valid_output_size(572)
        388
        >>> valid_output_size(570) is None
        True
    """
    s = size
    for _ in range(depth):
        s -= 4
        if s <= 0 or s % 2:
            return None
        s //= 2
    s -= 4
    if s <= 0:
        return None
    for _ in range(depth):
        s = 2 * s - 4
        if s <= 0:
            return None
    return s


def valid_input_sizes(near: int, depth: int = 4, count: int = 2) -> list[int]:
    """The `count` input sides that work with valid padding closest to `near` (ascending)."""
    found = [s for s in range(1, max(near * 2, 600) + 2 ** (depth + 2)) if valid_output_size(s, depth)]
    return sorted(sorted(found, key=lambda s: (abs(s - near), s))[:count])


def _check_size(input_shape, depth: int, padding: str) -> None:
    h, w = input_shape[:2]
    if padding == "same":
        m = 2 ** depth
        if h % m or w % m:
            raise ValueError(f"U-Net with padding 'same' and depth {depth} needs height and width "
                             f"divisible by {m}, got {h}x{w}")
        return
    for side in (h, w):
        if valid_output_size(side, depth) is None:
            sizes = valid_input_sizes(side, depth)
            raise ValueError(f"U-Net with padding 'valid' and depth {depth} cannot take a side of "
                             f"{side}; sizes that work near it: {', '.join(map(str, sizes))} (or use "
                             f"padding: same with a multiple of {2 ** depth})")


def _double_conv(x, filters, *, name, padding, batch_norm):
    from visiontk.architectures._blocks import conv_bn_relu, conv_relu

    for i in (1, 2):
        if batch_norm:
            x = conv_bn_relu(x, filters, 3, name=f"{name}_{i}", padding=padding)
        else:
            x = conv_relu(x, filters, 3, name=f"{name}_{i}_conv", padding=padding)
    return x


def _crop_to(skip, target, name):
    """Centre-crop `skip` to the spatial size of `target` (the paper's copy-and-crop)."""
    from keras import layers

    dh = skip.shape[1] - target.shape[1]
    dw = skip.shape[2] - target.shape[2]
    if dh == 0 and dw == 0:
        return skip
    return layers.Cropping2D(((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)), name=name)(skip)


@ARCHITECTURES.register("unet", family="unet", top="pixels", small_input=(188, 188, 3),
                        small_kwargs=dict(base_width=4, depth=2))
def build_unet(input_shape=(572, 572, 1), *, include_top=True, num_classes=2, name="unet", depth=4,
               base_width=64, padding="valid", decoder="transpose", batch_norm=False, dropout=None):
    """The U-Net; see the module docstring for the forms and outputs.

    Example:
        >>> m = build_unet((572, 572, 1), num_classes=2)          # doctest: +SKIP
        >>> m.output_shape, m.count_params()                      # doctest: +SKIP
        ((None, 388, 388, 2), 31030658)
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import HE, features_model, image_input

    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    if decoder not in ("transpose", "upsample"):
        raise ValueError(f"decoder must be 'transpose' or 'upsample', got {decoder!r}")
    if not 1 <= int(depth) <= 6:
        raise ValueError(f"depth must be between 1 and 6, got {depth}")
    _check_size(input_shape, depth, padding)
    inputs = image_input(input_shape)
    x, skips, feats = inputs, [], {}
    for level in range(depth):
        x = _double_conv(x, base_width * 2 ** level, name=f"enc{level + 1}", padding=padding,
                         batch_norm=batch_norm)
        skips.append(x)
        feats[f"enc{level + 1}"] = x
        x = layers.MaxPooling2D(2, name=f"pool{level + 1}")(x)
    x = _double_conv(x, base_width * 2 ** depth, name="bottleneck", padding=padding,
                     batch_norm=batch_norm)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    feats["bottleneck"] = x
    for level in reversed(range(depth)):
        width = base_width * 2 ** level
        tag = f"dec{level + 1}"
        if decoder == "transpose":
            x = layers.Conv2DTranspose(width, 2, strides=2, kernel_initializer=HE, name=f"{tag}_upconv")(x)
        else:
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{tag}_upsample")(x)
            x = layers.Conv2D(width, 2, padding="same", kernel_initializer=HE, name=f"{tag}_upconv")(x)
        skip = _crop_to(skips[level], x, f"{tag}_crop")
        x = layers.Concatenate(name=f"{tag}_concat")([skip, x])
        x = _double_conv(x, width, name=tag, padding=padding, batch_norm=batch_norm)
    feats["decoder"] = x
    if include_top:
        out = layers.Conv2D(num_classes, 1, activation="softmax", dtype="float32", name="scores")(x)
        return keras.Model(inputs, out, name=name)
    return features_model(inputs, feats, name)
