"""Grid detection (YOLO v1 style, seed 003): an S x S grid on any backbone feature map; each cell
predicts B boxes (confidence, x, y, sqrt w, sqrt h) and one set of class probabilities.

Encoding (inside tf.data): the object whose centre falls in a cell is that cell's target (x, y
relative to the cell, sqrt of w and h relative to the image, one-hot class); when several centres
fall in one cell, the largest object wins. Decoding and the output layout: visiontk.runtime.detection.
"""

from __future__ import annotations

from typing import Literal

from visiontk.recipe.fields import Fraction, NonNegFloat, NonNegInt, PositiveInt, Strict
from visiontk.catalog import TASKS
from visiontk.runtime import detection as runtime
from visiontk.tasks.base import EvalContext, Evaluation, Task, pick_feature


class DetectionHead(Strict):
    grid: PositiveInt = 7                       # S: the output is S x S cells
    boxes_per_cell: PositiveInt = 2             # B
    convs: NonNegInt = 2                        # 3x3 conv-BN-leaky layers before the output
    filters: PositiveInt = 128                  # their width
    coord_weight: NonNegFloat = 5.0             # lambda_coord of the YOLO v1 loss
    noobj_weight: NonNegFloat = 0.5             # lambda_noobj
    class_weight: NonNegFloat = 1.0
    box_loss: Literal["mse", "smooth_l1", "giou"] = "mse"
    confidence_target: Literal["iou", "one"] = "iou"
    confidence_loss: Literal["mse", "bce"] = "mse"
    score_threshold: Fraction = 0.25            # decode: keep boxes scoring at least this
    iou_threshold: Fraction = 0.45              # decode: per-class NMS overlap
    max_detections: PositiveInt = 100
    eval_score_threshold: Fraction = 0.001      # mAP: keep nearly every box to trace the PR curve
    map_every: PositiveInt = 1                  # validation mAP every N epochs (val_map50)


@TASKS.register("detection", aliases=("detect",))
class Detection(Task):
    name = "detection"
    Config = DetectionHead
    needs = ("boxes", "classes")
    geometry = ("boxes",)
    monitor = ("val_map50", "max")
    metric_modes = {"map50": "max", "map": "max"}
    summary_metrics = ("map50", "map")
    # rotate / zoom: the boxes would no longer fit the objects
    augmentations = frozenset({"flip", "translate", "brightness", "contrast"})
    runtime = runtime

    @property
    def channels(self) -> int:
        return 5 * self.cfg.boxes_per_cell + self.info.num_classes

    def build(self, backbone, dropout=None):
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
        from visiontk.losses.detection import YoloLoss

        c = self.cfg
        return YoloLoss(c.grid, c.boxes_per_cell, self.info.num_classes, c.coord_weight,
                        c.noobj_weight, c.class_weight, c.box_loss, c.confidence_target,
                        c.confidence_loss)

    def encode(self, image, annotation):
        return image, encode_grid(annotation["boxes"], annotation["classes"], self.cfg.grid,
                                  self.info.num_classes)

    def callbacks(self, val_data, run_dir):
        if val_data is None:
            return []
        from visiontk.tasks._map_callback import MapCallback

        return [MapCallback(self, val_data, every=self.cfg.map_every)]

    def meta(self):
        c = self.cfg
        return {"grid": c.grid, "boxes_per_cell": c.boxes_per_cell, "layout": "yolo_v1",
                "score_threshold": c.score_threshold, "iou_threshold": c.iou_threshold,
                "max_detections": c.max_detections}

    def eval_meta(self) -> dict:
        """meta for decoding pipeline images (already at the input size) during evaluation."""
        return {"input": {"shape": list(self.info.input_shape), "resize": "stretch"},
                "class_names": list(self.info.class_names), "decode": self.meta()}



    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        from visiontk.tasks.detection_eval import detection_report

        return Evaluation(detection_report(predict_fn, batches, self.eval_meta(),
                                           self.cfg.eval_score_threshold, out_dir))


def encode_grid(boxes, classes, grid: int, num_classes: int):
    """tf ops: padded boxes (M, 4) normalised x1, y1, x2, y2 + classes (M,) (-1 = padding) ->
    the (S, S, 5 + C) target: object flag, x, y in the cell, sqrt w, sqrt h, one-hot class.

    Example:
        >>> t = encode_grid([[0.1, 0.1, 0.3, 0.5]], [2], 4, 3)  # doctest: +SKIP
        >>> t[1, 0].numpy()  # centre (0.2, 0.3) -> row 1, col 0   # doctest: +SKIP
        array([1. , 0.8, 0.2, 0.4472136, 0.6324555, 0. , 0. , 1. ], dtype=float32)
    """
    import tensorflow as tf

    s = grid
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    classes = tf.reshape(tf.cast(classes, tf.int32), (-1,))
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    valid = (classes >= 0) & (w > 0) & (h > 0)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    col = tf.clip_by_value(tf.cast(tf.floor(cx * s), tf.int32), 0, s - 1)
    row = tf.clip_by_value(tf.cast(tf.floor(cy * s), tf.int32), 0, s - 1)
    # one owner per cell, the largest object (deterministic, no scatter collisions)
    owner = tf.one_hot(row * s + col, s * s) * tf.cast(valid, tf.float32)[:, None]     # (M, S*S)
    priority = owner * (w * h + 1.0)[:, None]
    best = tf.argmax(priority, axis=0, output_type=tf.int32)                           # (S*S,)
    has = tf.cast(tf.reduce_max(priority, axis=0) > 0, tf.float32)
    take = lambda v: tf.gather(v, best) * has                                         # noqa: E731
    x = take(cx * s - tf.cast(col, tf.float32))
    y = take(cy * s - tf.cast(row, tf.float32))
    sw = take(tf.sqrt(tf.maximum(w, 0.0)))
    sh = take(tf.sqrt(tf.maximum(h, 0.0)))
    onehot = tf.one_hot(tf.gather(tf.maximum(classes, 0), best), num_classes) * has[:, None]
    target = tf.concat([tf.stack([has, x, y, sw, sh], -1), onehot], -1)
    return tf.reshape(target, (s, s, 5 + num_classes))


def targets_to_outputs(targets, boxes_per_cell: int, slot: int = 0):
    """numpy: encoded targets (N, S, S, 5 + C) -> the outputs of a perfect model (N, S, S, B*5+C),
    the object in predictor `slot` of its cell (confidence 1), every other predictor empty.
    Used to check encode -> decode round trips."""
    import numpy as np

    t = np.asarray(targets, np.float64)
    n, s = t.shape[:2]
    out = np.zeros((n, s, s, 5 * boxes_per_cell + t.shape[-1] - 5))
    out[..., 5 * slot:5 * slot + 5] = t[..., :5]
    out[..., 5 * boxes_per_cell:] = t[..., 5:]
    return out
