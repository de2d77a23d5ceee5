"""Multilayer perceptron (seeds 003/004: fully connected layers, softmax output): flatten the image,
then Dense -> activation (-> dropout) per hidden layer. The baseline every CNN is compared with
(Fashion-MNIST README: MLP 0.883).

`units` lists the hidden widths; `dropout` (a rate) follows each hidden layer; `batch_norm: true`
puts batch normalisation before each activation. Features: `F1`..`Fn`, the hidden layers' outputs.
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES


@ARCHITECTURES.register("mlp", family="mlp")
def build_mlp(input_shape=(28, 28, 1), *, include_top=True, num_classes=10, name="mlp",
              units=(512, 256), activation="relu", dropout=None, batch_norm=False):
    from keras import layers

    from visiontk.architectures._blocks import classifier, features_model, image_input

    inputs = image_input(input_shape)
    x = layers.Flatten(name="flatten")(inputs)
    feats = {}
    for i, width in enumerate(units, start=1):
        x = layers.Dense(width, use_bias=not batch_norm, kernel_initializer="he_normal",
                         name=f"fc{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"fc{i}_bn")(x)
        x = layers.Activation(activation, name=f"fc{i}_{activation}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        feats[f"F{i}"] = x
    if include_top:
        import keras

        return keras.Model(inputs, classifier(x, num_classes, name="output"), name=name)
    return features_model(inputs, feats, name)
