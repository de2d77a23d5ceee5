"""Classification: softmax head on any backbone; top-1/top-5 accuracy; confusion matrix."""

from __future__ import annotations

from typing import Optional

from visiontk.runtime import classification as runtime
from visiontk.recipe.fields import PositiveInt, Strict
from visiontk.registries import TASKS
from visiontk.tasks.base import Task, pick_feature


class ClassificationHead(Strict):
    top_k: PositiveInt = 3          # how many classes decode keeps (and the overlay shows)
    hidden: Optional[PositiveInt] = None   # optional Dense layer (ReLU) before the classifier


@TASKS.register("classification", aliases=("classify",))
class Classification(Task):
    name = "classification"
    Config = ClassificationHead
    needs = ("label",)
    monitor = ("val_accuracy", "max")

    def build(self, backbone, dropout=None):
        import keras
        from keras import layers

        inputs = keras.Input(self.info.input_shape, name="image")
        x = pick_feature(backbone(inputs), self.recipe.model.feature if self.recipe else None)
        if len(x.shape) == 4:
            x = layers.GlobalAveragePooling2D(name="head_pool")(x)
        if self.cfg.hidden:
            x = layers.Dense(self.cfg.hidden, activation="relu", name="head_hidden")(x)
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        out = layers.Dense(self.info.num_classes, activation="softmax", dtype="float32",
                           name="probs")(x)
        return keras.Model(inputs, out, name="classifier")

    def loss(self):
        import keras

        smoothing = self.recipe.train.regularization.label_smoothing if self.recipe else 0.0
        return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)

    def metrics(self):
        import keras

        out = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if self.info.num_classes > 5:
            out.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
        return out

    def encode(self, image, annotation):
        import tensorflow as tf

        return image, tf.one_hot(annotation["label"], self.info.num_classes)

    def meta(self):
        return {"top_k": min(self.cfg.top_k, self.info.num_classes)}

    @classmethod
    def decode(cls, outputs, meta, sizes=None):
        return runtime.decode(outputs, meta, sizes)

    @classmethod
    def draw(cls, frame, prediction, meta):
        return runtime.draw(frame, prediction, meta)

    def evaluate(self, predict_fn, batches, out_dir=None):
        from visiontk.tasks.classification_eval import classification_report

        return classification_report(predict_fn, batches, self.info.class_names, out_dir)
