"""Semantic segmentation: per-pixel classes (0 background, i + 1 = class i) from a U-Net or any
backbone through an upsampling decoder (tasks/_dense_head.py).

Output: a softmax over background + classes (K + 1 channels), or for one foreground class with
`output: sigmoid` (the default there) a single foreground probability. Losses: cross-entropy (binary
for sigmoid), Dice, or their weighted sum (`loss: ce_dice`, `ce_weight`, `dice_weight`). Training
metrics: mean IoU (keras.metrics.MeanIoU over all classes, background included) and pixel accuracy;
evaluation adds per-class IoU and Dice, foreground means and an overlay PNG.

With `model.head.detector` (a detection run), model.keras and the exports name the object pixels
after the detector's boxes (box_classes.py); training and `val_mean_iou` are the segmenter's own.

Valid-padding networks (U-Net `padding: valid`) give a map smaller than the input that covers its
centre: targets are centre-cropped to it in training and evaluation, and decode pads it back
(outside its view counts as background).
"""

from __future__ import annotations

from visiontk.errors import RecipeError
from visiontk.catalog import TASKS
from visiontk.runtime import segmentation as runtime
from visiontk.tasks.base import EvalContext, Evaluation, Task
from visiontk.tasks.segmentation.config import SegmentationHead


@TASKS.register("segmentation", aliases=("segment",))
class Segmentation(Task):
    name = "segmentation"
    Config = SegmentationHead
    needs = ("mask",)
    geometry = ("mask",)
    monitor = ("val_mean_iou", "max")
    metric_modes = {"mean_iou": "max", "pixel_accuracy": "max"}
    summary_metrics = ("mean_iou",)
    # rotate / zoom are Keras image layers: the mask would not follow them
    augmentations = frozenset({"flip", "translate", "brightness", "contrast"})
    runtime = runtime

    def __init__(self, cfg, info, recipe=None):
        super().__init__(cfg, info, recipe)
        k = info.num_classes
        if cfg.output == "sigmoid" and k != 1:
            raise RecipeError(f"model.head.output: 'sigmoid' is for one foreground class; the data has "
                              f"{k} classes ({', '.join(info.class_names)}); use softmax (or auto)")
        self.output = cfg.output if cfg.output != "auto" else ("sigmoid" if k == 1 else "softmax")
        self.channels = 1 if self.output == "sigmoid" else k + 1
        if cfg.detector is not None and self.output == "sigmoid":
            raise RecipeError("model.head.detector: box naming chooses among classes; with one "
                              "foreground class (sigmoid output) there is nothing to name; remove "
                              "the key")
        self.crop = None        # (top, left, h, w) of the output inside the input (valid padding)

    @property
    def names(self) -> list[str]:
        return ["background", *self.info.class_names]

    def build(self, backbone, dropout=None):
        import keras
        from keras import layers

        from visiontk.tasks._dense_head import full_resolution, image_input

        if self.cfg.detector is not None:       # a detector that cannot name: refused before training
            from visiontk.tasks.segmentation.box_classes import load_detector

            load_detector(self.cfg.detector, self.info.class_names, self.info.input_shape[2])
        inputs = image_input(self.info.input_shape)
        feature = self.recipe.model.feature if self.recipe else None
        x = full_resolution(backbone(inputs), self.info.input_shape, feature=feature,
                            width=self.cfg.decoder_width, name="seg")
        if dropout:
            x = layers.SpatialDropout2D(dropout, name="seg_dropout")(x)
        act = "sigmoid" if self.output == "sigmoid" else "softmax"
        out = layers.Conv2D(self.channels, 1, activation=act, dtype="float32", name="mask_probs")(x)
        h, w = self.info.input_shape[:2]
        oh, ow = out.shape[1], out.shape[2]
        self.crop = None if (oh, ow) == (h, w) else ((h - oh) // 2, (w - ow) // 2, oh, ow)
        return keras.Model(inputs, out, name="segmenter")

    def inference_model(self, model):
        """With model.head.detector: the segmenter + the detector's boxes naming the object pixels
        (box_classes.py)."""
        if self.cfg.detector is None:
            return model
        from visiontk.tasks.segmentation.box_classes import load_detector, named_by_boxes

        detector = load_detector(self.cfg.detector, self.info.class_names, self.info.input_shape[2])
        h, w = self.info.input_shape[:2]
        oh, ow = model.output_shape[1:3]                 # smaller than the input: valid padding
        window = None if (oh, ow) == (h, w) else ((h - oh) // 2, (w - ow) // 2, h, w)
        return named_by_boxes(model, detector, min_score=self.cfg.detector.min_score, window=window)

    def loss(self):
        from visiontk.tasks.segmentation.loss import CrossEntropyDiceLoss

        ce = self.cfg.ce_weight if self.cfg.loss in ("ce", "ce_dice") else 0.0
        dice = self.cfg.dice_weight if self.cfg.loss in ("dice", "ce_dice") else 0.0
        if ce == 0.0 and dice == 0.0:
            raise RecipeError(f"model.head: loss '{self.cfg.loss}' with weight 0 leaves nothing to "
                              f"train; set ce_weight / dice_weight above 0")
        return CrossEntropyDiceLoss(ce_weight=ce, dice_weight=dice)

    def metrics(self):
        import keras

        if self.output == "sigmoid":
            return [keras.metrics.BinaryIoU(target_class_ids=(0, 1), threshold=self.cfg.threshold,
                                            name="mean_iou"),
                    keras.metrics.BinaryAccuracy(threshold=self.cfg.threshold, name="pixel_accuracy")]
        return [keras.metrics.MeanIoU(num_classes=self.channels, sparse_y_true=True,
                                      sparse_y_pred=False, name="mean_iou"),
                keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy")]

    def encode(self, image, annotation):
        import tensorflow as tf

        mask = tf.cast(annotation["mask"], tf.int32)
        if self.crop is not None:
            top, left, oh, ow = self.crop
            mask = mask[top:top + oh, left:left + ow]
        if self.output == "sigmoid":
            return image, tf.cast(mask > 0, tf.float32)[..., None]
        return image, mask

    def meta(self):
        return {"output": self.output, "threshold": self.cfg.threshold}

    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        from visiontk.tasks.segmentation.evaluation import segmentation_report

        return Evaluation(segmentation_report(predict_fn, batches, self.names, self.output,
                                              self.cfg.threshold, out_dir, samples=self.cfg.samples))
