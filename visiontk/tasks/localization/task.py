"""Single-object localization (seed 003, "detection of one object"): 4 numbers for the box plus
class probabilities, from one output of shape (4 + C).

The box is (cx, cy, w, h) relative to the image (sigmoid outputs); the loss is a box loss
(smooth L1 on those four numbers and/or 1 - GIoU of the boxes) plus cross-entropy. The box branch
keeps the spatial layout (1x1 conv, flatten, dense) instead of global pooling, which would throw away
where the object is; the class branch pools globally, as a classifier does (what the object is does
not depend on where it is: recipes/localize.yaml at 8 epochs reached val class accuracy 0.48
through the flattened branch, 0.70 through the pooled one).

With `crop_size` the class comes from a second stage instead: the square around the predicted box,
resampled to one size (`visiontk.layers.BoxCrop`), read by a copy of the backbone. A small object is
then all of what the classifier sees, at the scale of every other (docs/detection.md).
"""

from __future__ import annotations

from visiontk.catalog import TASKS
from visiontk.runtime import localization as runtime
from visiontk.tasks.base import EvalContext, Evaluation, Task, pick_feature
from visiontk.tasks.localization.config import LocalizationHead


@TASKS.register("localization", aliases=("localize",))
class Localization(Task):
    name = "localization"
    Config = LocalizationHead
    needs = ("box", "label")
    geometry = ("box",)
    monitor = ("val_mean_iou", "max")
    metric_modes = {"mean_iou": "max", "iou50": "max", "accuracy": "max"}
    summary_metrics = ("accuracy", "mean_iou")
    label_smoothing = True
    # rotate / zoom: the box would no longer fit the object
    augmentations = frozenset({"flip", "translate", "brightness", "contrast"})
    runtime = runtime

    def build(self, backbone, dropout=None):
        import keras
        from keras import layers

        from visiontk.tasks._heads import conv_bn_leaky, trim_backbone

        feature = self.recipe.model.feature if self.recipe is not None else None
        backbone, feature = trim_backbone(backbone, feature, spatial=None)
        inputs = keras.Input(self.info.input_shape, name="image")
        x = pick_feature(backbone(inputs), feature)
        pooled = x
        if len(x.shape) == 4:
            if not self.cfg.crop_size:
                pooled = class_pool(x, self.cfg.class_pool)
            x = conv_bn_leaky(x, self.cfg.filters, name="head_reduce", kernel=1)
            x = layers.Flatten(name="head_flatten")(x)
        if self.cfg.hidden:
            x = layers.Dense(self.cfg.hidden, activation="relu", name="head_hidden")(x)
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        box = layers.Dense(4, activation="sigmoid", dtype="float32", name="head_box")(x)
        if self.cfg.crop_size:
            pooled = self._crop_features(inputs, box, feature)
        if dropout:
            pooled = layers.Dropout(dropout, name="head_pool_dropout")(pooled)
        probs = layers.Dense(self.info.num_classes, activation="softmax", dtype="float32",
                             name="head_classes")(pooled)
        out = layers.Concatenate(name="box_and_probs", dtype="float32")([box, probs])
        return keras.Model(inputs, out, name="localizer")

    def _crop_features(self, inputs, box, feature):
        """The second stage: the predicted box's square crop at crop_size x crop_size, read by a
        copy of the backbone named "crop_backbone" (the same feature map), pooled."""
        from visiontk.errors import ModelError
        from visiontk.layers import BoxCrop
        from visiontk.tasks._heads import trim_backbone
        from visiontk.architectures._from_recipe import build_backbone

        if self.recipe is None:
            raise ModelError("model.head.crop_size: the crop's backbone is built from the recipe; "
                             "build this task through a recipe")
        size, channels = self.cfg.crop_size, self.info.input_shape[2]
        crop = BoxCrop(size, self.cfg.crop_margin, name="head_crop")([inputs, box])
        copy = build_backbone(self.recipe, input_shape=(size, size, channels), name="crop_backbone",
                              spec=self._crop_spec(), field="model.head.crop_backbone")
        copy, _ = trim_backbone(copy, feature, spatial=None)
        x = pick_feature(copy(crop), feature)
        if len(x.shape) == 4:
            x = class_pool(x, self.cfg.class_pool, prefix="head_crop_pool")
        return x

    def own_backbones(self) -> tuple[str, ...]:
        return ("crop_backbone",) if self.cfg.crop_size and self.cfg.crop_backbone else ()

    def _crop_spec(self):
        """model.head.crop_backbone over model.backbone (same name: its params updated), or None
        (the crop stage is a copy of model.backbone)."""
        own = self.cfg.crop_backbone
        if own is None:
            return None
        base = self.recipe.model.backbone
        name = own.name or base.name
        params = {**base.params, **own.params} if name == base.name else dict(own.params)
        return base.model_copy(update={"name": name, "weights": own.weights, "params": params})

    def loss(self):
        from visiontk.tasks.localization.loss import LocalizationLoss

        c = self.cfg
        smoothing = self.recipe.train.regularization.label_smoothing if self.recipe else 0.0
        return LocalizationLoss(self.info.num_classes, c.box_loss, c.box_weight, c.class_weight,
                                label_smoothing=smoothing)

    def metrics(self):
        from visiontk.tasks.localization.loss import BoxIoU, ClassAccuracy

        return [BoxIoU(name="mean_iou"), BoxIoU(0.5, name="iou50"), ClassAccuracy(name="accuracy")]

    encodes_batches = True

    def encode(self, image, annotation):
        import tensorflow as tf

        b = tf.cast(annotation["box"], tf.float32)
        box = tf.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2,
                        b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], -1)
        return image, tf.concat([box, tf.one_hot(annotation["label"], self.info.num_classes)], -1)

    def meta(self):
        return {"layout": "cxcywh+probs", "top_k": min(self.cfg.top_k, self.info.num_classes)}

    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        from visiontk.tasks.localization.evaluation import localization_report

        meta = {"input": {"shape": list(self.info.input_shape), "resize": "stretch"},
                "class_names": list(self.info.class_names), "decode": self.meta()}
        return Evaluation(localization_report(predict_fn, batches, meta, out_dir))


def class_pool(x, how: str, prefix: str = "head_pool"):
    """(N, H, W, C) -> (N, C) for the class branch. "attention": softmax(1x1 conv) weights over
    the H x W positions (float32), so a small object's cells outweigh the clutter around it; built
    from Keras layers only, so model.keras and the exports need nothing of ours."""
    from keras import layers

    if how == "avg":
        return layers.GlobalAveragePooling2D(name=prefix)(x)
    if how == "max":
        return layers.GlobalMaxPooling2D(name=prefix)(x)
    _, h, w, c = x.shape
    score = layers.Conv2D(1, 1, name=f"{prefix}_score")(x)
    score = layers.Reshape((h * w,), name=f"{prefix}_flat_score")(score)
    weight = layers.Softmax(dtype="float32", name=f"{prefix}_weight")(score)
    weight = layers.Reshape((h * w, 1), name=f"{prefix}_weight_column")(weight)
    cells = layers.Reshape((h * w, c), name=f"{prefix}_cells")(x)
    cells = layers.Activation("linear", dtype="float32", name=f"{prefix}_cells_f32")(cells)
    pooled = layers.Dot(axes=1, name=f"{prefix}_weighted")([weight, cells])
    return layers.Flatten(name=prefix)(pooled)
