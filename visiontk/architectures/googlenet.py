"""GoogLeNet / Inception v1 (Szegedy et al. 2014; seed 001 table): a 7x7/2 conv, max pool, a 1x1 +
3x3 conv, max pool, nine inception modules (3a, 3b | 4a-4e | 5a, 5b, max pools between the
stages), global average pooling, dropout 0.4 and a linear softmax classifier.

Every module is four branches concatenated on channels: 1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> 5x5 |
max pool 3x3/1 -> 1x1 pool proj, each conv with bias and ReLU. The filter numbers are the seed's
table (`MODULES`), so a module's parameters are those its numbers imply: 3a has 192*64 + 192*96 +
9*96*128 + 192*16 + 25*16*32 + 192*32 = 163,328 weights and 64+96+128+16+32+32 = 368 biases. Max
pools use "same" padding (Caffe's ceil mode): 224 -> 112 -> 56 -> 28 -> 14 -> 7 as in the table.
The paper's two local response normalisations carry no parameters and are not in the table: left out.

Options: `aux_logits: true` (with include_top=True) adds the two auxiliary classifiers of the paper
after 4a and 4d (avg pool 5x5/3, 1x1 conv 128, FC 1024, dropout 0.7, linear softmax); the model then
returns {"predictions", "aux_4a", "aux_4d"} and is trained with loss weights 1, 0.3, 0.3
(`AUX_LOSS_WEIGHTS`); `without_aux(model)` is the inference network. In a recipe the classification
head builds the same branches from the feature maps (`model.head.aux_weight: 0.3`, see
visiontk/tasks/classification/task.py) and drops them from the saved model. `width` scales every filter
number (0.25 for small tests), `batch_norm: true` puts BN after every conv (not in the paper).

Feature maps (include_top=False): "conv2" (stride 4) and every module output "inception_3a" ..
"inception_5b" (strides 8, 16, 32), shallow to deep.
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES

# The seed's table, one row per module: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
# A max pool 3x3/2 precedes the first module of each stage.
MODULES = {
    "inception_3a": (64, 96, 128, 16, 32, 32),
    "inception_3b": (128, 128, 192, 32, 96, 64),
    "inception_4a": (192, 96, 208, 16, 48, 64),
    "inception_4b": (160, 112, 224, 24, 64, 64),
    "inception_4c": (128, 128, 256, 24, 64, 64),
    "inception_4d": (112, 144, 288, 32, 64, 64),
    "inception_4e": (256, 160, 320, 32, 128, 128),
    "inception_5a": (256, 160, 320, 32, 128, 128),
    "inception_5b": (384, 192, 384, 48, 128, 128),
}
STAGE_POOLS = {"inception_4a": "pool3", "inception_5a": "pool4"}   # max pool 3x3/2 before these
AUX_TAPS = {"aux_4a": "inception_4a", "aux_4d": "inception_4d"}     # aux output -> module it reads
AUX_LOSS_WEIGHTS = {"predictions": 1.0, "aux_4a": 0.3, "aux_4d": 0.3}

# The seed's rows as printed (params column rounded to K; pools have no parameters). Its column is not
# self-consistent: 4c's own filter numbers give 510,104, not 463K. Shown beside ours, never fitted.
PAPER = dict(
    input_shape=(224, 224, 3), num_classes=1000, source="seed 001 GoogLeNet table",
    rows=[
        {"name": "conv1", "output_shape": [112, 112, 64], "params": 2_700},
        {"name": "pool1", "output_shape": [56, 56, 64], "params": 0},
        {"name": "conv2", "output_shape": [56, 56, 192], "params": 112_000},
        {"name": "pool2", "output_shape": [28, 28, 192], "params": 0},
        {"name": "inception_3a", "output_shape": [28, 28, 256], "params": 159_000},
        {"name": "inception_3b", "output_shape": [28, 28, 480], "params": 380_000},
        {"name": "pool3", "output_shape": [14, 14, 480], "params": 0},
        {"name": "inception_4a", "output_shape": [14, 14, 512], "params": 364_000},
        {"name": "inception_4b", "output_shape": [14, 14, 512], "params": 437_000},
        {"name": "inception_4c", "output_shape": [14, 14, 512], "params": 463_000},
        {"name": "inception_4d", "output_shape": [14, 14, 528], "params": 580_000},
        {"name": "inception_4e", "output_shape": [14, 14, 832], "params": 840_000},
        {"name": "pool4", "output_shape": [7, 7, 832], "params": 0},
        {"name": "inception_5a", "output_shape": [7, 7, 832], "params": 1_072_000},
        {"name": "inception_5b", "output_shape": [7, 7, 1024], "params": 1_388_000},
        {"name": "avg_pool", "output_shape": [1, 1, 1024], "params": 0},
        {"name": "head_dropout", "output_shape": [1, 1, 1024], "params": 0},
        {"name": "predictions", "output_shape": [1, 1, 1000], "params": 1_000_000},
    ],
    total_params=6_797_700,
    note="the seed gives no total: this is the sum of its rounded params column",
)
# `visiontk arch show` groups layers by these name prefixes (one row per paper row).
SUMMARY_GROUPS = ("conv1", "pool1", "conv2", "pool2", *MODULES, "pool3", "pool4", "aux_4a", "aux_4d")


def _conv(x, filters, kernel, strides=1, *, name, batch_norm):
    from visiontk.architectures._blocks import conv_bn_relu, conv_relu

    if batch_norm:
        return conv_bn_relu(x, filters, kernel, strides, name=name)
    return conv_relu(x, filters, kernel, strides, name=name)


def inception_module(x, filters, *, name, batch_norm=False):
    """One inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | pool 3x3/1 -> 1x1, concatenated.

    Args:
        x: the input map (B, H, W, C).
        filters: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) as in the paper's table.
        name: layer name prefix; the concatenation is named `name` (the module's output).
        batch_norm: conv -> BN -> ReLU without bias instead of conv with bias and ReLU.

    Example:
        >>> y = inception_module(keras.Input((28, 28, 192)), MODULES["inception_3a"],
        ...                      name="inception_3a")  # doctest: +SKIP
        >>> tuple(y.shape)  # doctest: +SKIP
        (None, 28, 28, 256)
    """
    from keras import layers

    n1, r3, n3, r5, n5, proj = filters
    b1 = _conv(x, n1, 1, name=f"{name}_1x1", batch_norm=batch_norm)
    b3 = _conv(x, r3, 1, name=f"{name}_3x3_reduce", batch_norm=batch_norm)
    b3 = _conv(b3, n3, 3, name=f"{name}_3x3", batch_norm=batch_norm)
    b5 = _conv(x, r5, 1, name=f"{name}_5x5_reduce", batch_norm=batch_norm)
    b5 = _conv(b5, n5, 5, name=f"{name}_5x5", batch_norm=batch_norm)
    bp = layers.MaxPooling2D(3, 1, padding="same", name=f"{name}_pool")(x)
    bp = _conv(bp, proj, 1, name=f"{name}_pool_proj", batch_norm=batch_norm)
    return layers.Concatenate(name=name)([b1, b3, b5, bp])


def aux_classifier(x, num_classes, *, name, dropout=0.7):
    """An auxiliary classifier of the paper on a module output: avg pool 5x5/3 -> 1x1 conv 128 (ReLU)
    -> FC 1024 (ReLU) -> dropout 0.7 -> linear softmax (float32), layers named `{name}_*`.

    Maps smaller than 5x5 (small inputs) are pooled whole; at 224x224 the 14x14 map of 4a / 4d
    pools to 4x4 as in the paper.

    Example:
        >>> probs = aux_classifier(features["inception_4a"], 10, name="aux_4a")  # doctest: +SKIP
    """
    from keras import layers

    h, w = x.shape[1], x.shape[2]
    size = min(5, h or 5, w or 5)
    x = layers.AveragePooling2D(size, min(3, size), name=f"{name}_pool")(x)
    x = layers.Conv2D(128, 1, activation="relu", kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", kernel_initializer="he_normal", name=f"{name}_fc")(x)
    x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name=name)(x)


def without_aux(model):
    """The inference network of an `aux_logits=True` model: its "predictions" output only (the
    auxiliary branches are not in the returned graph, so they are neither saved nor exported).

    Example:
        >>> net = build_googlenet(aux_logits=True)  # doctest: +SKIP
        >>> net.compile("sgd", loss="categorical_crossentropy", loss_weights=AUX_LOSS_WEIGHTS)  # doctest: +SKIP
        >>> without_aux(net).output.shape  # doctest: +SKIP
        (None, 1000)
    """
    import keras

    out = model.output
    if not isinstance(out, dict):
        return model
    return keras.Model(model.inputs, out["predictions"], name=model.name)


@ARCHITECTURES.register(
    "googlenet", aliases=("inception_v1",), family="googlenet", small_kwargs=dict(width=0.25),
    summary_groups=SUMMARY_GROUPS, paper=PAPER,
    aux=dict(outputs=AUX_TAPS, head=aux_classifier))
def build_googlenet(input_shape=(224, 224, 3), *, include_top=True, num_classes=1000, name="googlenet",
                    width=1.0, batch_norm=False, dropout=0.4, aux_logits=False):
    """GoogLeNet as in the seed's table (see the module docstring).

    Example:
        >>> build_googlenet().count_params()  # doctest: +SKIP
        6998552
        >>> sorted(build_googlenet((96, 96, 3), include_top=False).output)[:2]  # doctest: +SKIP
        ['conv2', 'inception_3a']
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import classifier, features_model, image_input
    from visiontk.errors import ModelError

    if aux_logits and not include_top:
        raise ModelError("googlenet: aux_logits builds the paper's auxiliary classifiers on the full "
                         "network (include_top=True); in a recipe set model.head.aux_weight: 0.3 "
                         "instead of model.backbone.params.aux_logits")

    def w(n):
        return max(1, int(round(n * width)))

    inputs = image_input(input_shape)
    x = _conv(inputs, w(64), 7, 2, name="conv1", batch_norm=batch_norm)
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    x = _conv(x, w(64), 1, name="conv2_reduce", batch_norm=batch_norm)
    x = _conv(x, w(192), 3, name="conv2", batch_norm=batch_norm)
    feats = {"conv2": x}
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool2")(x)
    for module, filters in MODULES.items():
        if module in STAGE_POOLS:
            x = layers.MaxPooling2D(3, 2, padding="same", name=STAGE_POOLS[module])(x)
        x = inception_module(x, [w(f) for f in filters], name=module, batch_norm=batch_norm)
        feats[module] = x
    if not include_top:
        return features_model(inputs, feats, name)
    out = classifier(x, num_classes, dropout=dropout)
    if not aux_logits:
        return keras.Model(inputs, out, name=name)
    outputs = {"predictions": out}
    for key, module in AUX_TAPS.items():
        outputs[key] = aux_classifier(feats[module], num_classes, name=key)
    return keras.Model(inputs, outputs, name=name)
