"""Detection, two heads (`model.head.type`):

- `grid` (the default; YOLO v1 style, seed 003): an S x S grid on any backbone feature map; each cell
  predicts B boxes (confidence, x, y, sqrt w, sqrt h) and one set of class probabilities. Encoding
  (inside tf.data): the object whose centre falls in a cell is that cell's target (x, y relative to
  the cell, sqrt of w and h relative to the image, one-hot class); when several centres fall in one
  cell, the largest object wins.
- `multiscale`: an FPN (+ PAN) neck over the backbone's stride 8/16/32 maps, an anchor-free head per
  level decoded in the graph (multiscale.py), task-aligned assignment in the loss (assign.py,
  tal_loss.py); the target is the padded list of objects itself.

Decoding and both output layouts: visiontk.runtime.detection.
"""

from __future__ import annotations

from visiontk.catalog import TASKS
from visiontk.errors import RecipeError
from visiontk.runtime import detection as runtime
from visiontk.tasks.base import EvalContext, Evaluation, Task, pick_feature
from visiontk.tasks.detection.config import DetectionHead, MultiscaleHead
from visiontk.tasks.detection.encode import encode_grid


@TASKS.register("detection", aliases=("detect",))
class Detection(Task):
    name = "detection"
    Config = DetectionHead
    needs = ("boxes", "classes")
    geometry = ("boxes",)
    monitor = ("val_map50", "max")
    metric_modes = {"map50": "max", "map": "max"}
    summary_metrics = ("map50", "map")
    # rotate / zoom: the boxes would no longer fit the objects; mosaic, scale (random scale and
    # crop), hsv and mixup move or keep the boxes exactly (visiontk.data.box_augment)
    augmentations = frozenset({"flip", "translate", "brightness", "contrast", "mosaic", "scale",
                               "hsv", "mixup"})
    runtime = runtime

    @property
    def multiscale(self) -> bool:
        return isinstance(self.cfg, MultiscaleHead)

    def build(self, backbone, dropout=None):
        if not self.multiscale and self.cfg.crop_classifier is not None:   # refused before training
            from visiontk.tasks.detection.rescore import load_classifier

            load_classifier(self.cfg.crop_classifier, self.info.class_names, self.info.input_shape[2])
        if self.multiscale:
            from visiontk.tasks.detection.multiscale import build_multiscale

            if self.recipe is not None and self.recipe.model.feature is not None:
                raise RecipeError(f"model.feature ({self.recipe.model.feature}) picks the grid head's "
                                  f"one map; the multiscale head reads the maps at model.head.strides "
                                  f"{list(self.cfg.strides)}: remove model.feature")

            return build_multiscale(backbone, self.info.input_shape, self.info.num_classes, self.cfg,
                                    dropout)
        import keras
        from keras import layers

        from visiontk.tasks._heads import conv_bn_leaky, resize_to_grid, trim_backbone

        s, b = self.cfg.grid, self.cfg.boxes_per_cell
        feature = self.recipe.model.feature if self.recipe is not None else None
        backbone, feature = trim_backbone(backbone, feature)
        inputs = keras.Input(self.info.input_shape, name="image")
        x = pick_feature(backbone(inputs), feature, spatial=True)
        x = resize_to_grid(x, s)
        for i in range(self.cfg.convs):
            x = conv_bn_leaky(x, self.cfg.filters, name=f"head_conv{i + 1}")
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        boxes = layers.Conv2D(5 * b, 1, activation="sigmoid", dtype="float32", name="head_boxes")(x)
        probs = layers.Conv2D(self.info.num_classes, 1, activation="softmax", dtype="float32",
                              name="head_classes")(x)
        out = layers.Concatenate(name="grid", dtype="float32")([boxes, probs])
        return keras.Model(inputs, out, name="detector")

    def loss(self):
        from visiontk.tasks.detection.loss import TaskAlignedLoss, YoloLoss

        c = self.cfg
        if self.multiscale:
            return TaskAlignedLoss(self.info.input_shape, c.strides, self.info.num_classes, c.topk,
                                   c.alpha, c.beta, c.centre_radius, c.box_loss, c.class_loss,
                                   c.box_weight, c.class_weight)
        return YoloLoss(c.grid, c.boxes_per_cell, self.info.num_classes, c.coord_weight,
                        c.noobj_weight, c.class_weight, c.box_loss, c.confidence_target,
                        c.confidence_loss)

    def encode(self, image, annotation):
        if self.multiscale:          # the objects themselves: the loss assigns them to anchors
            import tensorflow as tf

            classes = tf.cast(annotation["classes"], tf.float32)[..., None]
            return image, tf.concat([tf.cast(annotation["boxes"], tf.float32), classes], -1)
        return image, encode_grid(annotation["boxes"], annotation["classes"], self.cfg.grid,
                                  self.info.num_classes)

    def callbacks(self, val_data, run_dir):
        if val_data is None:
            return []
        from visiontk.tasks.detection.callbacks import MapCallback

        return [MapCallback(self, val_data, every=self.cfg.map_every)]

    def inference_model(self, model):
        """With model.head.crop_classifier: the detector + its second stage (rescore.py)."""
        c = self.cfg
        if self.multiscale or c.crop_classifier is None:
            return model
        from visiontk.tasks.detection.rescore import load_classifier, two_stage

        cc = c.crop_classifier
        classifier, margin = load_classifier(cc, self.info.class_names, self.info.input_shape[2])
        return two_stage(model, classifier, grid=c.grid, boxes_per_cell=c.boxes_per_cell,
                         top_k=cc.top_k, weight=cc.weight, margin=margin, flip=cc.flip)

    def meta(self, trained: bool = False):
        """Decode settings of model.keras; `trained`: of the model being trained (the grid, also
        when model.keras adds the crop classifier's rows)."""
        c = self.cfg
        decode = {"score_threshold": c.score_threshold, "iou_threshold": c.iou_threshold,
                  "max_detections": c.max_detections}
        if self.multiscale:
            return {"layout": "anchor_free", "strides": list(c.strides), **decode}
        if c.crop_classifier is not None and not trained:      # rows of the two-stage model
            return {"layout": "anchor_free",
                    "two_stage": {"grid": c.grid, "top_k": c.crop_classifier.top_k}, **decode}
        return {"grid": c.grid, "boxes_per_cell": c.boxes_per_cell, "layout": "yolo_v1", **decode}

    def eval_meta(self, trained: bool = False) -> dict:
        """meta for decoding pipeline images (already at the input size) during evaluation (of the
        model being trained, with `trained`: the validation mAP callback)."""
        return {"input": {"shape": list(self.info.input_shape), "resize": "stretch"},
                "class_names": list(self.info.class_names), "decode": self.meta(trained)}

    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        from visiontk.tasks.detection.evaluation import detection_report

        return Evaluation(detection_report(predict_fn, batches, self.eval_meta(),
                                           self.cfg.eval_score_threshold, out_dir,
                                           multi_label=self.cfg.eval_multi_label))


