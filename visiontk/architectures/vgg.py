"""VGG configurations A, A-LRN, B, C, D, E (Simonyan & Zisserman 2014; seed 001's table).

Five blocks of 3x3 convs (stride 1, 'same' padding, ReLU) of widths 64, 128, 256, 512, 512, each
followed by a 2x2/2 max pool; then flatten -> fc 4096 -> dropout 0.5 -> fc 4096 -> dropout 0.5 ->
softmax. A configuration is data: the kernel sizes of each block's convs (`blocks`). C has a 1x1
conv as the third conv of blocks 3-5; A-LRN is A with local response normalisation after its first
conv. With 1000 classes at 224x224x3 the counts are, exactly (seed's Table 2 in millions):

    A, A-LRN 132,863,336 (133)   B 133,047,848 (133)   C 133,638,952 (134)
    D 138,357,544 (138)          E 143,667,240 (144)

`vgg_d(num_classes=2)` with the defaults is the Keras VGG16 summary in the seed, layer by layer:
13 Conv2D and 5 MaxPooling2D, Flatten (25088), Dense 4096, Dropout, Dense 4096, Dropout, Dense 2:
134,268,738 parameters (`KERAS_VGG16_2CLASS` holds those rows). `dropout: null` drops the two
Dropout layers and gives keras.applications.VGG16's layers (same names, same count).

Layer names are keras.applications' (block1_conv1, ..., block5_pool, flatten, fc1, fc2,
predictions), so VGG16/VGG19 weights files load by name. `width` scales every conv and fc width.
include_top=False gives {"block1".."block5" (last conv of each block, strides 1..16), "pool5"
(stride 32, what keras.applications returns without the top)}.
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES

WIDTHS = (64, 128, 256, 512, 512)
CONFIGS = {  # kernel size of each conv, per block (the columns of the seed's table)
    "a": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "b": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "c": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "d": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "e": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}
# seed 001, "Table 2: Number of parameters (in millions)" (1000 classes, 224x224x3)
TABLE2_MILLIONS = {"vgg_a": 133, "vgg_a_lrn": 133, "vgg_b": 133, "vgg_c": 134, "vgg_d": 138,
                   "vgg_e": 144}

# seed 001's Keras VGG16 summary (two classes): (its layer, our layer, output shape, params)
_KERAS_CONVS = [(1, 1, 224, 64, 1792), (2, 1, 224, 64, 36928), (3, 2, 112, 128, 73856),
                (4, 2, 112, 128, 147584), (5, 3, 56, 256, 295168), (6, 3, 56, 256, 590080),
                (7, 3, 56, 256, 590080), (8, 4, 28, 512, 1180160), (9, 4, 28, 512, 2359808),
                (10, 4, 28, 512, 2359808), (11, 5, 14, 512, 2359808), (12, 5, 14, 512, 2359808),
                (13, 5, 14, 512, 2359808)]


def _keras_rows():
    rows, conv_in_block = [], {}
    for n, block, size, filters, params in _KERAS_CONVS:
        conv_in_block[block] = conv_in_block.get(block, 0) + 1
        rows.append((f"conv2d_{n}", f"block{block}_conv{conv_in_block[block]}", [size, size, filters],
                     params))
        if n in (2, 4, 7, 10, 13):
            rows.append((f"max_pooling2d_{block}", f"block{block}_pool", [size // 2, size // 2, filters],
                         0))
    return rows + [("flatten_1", "flatten", [25088], 0), ("dense_1", "fc1", [4096], 102764544),
                   ("dropout_1", "dropout1", [4096], 0), ("dense_2", "fc2", [4096], 16781312),
                   ("dropout_2", "dropout2", [4096], 0), ("dense_3", "predictions", [2], 8194)]


KERAS_VGG16_2CLASS = _keras_rows()
KERAS_VGG16_2CLASS_TOTAL = 134268738


def build_vgg(input_shape=(224, 224, 3), *, blocks, widths=WIDTHS, fc=(4096, 4096), lrn=False,
              dropout=0.5, width=1.0, batch_norm=False, include_top=True, num_classes=1000,
              name="vgg"):
    """A VGG network from its configuration.

    Args:
        input_shape: (H, W, C); divisible by 32 keeps every pool exact (224 in the paper).
        blocks: per block, the kernel size of each conv (see `CONFIGS`).
        widths: filters of the five blocks.
        fc: widths of fc1 and fc2.
        lrn: local response normalisation after block1_conv1 (configuration A-LRN).
        dropout: rate after fc1 and fc2 (the paper: 0.5; None removes the Dropout layers).
        width: multiplier of every conv and fc width (1.0: the paper).
        batch_norm: conv (no bias) -> batch norm -> ReLU, the later "VGG-BN" form (torchvision's
            vgg16_bn); not in the paper, it trains in far fewer epochs.
        include_top: the classifier (flatten, fc1, fc2, predictions) or the named feature maps.
        num_classes: outputs of the last layer.

    Example:
        >>> from visiontk.catalog import ARCHITECTURES, populate
        >>> populate()
        >>> ARCHITECTURES.get("vgg16")(num_classes=2).count_params()
        134268738
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import (BN_MOMENTUM, classifier, conv_relu, features_model,
                                                image_input)
    from visiontk.architectures.alexnet import fc_stack, scaled

    inputs = image_input(input_shape)
    x, feats = inputs, {}
    for b, (kernels, filters) in enumerate(zip(blocks, widths), start=1):
        for i, kernel in enumerate(kernels, start=1):
            conv = f"block{b}_conv{i}"
            if batch_norm:
                x = layers.Conv2D(scaled(filters, width), kernel, padding="same", use_bias=False,
                                  kernel_initializer="he_normal", name=conv)(x)
                x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{conv}_bn")(x)
                x = layers.Activation("relu", name=f"{conv}_relu")(x)
            else:
                x = conv_relu(x, scaled(filters, width), kernel, name=conv)
            if lrn and b == 1 and i == 1:
                from visiontk.layers.lrn import LocalResponseNormalization

                x = LocalResponseNormalization(name="block1_lrn")(x)     # the paper's constants
        feats[f"block{b}"] = x
        x = layers.MaxPooling2D(2, 2, name=f"block{b}_pool")(x)
    feats["pool5"] = x
    if not include_top:
        return features_model(inputs, feats, name)
    x = fc_stack(x, fc, width=width, dropout=dropout, start=1, dropout_name="dropout{}")
    return keras.Model(inputs, classifier(x, num_classes), name=name)


def _paper(name):
    paper = dict(input_shape=(224, 224, 3), num_classes=1000, rows=[],
                 total_params=TABLE2_MILLIONS[name] * 1_000_000, total_rounding=1_000_000,
                 source="seed 001 VGG Table 2 (number of parameters in millions)")
    extra = {}
    if name == "vgg_d":
        extra["paper_keras"] = dict(
            input_shape=(224, 224, 3), num_classes=2, total_params=KERAS_VGG16_2CLASS_TOTAL,
            rows=[dict(name=ours, output_shape=shape, params=p)
                  for _, ours, shape, p in KERAS_VGG16_2CLASS],
            source="seed 001 Keras VGG16 summary (two-class head)")
    return dict(paper=paper, **extra)


for _name, _config, _lrn, _aliases in [("vgg_a", "a", False, ("vgg11",)), ("vgg_a_lrn", "a", True, ()),
                                       ("vgg_b", "b", False, ("vgg13",)), ("vgg_c", "c", False, ()),
                                       ("vgg_d", "d", False, ("vgg16",)),
                                       ("vgg_e", "e", False, ("vgg19",))]:
    ARCHITECTURES.add(_name, build_vgg, aliases=_aliases, family="vgg",
                      variant=dict(blocks=CONFIGS[_config], lrn=_lrn, name=_name),
                      small_input=(32, 32, 3), small_kwargs=dict(width=0.0625), **_paper(_name))
