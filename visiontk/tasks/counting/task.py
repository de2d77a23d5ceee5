"""Count regression (seed 003, "number of dogs"): a linear head on the pooled features predicts how
many objects an image holds, in total or per class (`per_class: true`, from the source's `classes`).

Losses: mse, mae, huber (`huber_delta`), poisson (with a softplus output, counts must be > 0 in the
model). Metrics: MAE, RMSE and exact-count accuracy (the rounded prediction equals the count).

`density: true` trains a density map instead (counting/density.py: a decoder to 1/density_stride of
the input, a Gaussian per object centre as the target, the loss on the map and on its sum); the
inference model sums the map, so model.keras, exports, evaluate and predict see the same (B, 1) or
(B, K) counts as a regressing counter's.
"""

from __future__ import annotations

from visiontk.errors import RecipeError
from visiontk.catalog import TASKS
from visiontk.runtime import counting as runtime
from visiontk.tasks.base import EvalContext, Evaluation, Task, pick_feature
from visiontk.tasks.counting.config import CountingHead


def exact_count_accuracy(y_true, y_pred):
    """Fraction of images whose rounded predicted count(s) equal the true count(s)."""
    from keras import ops

    hit = ops.cast(ops.equal(ops.round(ops.maximum(y_pred, 0.0)), ops.round(y_true)), "float32")
    return ops.min(hit, axis=-1)


@TASKS.register("counting", aliases=("count", "count_regression"))
class Counting(Task):
    name = "counting"
    Config = CountingHead
    needs = ("count",)
    monitor = ("val_mae", "min")
    metric_modes = {"mae": "min", "rmse": "min", "exact_accuracy": "max"}
    summary_metrics = ("mae",)
    # objects moved out of or into the frame would change the count
    augmentations = frozenset({"flip", "brightness", "contrast"})
    runtime = runtime

    def __init__(self, cfg, info, recipe=None):
        super().__init__(cfg, info, recipe)
        if cfg.per_class:
            if info.provides and "classes" not in info.provides:
                src = recipe.data.source if recipe is not None else "the data source"
                raise RecipeError(f"model.head.per_class: source '{src}' has no per-object classes; "
                                  f"set per_class: false (total counts) or use synthetic-scenes")
            self.needs = ("count", "classes")
        self.outputs = info.num_classes if cfg.per_class else 1
        if cfg.density:
            if cfg.loss == "poisson":
                raise RecipeError("model.head.loss: poisson needs a positive count output; a density "
                                  "head's map is linear: use huber, mse or mae with density: true")
            have = info.provides
            if have and not {"boxes", "classes"} <= set(have):
                src = recipe.data.source if recipe is not None else "the data source"
                raise RecipeError(f"model.head.density: source '{src}' has no object boxes (it "
                                  f"provides: {', '.join(have)}); density counting learns from the "
                                  f"objects' centres: set density: false or use a source with boxes "
                                  f"(fashion-scenes, synthetic-scenes, coco, voc, yolo)")
            h, w = info.input_shape[:2]
            if h % cfg.density_stride or w % cfg.density_stride:
                raise RecipeError(f"model.head.density_stride: {cfg.density_stride} does not divide "
                                  f"the input size {h} x {w} (model.input_shape); choose a stride "
                                  f"that does, e.g. 4 or 8 with sizes that are multiples of 32")
            self.needs = ("count", "boxes", "classes")
            self.geometry = ("boxes",)               # flips move the centres, so the map follows

    def build(self, backbone, dropout=None):
        import keras
        from keras import layers

        inputs = keras.Input(self.info.input_shape, name="image")
        feature = self.recipe.model.feature if self.recipe else None
        if self.cfg.density:
            from visiontk.tasks.counting.density import density_head

            out = density_head(backbone(inputs), self.info.input_shape, self.cfg, self.outputs,
                               feature, dropout)
            return keras.Model(inputs, out, name="counter")
        x = pick_feature(backbone(inputs), feature)
        if len(x.shape) == 4:
            x = layers.GlobalAveragePooling2D(name="head_pool")(x)
        if self.cfg.hidden:
            x = layers.Dense(self.cfg.hidden, activation="relu", name="head_hidden")(x)
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        act = "softplus" if self.cfg.loss == "poisson" else None
        out = layers.Dense(self.outputs, activation=act, dtype="float32", name="count")(x)
        return keras.Model(inputs, out, name="counter")

    def loss(self):
        import keras

        if self.cfg.density:
            from visiontk.tasks.counting.density import DensityCountLoss

            return DensityCountLoss(self.cfg.loss, self.cfg.huber_delta, self.cfg.density_weight)

        return {"mse": keras.losses.MeanSquaredError(), "mae": keras.losses.MeanAbsoluteError(),
                "huber": keras.losses.Huber(delta=self.cfg.huber_delta),
                "poisson": keras.losses.Poisson()}[self.cfg.loss]

    def metrics(self):
        import keras

        if self.cfg.density:
            from visiontk.tasks.counting.density import density_metrics

            return density_metrics(exact_count_accuracy)

        return [keras.metrics.MeanAbsoluteError(name="mae"),
                keras.metrics.RootMeanSquaredError(name="rmse"),
                keras.metrics.MeanMetricWrapper(exact_count_accuracy, name="exact_accuracy")]

    encodes_batches = True

    def inference_model(self, model):
        """A density model's map summed into counts; a regressing counter as it is."""
        if not self.cfg.density or len(model.output.shape) != 4:
            return model
        from visiontk.tasks.counting.density import counts_from_density

        return counts_from_density(model)

    def encode(self, image, annotation):
        import tensorflow as tf

        if self.cfg.density:
            from visiontk.tasks.counting.density import density_map

            c = self.cfg
            h, w = self.info.input_shape[:2]
            return image, density_map(annotation["boxes"], annotation["classes"],
                                      (h // c.density_stride, w // c.density_stride), self.outputs,
                                      c.density_sigma)

        if self.cfg.per_class:
            classes = tf.cast(annotation["classes"], tf.int32)       # -1 pads: one_hot gives zeros
            return image, tf.reduce_sum(tf.one_hot(classes, self.outputs), axis=-2)
        return image, tf.cast(annotation["count"], tf.float32)[..., None]

    def meta(self):
        return {"per_class": self.cfg.per_class}

    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        from visiontk.tasks.counting.evaluation import counting_report

        return Evaluation(counting_report(predict_fn, batches, self.info.class_names,
                                          self.cfg.per_class, out_dir))
