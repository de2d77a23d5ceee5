"""Inception v3 (Szegedy et al. 2015; seed 000) with keras.applications.InceptionV3's layout.

The network is a table (`STEM`, `BLOCKS`): a stem of plain convs and two max pools, then eleven
mixed blocks of parallel branches concatenated along the channels: three 35x35 blocks (mixed0-2,
factorised 5x5 and double 3x3), a grid reduction (mixed3), four 17x17 blocks with 1x7 / 7x1
factorised convs (mixed4-7), a grid reduction (mixed8) and two 8x8 blocks with split 1x3 / 3x1
branches (mixed9-10); global average pooling and a softmax follow.

Conventions (those of keras.applications, so the counts are equal): every conv is conv (no bias)
-> BatchNormalization(scale=False, epsilon=1e-3) -> ReLU; stride-2 convs and the stem's first,
second, fourth and fifth convs use 'valid' padding, the rest 'same'; the average pools are 3x3/1
'same', the max pools 3x3/2 'valid'; no auxiliary classifier, no dropout before the softmax.
Parameters with 1000 classes: 23,851,784 (Keras counts the moving mean and variance: 23,817,352 of
them trainable), equal to keras.applications.InceptionV3(weights=None) (tested). The layer names
differ from Keras' generated ones (conv2d_57...): ours are stable, e.g. `mixed4_b2_3_conv` (block,
branch, position); the concatenations are `mixed0`..`mixed10` as in Keras. BN momentum is the
project's (0.9) rather than Keras' 0.99; `width` scales every conv (narrow test copies).

The smallest input is 75x75 (Keras' minimum; 299x299 in the paper). include_top=False gives
{"stem" (192 channels, stride 4, before the second pool), "mixed2" (stride 8), "mixed7" (16),
"mixed10" (32)}.
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES

KERAS_PARAMS = 23851784     # keras.applications.InceptionV3(weights=None, classes=1000).count_params()

# A conv is (filters, kernel_h, kernel_w, stride); stride 2 means 'valid' padding. "avg" is a 3x3/1
# average pool, "max" a 3x3/2 max pool; ("split", f) ends a branch with a 1x3 and a 3x1 conv of f
# filters each, concatenated.
STEM = ((32, 3, 3, 2), (32, 3, 3, "valid"), (64, 3, 3, 1), "max", (80, 1, 1, "valid"),
        (192, 3, 3, "valid"), "max")


def _a(pool_proj):          # 35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1
    return (((64, 1, 1, 1),), ((48, 1, 1, 1), (64, 5, 5, 1)),
            ((64, 1, 1, 1), (96, 3, 3, 1), (96, 3, 3, 1)), ("avg", (pool_proj, 1, 1, 1)))


def _c(c):                  # 17x17: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> (7x1 -> 1x7) x 2 | pool -> 1x1
    return (((192, 1, 1, 1),), ((c, 1, 1, 1), (c, 1, 7, 1), (192, 7, 1, 1)),
            ((c, 1, 1, 1), (c, 7, 1, 1), (c, 1, 7, 1), (c, 7, 1, 1), (192, 1, 7, 1)),
            ("avg", (192, 1, 1, 1)))


_E = (((320, 1, 1, 1),), ((384, 1, 1, 1), ("split", 384)),
      ((448, 1, 1, 1), (384, 3, 3, 1), ("split", 384)), ("avg", (192, 1, 1, 1)))
BLOCKS = (
    _a(32), _a(64), _a(64),
    (((384, 3, 3, 2),), ((64, 1, 1, 1), (96, 3, 3, 1), (96, 3, 3, 2)), ("max",)),     # mixed3
    _c(128), _c(160), _c(160), _c(192),
    (((192, 1, 1, 1), (320, 3, 3, 2)),                                                 # mixed8
     ((192, 1, 1, 1), (192, 1, 7, 1), (192, 7, 1, 1), (192, 3, 3, 2)), ("max",)),
    _E, _E,
)
FEATURES = {"stem": "stem5", "mixed2": "mixed2", "mixed7": "mixed7", "mixed10": "mixed10"}


def conv_bn(x, filters, kh, kw, stride=1, *, name, padding=None):
    """Conv (no bias) -> BatchNorm(scale=False) -> ReLU, Keras' InceptionV3 conv2d_bn."""
    from keras import layers

    from visiontk.architectures._blocks import BN_MOMENTUM, HE

    if padding is None:
        padding = "valid" if stride == 2 else "same"
    x = layers.Conv2D(filters, (kh, kw), strides=stride, padding=padding, use_bias=False,
                      kernel_initializer=HE, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(scale=False, epsilon=1e-3, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _op(x, op, name, width):
    """One table entry: a pool, a conv (filters, kh, kw, stride | 'valid') or a split."""
    from keras import layers

    from visiontk.architectures.alexnet import scaled

    if op == "avg":
        return layers.AveragePooling2D(3, 1, padding="same", name=f"{name}_pool")(x)
    if op == "max":
        return layers.MaxPooling2D(3, 2, name=f"{name}_pool")(x)
    if op[0] == "split":
        f = scaled(op[1], width)
        return layers.Concatenate(name=f"{name}_split")([conv_bn(x, f, 1, 3, name=f"{name}_1x3"),
                                                         conv_bn(x, f, 3, 1, name=f"{name}_3x1")])
    filters, kh, kw, stride = op
    padding = "valid" if stride == "valid" else None
    return conv_bn(x, scaled(filters, width), kh, kw, 1 if stride == "valid" else stride, name=name,
                   padding=padding)


def build_inception_v3(input_shape=(299, 299, 3), *, width=1.0, include_top=True, num_classes=1000,
                       name="inception_v3"):
    """Inception v3 from the `STEM` and `BLOCKS` tables.

    Args:
        input_shape: (H, W, C), at least 75x75 (299x299 in the paper).
        width: multiplier of every conv width (1.0: the paper).
        include_top: global average pool + softmax, or the named feature maps.
        num_classes: outputs of the softmax layer.

    Example:
        >>> from visiontk.catalog import ARCHITECTURES, populate
        >>> populate()
        >>> ARCHITECTURES.get("inception_v3")().count_params()
        23851784
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import classifier, features_model, image_input

    h, w = input_shape[:2]
    if (h is not None and h < 75) or (w is not None and w < 75):
        raise ValueError(f"Inception v3 needs an input of at least 75x75, got {h}x{w}")
    inputs = image_input(input_shape)
    x, outputs, convs, pools = inputs, {}, 0, 0
    for op in STEM:
        if op == "max":
            pools += 1
            x = _op(x, op, f"stem_pool{pools}", width)
        else:
            convs += 1
            x = _op(x, op, f"stem{convs}", width)
            outputs[f"stem{convs}"] = x
    for i, branches in enumerate(BLOCKS):
        ys = []
        for b, branch in enumerate(branches, start=1):
            y = x
            for j, op in enumerate(branch, start=1):
                y = _op(y, op, f"mixed{i}_b{b}_{j}", width)
            ys.append(y)
        x = outputs[f"mixed{i}"] = layers.Concatenate(name=f"mixed{i}")(ys)
    if include_top:
        return keras.Model(inputs, classifier(x, num_classes), name=name)
    return features_model(inputs, {k: outputs[v] for k, v in FEATURES.items()}, name)


ARCHITECTURES.add("inception_v3", build_inception_v3, family="inception", small_input=(75, 75, 3),
                  small_kwargs=dict(width=0.125),
                  paper=dict(input_shape=(299, 299, 3), num_classes=1000, rows=[],
                             total_params=KERAS_PARAMS,
                             source="keras.applications.InceptionV3(weights=None), same conventions "
                                    "(seed 000 names Inception v3)"))
