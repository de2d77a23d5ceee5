"""AlexNet (Krizhevsky et al. 2012) and ZFNet (Zeiler & Fergus 2013) as in seed 001's tables.

AlexNet is the seed's single-tower table: 227x227x3 -> conv1 96 11x11/4 (55x55x96) -> max pool 3x3/2
(overlapping) -> conv2 256 5x5 pad 2 -> pool -> conv3-5 3x3 pad 1 (384, 384, 256) -> pool (6x6x256)
-> fc6, fc7 4096 (ReLU, dropout 0.5) -> fc8 softmax: 62,378,344 parameters with 1000 classes.
`lrn: true` adds the paper's local response normalisation (n=5, alpha=1e-4, beta=0.75, k=2) after
the ReLU of conv1 and conv2, before their pools; it has no weights, so the count is unchanged.

ZFNet (`zfnet`) changes conv1 to 7x7 stride 2, as the seed says; the rest follows the ZFNet paper's
Fig. 3 (the seed lists only the changes): 224x224x3 input, conv1 padded by 1 (110x110x96), conv2 5x5
stride 2 without padding (26x26x256), so fc6 again sees 6x6x256: 62,357,608 parameters. The seed's
variant (b) with conv3-5 = 512, 1024, 512 maps is `convs: [512, 1024, 512]` (107,627,624).

Conventions: the layer names are the table's (conv1, maxpool1, ..., fc8); max pools round up
(Caffe's ceil mode, `max_pool_ceil`): at the tables' sizes this equals Keras' floor rounding, and
small inputs keep a usable map. `width` scales every conv and fc width (small test models).
include_top=False gives {"conv1", "conv2", "conv3", "conv4", "conv5", "pool5"} (strides 4, 8, 16,
16, 16, 32 for AlexNet; ReLU'd, after LRN when on), without the input-size-dependent fc layers.

This module also holds the helpers the other classic nets share (`max_pool_ceil`, `scaled`, `fc_stack`).
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES

# seed 001, "AlexNet Network - Structural Details" (1000 classes); names are our layer names.
ALEXNET_TABLE = [
    ("conv1", [55, 55, 96], 34944),
    ("maxpool1", [27, 27, 96], 0),
    ("conv2", [27, 27, 256], 614656),
    ("maxpool2", [13, 13, 256], 0),
    ("conv3", [13, 13, 384], 885120),
    ("conv4", [13, 13, 384], 1327488),
    ("conv5", [13, 13, 256], 884992),
    ("maxpool5", [6, 6, 256], 0),
    ("fc6", [4096], 37752832),
    ("fc7", [4096], 16781312),
    ("fc8", [1000], 4097000),
]
ALEXNET_PAPER = dict(
    input_shape=(227, 227, 3), num_classes=1000,
    rows=[dict(name=n, output_shape=s, params=p) for n, s, p in ALEXNET_TABLE],
    total_params=62378344, source="seed 001 AlexNet table (AlexNet Network - Structural Details)")


def scaled(n: int, width: float) -> int:
    """`n` channels scaled by `width` (at least 1): narrow copies of a network for tests."""
    return max(1, int(round(n * width)))


def max_pool_ceil(x, name: str, pool: int = 3, stride: int = 2):
    """Max pool that rounds the output size up (Caffe / PyTorch ceil_mode), named `name`.

    Pads the bottom/right edge with zeros when the last window would be cut off; this equals
    ignoring the missing values because callers pool non-negative (ReLU'd) maps.

    Example:
        >>> import keras
        >>> x = keras.Input((14, 14, 8))
        >>> tuple(max_pool_ceil(x, "pool").shape[1:])        # floor rounding would give 6x6
        (7, 7, 8)
    """
    from keras import layers

    pads = []
    for n in x.shape[1:3]:
        if n is None or n < pool:
            pads.append(0)
            continue
        out = -(-(n - pool) // stride) + 1
        pads.append((out - 1) * stride + pool - n)
    if any(pads):
        x = layers.ZeroPadding2D(((0, pads[0]), (0, pads[1])), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(pool, stride, name=name)(x)


def fc_stack(x, units, *, width, dropout, start, fc_name="fc{}", dropout_name="drop{}"):
    """Flatten -> (Dense ReLU -> Dropout) per width in `units`, numbered from `start`."""
    from keras import layers

    from visiontk.architectures._blocks import HE

    x = layers.Flatten(name="flatten")(x)
    for i, n in enumerate(units, start=start):
        x = layers.Dense(scaled(n, width), activation="relu", kernel_initializer=HE,
                         name=fc_name.format(i))(x)
        if dropout:
            x = layers.Dropout(dropout, name=dropout_name.format(i))(x)
    return x


def _conv(x, filters, kernel, stride, pad, name):
    """The table's conv: 'same' when that is its padding, else explicit zero padding + valid."""
    from keras import layers

    from visiontk.architectures._blocks import conv_relu

    if stride == 1 and pad == kernel // 2:
        return conv_relu(x, filters, kernel, stride, name=name, padding="same")
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    return conv_relu(x, filters, kernel, stride, name=name, padding="valid")


def build_alexnet(input_shape=None, *, conv1=(96, 11, 4, 0), conv2=(256, 5, 1, 2),
                  convs=(384, 384, 256), fc=(4096, 4096), lrn=False, dropout=0.5, width=1.0,
                  include_top=True, num_classes=1000, name="alexnet", default_input=(227, 227, 3)):
    """AlexNet-family network: conv1, conv2 (filters, kernel, stride, pad), three 3x3 convs, two fc.

    Args:
        input_shape: (H, W, C); None gives `default_input` (227x227x3 AlexNet, 224x224x3 ZFNet).
        conv1, conv2: (filters, kernel, stride, pad) of the first two convs.
        convs: filters of conv3, conv4, conv5 (3x3, pad 1).
        fc: widths of fc6 and fc7.
        lrn: local response normalisation after conv1 and conv2 (the 2012 paper).
        dropout: rate before fc7 and fc8 (None: no dropout layers).
        width: multiplier of every conv and fc width (1.0: the paper).
        include_top: the paper's classifier (fc6-fc8) or the named feature maps.
        num_classes: outputs of fc8.

    Example:
        >>> from visiontk.catalog import ARCHITECTURES, populate
        >>> populate()
        >>> ARCHITECTURES.get("alexnet")().count_params()
        62378344
    """
    import keras

    from visiontk.architectures._blocks import classifier, features_model, image_input

    inputs = image_input(input_shape or default_input)
    feats = {}

    def relu_lrn(x, i):
        if lrn:
            from visiontk.layers.lrn import LocalResponseNormalization

            x = LocalResponseNormalization(name=f"lrn{i}")(x)      # the paper's constants
        feats[f"conv{i}"] = x
        return x

    f, k, s, p = conv1
    x = relu_lrn(_conv(inputs, scaled(f, width), k, s, p, "conv1"), 1)
    x = max_pool_ceil(x, "maxpool1")
    f, k, s, p = conv2
    x = relu_lrn(_conv(x, scaled(f, width), k, s, p, "conv2"), 2)
    x = max_pool_ceil(x, "maxpool2")
    for i, f in enumerate(convs, start=3):
        x = _conv(x, scaled(f, width), 3, 1, 1, f"conv{i}")
        feats[f"conv{i}"] = x
    x = max_pool_ceil(x, "maxpool5")
    feats["pool5"] = x
    if not include_top:
        return features_model(inputs, feats, name)
    x = fc_stack(x, fc, width=width, dropout=dropout, start=6)
    return keras.Model(inputs, classifier(x, num_classes, name=f"fc{6 + len(fc)}"), name=name)


_SMALL = dict(small_input=(64, 64, 3), small_kwargs=dict(width=0.125))
ARCHITECTURES.add("alexnet", build_alexnet, family="alexnet", paper=ALEXNET_PAPER, **_SMALL)
ARCHITECTURES.add("zfnet", build_alexnet, family="alexnet", variant=dict(
    conv1=(96, 7, 2, 1), conv2=(256, 5, 2, 0), default_input=(224, 224, 3), name="zfnet"), **_SMALL)
