"""Classification: softmax head on any backbone; top-1/top-5 accuracy; confusion matrix."""

from __future__ import annotations

from typing import Optional

import numpy as np

from visiontk.predictions import Prediction
from visiontk.recipe.fields import PositiveInt, Strict
from visiontk.registries import TASKS
from visiontk.tasks.base import Task, pick_feature


class ClassificationHead(Strict):
    top_k: PositiveInt = 3          # how many classes decode keeps (and the overlay shows)
    hidden: Optional[PositiveInt] = None   # optional Dense layer (ReLU) before the classifier


def softmax_top(probs: np.ndarray, names: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probs)[:k]
    return [(names[i] if i < len(names) else str(i), float(probs[i])) for i in order]


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
        probs = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
        names = meta.get("class_names", [])
        k = meta.get("decode", {}).get("top_k", 3)
        preds = []
        for p in probs.reshape(len(probs), -1):
            top = softmax_top(p, names, k)
            i = int(np.argmax(p))
            preds.append(Prediction("classification", label=i, name=top[0][0], score=float(p[i]), top=top))
        return preds

    @classmethod
    def draw(cls, frame, prediction, meta):
        from visiontk.infer.draw import draw_top_k

        return draw_top_k(frame, prediction.top)

    def evaluate(self, predict_fn, batches, out_dir=None):
        from visiontk.tasks.classification_eval import classification_report

        return classification_report(predict_fn, batches, self.info.class_names, out_dir)
