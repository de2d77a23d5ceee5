"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016; seed 000) as torchvision builds them.

A fire module squeezes with a 1x1 conv (s filters, ReLU) and expands with a 1x1 conv and a 3x3 conv
(e filters each, ReLU) whose outputs are concatenated (2e channels). The classifier is dropout 0.5 ->
1x1 conv to the classes (ReLU) -> global average pool -> softmax; there is no fc layer.

    1.0: conv1 96 7x7/2, pool, fire2-4, pool, fire5-8, pool, fire9    1,248,424 params (1000 classes)
    1.1: conv1 64 3x3/2, pool, fire2-3, pool, fire4-5, pool, fire6-9  1,235,496 params (1000 classes)

Both counts equal torchvision's squeezenet1_0 / squeezenet1_1 (1,248,424 and 1,235,496: Keras
counts the same weights and biases, there is no batch norm). Max pools are 3x3/2 with ceil rounding
as in torchvision and Caffe (`max_pool_ceil`), so feature sizes match torchvision's at 224x224
(fire9: 13x13 for 1.0, 13x13 for 1.1). `bypass: true` adds the paper's simple bypass (identity
shortcut) around the fire modules whose input and output widths agree (fire3, 5, 7, 9); it has no
weights. Initialisation: He normal, the final conv N(0, 0.01) as torchvision. `width` scales every
conv (narrow test copies).

include_top=False gives {"conv1", then the fire module before each later pool, then "fire9"}:
1.0 {"conv1", "fire4", "fire8", "fire9"}, 1.1 {"conv1", "fire3", "fire5", "fire9"} (strides 2, 4, 8,
16).
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES

# (squeeze, expand) of fire2..fire9; the same in both versions
FIRES = ((16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256))
VERSIONS = {
    "1_0": dict(conv1=(96, 7), pool_after=("conv1", "fire4", "fire8")),
    "1_1": dict(conv1=(64, 3), pool_after=("conv1", "fire3", "fire5")),
}
TORCHVISION_PARAMS = {"squeezenet1_0": 1248424, "squeezenet1_1": 1235496}


def fire(x, squeeze: int, expand: int, *, name: str, bypass: bool = False):
    """Fire module `name`: squeeze 1x1 -> [expand 1x1, expand 3x3] concatenated (+ identity)."""
    from keras import layers

    from visiontk.architectures._blocks import conv_relu

    s = conv_relu(x, squeeze, 1, name=f"{name}_squeeze")
    y = layers.Concatenate(name=f"{name}_concat")([conv_relu(s, expand, 1, name=f"{name}_expand1x1"),
                                                   conv_relu(s, expand, 3, name=f"{name}_expand3x3")])
    if bypass and x.shape[-1] == y.shape[-1]:
        y = layers.Add(name=f"{name}_bypass")([x, y])
    return y


def build_squeezenet(input_shape=(224, 224, 3), *, conv1, pool_after, fires=FIRES, bypass=False,
                     dropout=0.5, width=1.0, include_top=True, num_classes=1000, name="squeezenet"):
    """A SqueezeNet: conv1 (filters, kernel) stride 2, fire modules, pools after `pool_after`.

    Args:
        input_shape: (H, W, C) (224x224x3 in torchvision; 32x32 still builds).
        conv1: (filters, kernel) of the first conv (stride 2, no padding).
        pool_after: names of the layers followed by a 3x3/2 max pool.
        fires: (squeeze, expand) of fire2, fire3, ...
        bypass: simple bypass around the fire modules whose input and output widths agree.
        dropout: rate before the final conv (None: no Dropout layer).
        width: multiplier of every conv width (1.0: the paper).
        include_top: the classifier (conv10, average pool, softmax) or the named feature maps.
        num_classes: filters of conv10.

    Example:
        >>> from visiontk.catalog import ARCHITECTURES, populate
        >>> populate()
        >>> ARCHITECTURES.get("squeezenet1_0")().count_params()
        1248424
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import conv_relu, features_model, image_input
    from visiontk.architectures.alexnet import max_pool_ceil, scaled

    inputs = image_input(input_shape)
    x = conv_relu(inputs, scaled(conv1[0], width), conv1[1], 2, name="conv1", padding="valid")
    feats = {}
    layer_name = "conv1"
    for i, (squeeze, expand) in enumerate(fires, start=2):
        if layer_name in pool_after:
            feats[layer_name] = x
            x = max_pool_ceil(x, f"maxpool{layer_name[4:]}")
        layer_name = f"fire{i}"
        x = fire(x, scaled(squeeze, width), scaled(expand, width), name=layer_name, bypass=bypass)
    feats[layer_name] = x
    if not include_top:
        return features_model(inputs, feats, name)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(num_classes, 1, activation="relu", name="conv10",
                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


for _version, _variant in VERSIONS.items():
    _name = f"squeezenet{_version}"
    ARCHITECTURES.add(_name, build_squeezenet, variant=dict(_variant, name=_name), family="squeezenet",
                      small_kwargs=dict(width=0.25),
                      paper=dict(input_shape=(224, 224, 3), num_classes=1000, rows=[],
                                 total_params=TORCHVISION_PARAMS[_name],
                                 source=f"torchvision.models.{_name} (seed 000 names SqueezeNet)"))
