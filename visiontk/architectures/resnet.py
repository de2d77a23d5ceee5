"""ResNet v1 (He et al. 2015; seeds 000/001/004): basic blocks (18, 34) and bottleneck blocks
(50, 101, 152), batch norm after every convolution, He initialisation.

Conventions: convolutions have no bias (batch norm follows) unless `conv_bias: true`; with
`conv_bias: true, bn_epsilon: 1.001e-5` the bottleneck nets match keras.applications.ResNet50/101/152
exactly (stride in the first 1x1 of a block, as Keras does). `stem: cifar` replaces the 7x7/2 conv
and the max pool by one 3x3/1 conv for 28x28 / 32x32 inputs; `widths` scales the four stages.
Feature maps: C2..C5 (strides 4..32 with the ImageNet stem, 1..8 with the CIFAR stem).
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES


def _block(x, filters, strides, *, bottleneck, name, bias, eps):
    from keras import layers

    from visiontk.architectures._blocks import conv_bn_relu

    out = filters * (4 if bottleneck else 1)
    shortcut = x
    if strides != 1 or x.shape[-1] != out:
        shortcut = conv_bn_relu(x, out, 1, strides, name=f"{name}_0", use_bias=bias, activation=None,
                                epsilon=eps)
    if bottleneck:
        y = conv_bn_relu(x, filters, 1, strides, name=f"{name}_1", use_bias=bias, epsilon=eps)
        y = conv_bn_relu(y, filters, 3, name=f"{name}_2", use_bias=bias, epsilon=eps)
        y = conv_bn_relu(y, out, 1, name=f"{name}_3", use_bias=bias, activation=None, epsilon=eps)
    else:
        y = conv_bn_relu(x, filters, 3, strides, name=f"{name}_1", use_bias=bias, epsilon=eps)
        y = conv_bn_relu(y, filters, 3, name=f"{name}_2", use_bias=bias, activation=None, epsilon=eps)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def build_resnet(input_shape=(224, 224, 3), *, block, layers, include_top=True, num_classes=1000,
                 name="resnet", stem="imagenet", widths=(64, 128, 256, 512), conv_bias=False,
                 bn_epsilon=1e-3, dropout=None):
    import keras
    from keras import layers as L

    from visiontk.architectures._blocks import classifier, conv_bn_relu, features_model, image_input

    bottleneck = block == "bottleneck"
    inputs = image_input(input_shape)
    if stem == "cifar":
        x = conv_bn_relu(inputs, widths[0], 3, 1, name="conv1", use_bias=conv_bias, epsilon=bn_epsilon)
    else:
        x = L.ZeroPadding2D(3, name="conv1_pad")(inputs)
        x = conv_bn_relu(x, widths[0], 7, 2, name="conv1", padding="valid", use_bias=conv_bias,
                         epsilon=bn_epsilon)
        x = L.ZeroPadding2D(1, name="pool1_pad")(x)
        x = L.MaxPooling2D(3, 2, name="pool1_pool")(x)
    feats = {}
    for stage, (count, width) in enumerate(zip(layers, widths)):
        for i in range(count):
            strides = 2 if (i == 0 and stage > 0) else 1
            x = _block(x, width, strides, bottleneck=bottleneck, name=f"conv{stage + 2}_block{i + 1}",
                       bias=conv_bias, eps=bn_epsilon)
        feats[f"C{stage + 2}"] = x
    if include_top:
        return keras.Model(inputs, classifier(x, num_classes, dropout=dropout), name=name)
    return features_model(inputs, feats, name)


for _name, _block_kind, _layers in [("resnet18", "basic", (2, 2, 2, 2)), ("resnet34", "basic", (3, 4, 6, 3)),
                                    ("resnet50", "bottleneck", (3, 4, 6, 3)),
                                    ("resnet101", "bottleneck", (3, 4, 23, 3)),
                                    ("resnet152", "bottleneck", (3, 8, 36, 3))]:
    ARCHITECTURES.add(_name, build_resnet, variant=dict(block=_block_kind, layers=_layers), family="resnet",
                      small_kwargs=dict(widths=(4, 8, 8, 16)))
