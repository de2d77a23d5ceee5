"""LeNet-5 (LeCun et al. 1998; seeds 001/003/004): conv 5x5 stride 1, pool 2x2 stride 2,
CONV-POOL-CONV-POOL-FC-FC: 6 and 16 filters, FC 120 and 84, then the classes.

Default: ReLU + max pooling (the modern form); `activation: tanh, pooling: avg` is the 1998 form.
For 28x28 inputs set `first_padding: same` (the first conv keeps 28x28; the rest is unchanged and
the parameter count equals the 32x32 original: 61,706 with 10 classes).
"""

from __future__ import annotations

from visiontk.catalog import ARCHITECTURES


@ARCHITECTURES.register("lenet5", aliases=("lenet",), family="lenet")
def build_lenet5(input_shape=(32, 32, 1), *, include_top=True, num_classes=10, name="lenet5",
                 activation="relu", pooling="max", first_padding="valid", filters=(6, 16),
                 units=(120, 84), dropout=None):
    from keras import layers

    from visiontk.architectures._blocks import classifier, features_model, image_input

    pool = layers.MaxPooling2D if pooling == "max" else layers.AveragePooling2D
    inputs = image_input(input_shape)
    x = layers.Conv2D(filters[0], 5, padding=first_padding, activation=activation, name="c1")(inputs)
    x = pool(2, 2, name="s2")(x)
    x = layers.Conv2D(filters[1], 5, activation=activation, name="c3")(x)
    s4 = pool(2, 2, name="s4")(x)
    x = layers.Flatten(name="flatten")(s4)
    x = layers.Dense(units[0], activation=activation, name="c5")(x)
    f6 = layers.Dense(units[1], activation=activation, name="f6")(x)
    if include_top:
        import keras

        return keras.Model(inputs, classifier(f6, num_classes, dropout=dropout, name="output"), name=name)
    return features_model(inputs, {"S4": s4, "F6": f6}, name)
