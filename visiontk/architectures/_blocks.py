"""Building blocks with stable layer names (imports Keras: use inside builders only)."""

from __future__ import annotations

import keras
from keras import layers

HE = "he_normal"


# Batch-norm momentum 0.9 (PyTorch's 0.1): with Keras' 0.99 the moving statistics of short CPU runs
# (a few hundred steps) lag the weights, and inference-mode accuracy on the *training* set was 0.41
# against 0.71 in training mode (ResNet18/16, 4 epochs on synthetic scenes).
BN_MOMENTUM = 0.9


def conv_bn_relu(x, filters, kernel=3, strides=1, *, name, padding="same", use_bias=False,
                 activation="relu", bn=True, epsilon=1e-3, momentum=BN_MOMENTUM):
    """Conv -> BatchNorm -> activation, named `{name}_conv`, `{name}_bn`, `{name}_relu`."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
                      kernel_initializer=HE, name=f"{name}_conv")(x)
    if bn:
        x = layers.BatchNormalization(epsilon=epsilon, momentum=momentum, name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def conv_relu(x, filters, kernel=3, strides=1, *, name, padding="same", activation="relu"):
    """Conv with bias and activation (pre-BN era networks: AlexNet, VGG, GoogLeNet)."""
    return layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation,
                         kernel_initializer=HE, name=name)(x)


def classifier(x, num_classes, *, dropout=None, name="predictions", pool=True):
    """Global average pool (for maps) -> dropout -> Dense softmax in float32."""
    if pool and len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name=name)(x)


def features_model(inputs, feats: dict, name: str) -> keras.Model:
    """A feature extractor whose outputs are the named maps (shallow to deep)."""
    return keras.Model(inputs, dict(feats), name=name)


def image_input(input_shape, name="image"):
    return keras.Input(shape=tuple(input_shape), name=name)
