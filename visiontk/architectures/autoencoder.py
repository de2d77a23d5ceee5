"""MLP and CNN autoencoders (seeds 000, 002, 004): encoder -> bottleneck ("code") -> decoder ->
reconstruction of the input in [0, 1] (sigmoid).

- `autoencoder_mlp`: flatten -> Dense `units` -> Dense `bottleneck` (the code) -> Dense `units`
  reversed -> Dense H*W*C -> reshape. The code may be wider than the input (an over-complete code, as
  seed 000 remarks; useful with denoising, where copying the input is no longer a solution).
- `autoencoder_cnn`: per level conv 3x3 + ReLU then 2x2 max pool (`downsample: pool`) or a stride-2
  conv (`downsample: stride`); the code is a conv 3x3 map (`code_channels`) or, with `dense_code: N`,
  a vector of N units; the decoder mirrors the encoder with Conv2DTranspose 3x3 stride 2 (the seeds'
  deconvolution), then conv 3x3 -> C channels, sigmoid. Height and width must be divisible by
  2**len(filters).

include_top=True: the reconstruction (B, H, W, C) (`num_classes` is ignored: an autoencoder's output
is its input). include_top=False: {"code": the bottleneck, "decoded": the last decoder map/vector};
a task head adds the output layer (the denoising task adds exactly the layer include_top=True has).
`encoder_model(model)` cuts the encoder out of a trained model as an embedding model.
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES

CODE_LAYER = "code"


@ARCHITECTURES.register("autoencoder_mlp", aliases=("mlp_autoencoder",), family="autoencoder",
                        top="image", small_kwargs=dict(units=(16,), bottleneck=8))
def build_autoencoder_mlp(input_shape=(28, 28, 1), *, include_top=True, num_classes=None,
                          name="autoencoder_mlp", units=(512, 256), bottleneck=64, activation="relu",
                          dropout=None):
    """MLP autoencoder.

    Example:
        >>> m = build_autoencoder_mlp((28, 28, 1), units=(256,), bottleneck=1024)   # doctest: +SKIP
        >>> m.output_shape                                                         # doctest: +SKIP
        (None, 28, 28, 1)
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import HE, features_model, image_input

    inputs = image_input(input_shape)
    x = layers.Flatten(name="flatten")(inputs)
    for i, u in enumerate(units):
        x = layers.Dense(u, activation=activation, kernel_initializer=HE, name=f"enc{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"enc{i + 1}_dropout")(x)
    code = layers.Dense(bottleneck, activation=activation, kernel_initializer=HE, name=CODE_LAYER)(x)
    x = code
    for i, u in reversed(list(enumerate(units))):
        x = layers.Dense(u, activation=activation, kernel_initializer=HE, name=f"dec{i + 1}")(x)
    if include_top:
        return keras.Model(inputs, image_output(x, input_shape), name=name)
    return features_model(inputs, {"code": code, "decoded": x}, name)


def image_output(x, input_shape, name="reconstruction"):
    """The reconstruction layer on a decoder map (conv 3x3) or vector (Dense + reshape), sigmoid."""

    from keras import layers

    h, w, c = input_shape
    if len(x.shape) == 4:
        return layers.Conv2D(c, 3, padding="same", activation="sigmoid", dtype="float32", name=name)(x)
    x = layers.Dense(h * w * c, activation="sigmoid", dtype="float32", name=f"{name}_dense")(x)
    return layers.Reshape((h, w, c), name=name)(x)


@ARCHITECTURES.register("autoencoder_cnn", aliases=("conv_autoencoder",), family="autoencoder",
                        top="image", small_kwargs=dict(filters=(4, 8)))
def build_autoencoder_cnn(input_shape=(28, 28, 1), *, include_top=True, num_classes=None,
                          name="autoencoder_cnn", filters=(32, 64), code_channels=None, dense_code=None,
                          downsample="pool", batch_norm=False):
    """Convolutional autoencoder with a Conv2DTranspose decoder.

    Example:
        >>> m = build_autoencoder_cnn((28, 28, 1), filters=(32, 64))   # doctest: +SKIP
        >>> m.get_layer("code").output.shape                           # doctest: +SKIP
        (None, 7, 7, 64)
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import HE, conv_bn_relu, features_model, image_input

    h, w, c = input_shape
    m = 2 ** len(filters)
    if h % m or w % m:
        raise ValueError(f"autoencoder_cnn with {len(filters)} levels needs height and width "
                         f"divisible by {m}, got {h}x{w}")
    if downsample not in ("pool", "stride"):
        raise ValueError(f"downsample must be 'pool' or 'stride', got {downsample!r}")

    def conv(x, f, strides, name):
        if batch_norm:
            return conv_bn_relu(x, f, 3, strides, name=name)
        return layers.Conv2D(f, 3, strides=strides, padding="same", activation="relu",
                             kernel_initializer=HE, name=name)(x)

    inputs = image_input(input_shape)
    x = inputs
    for i, f in enumerate(filters):
        if downsample == "stride":
            x = conv(x, f, 2, f"enc{i + 1}")
        else:
            x = conv(x, f, 1, f"enc{i + 1}")
            x = layers.MaxPooling2D(2, name=f"enc{i + 1}_pool")(x)
    if dense_code:
        shape = tuple(x.shape[1:])
        x = layers.Flatten(name="code_flatten")(x)
        code = layers.Dense(dense_code, activation="relu", kernel_initializer=HE, name=CODE_LAYER)(x)
        x = layers.Dense(int(shape[0] * shape[1] * shape[2]), activation="relu",
                         kernel_initializer=HE, name="code_expand")(code)
        x = layers.Reshape(shape, name="code_reshape")(x)
    else:
        code = x = conv(x, code_channels or filters[-1], 1, CODE_LAYER)
    for i, f in reversed(list(enumerate(filters))):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation=None if batch_norm else "relu",
                                   use_bias=not batch_norm, kernel_initializer=HE, name=f"dec{i + 1}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=0.9, name=f"dec{i + 1}_bn")(x)
            x = layers.Activation("relu", name=f"dec{i + 1}_relu")(x)
    if include_top:
        return keras.Model(inputs, image_output(x, input_shape), name=name)
    return features_model(inputs, {"code": code, "decoded": x}, name)


def encoder_model(model, name: str = "encoder"):
    """The encoder of a (trained) autoencoder or denoising model: image -> code vector.

    Works on a builder's model or on a task model holding the autoencoder as its nested `backbone`;
    the weights are shared (not copied). A spatial code is flattened.

    Example:
        >>> enc = encoder_model(load_keras_model("runs/denoise/model.keras"))   # doctest: +SKIP
        >>> enc(images).shape                                                   # doctest: +SKIP
        (8, 3136)
    """
    import keras
    from keras import layers

    from visiontk.errors import ModelError

    holder = _find_code_holder(model)
    if holder is None:
        raise ModelError(f"model '{model.name}' has no '{CODE_LAYER}' layer: only the autoencoder "
                         f"architectures (autoencoder_mlp, autoencoder_cnn) have an encoder to cut out")
    code = holder.get_layer(CODE_LAYER).output
    if len(code.shape) > 2:
        code = layers.Flatten(name="embedding")(code)
    else:
        code = layers.Identity(name="embedding")(code)
    return keras.Model(holder.inputs, code, name=name)


def _find_code_holder(model):
    names = {layer.name for layer in model.layers}
    if CODE_LAYER in names:
        return model
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found = _find_code_holder(layer)
            if found is not None:
                return found
    return None
