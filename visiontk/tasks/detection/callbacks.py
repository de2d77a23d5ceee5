"""Validation mAP during training: writes `val_map50` and `val_map` into the epoch logs, so early
stopping and the best checkpoint can follow them (the trainer runs task callbacks first)."""

from __future__ import annotations

import keras


class MapCallback(keras.callbacks.Callback):
    """COCOeval mAP on the (unencoded) validation batches every `every` epochs and at the last one."""

    def __init__(self, task, val_batches, every: int = 1):
        super().__init__()
        self.task = task
        self.val_batches = val_batches
        self.every = max(1, int(every))

    def on_train_begin(self, logs=None):
        from visiontk.model_files import keras_predict_fn

        self._predict = keras_predict_fn(self.model)
        self._last = (self.params or {}).get("epochs")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or ((epoch + 1) % self.every and epoch + 1 != self._last):
            return
        from visiontk.data.pipeline import numpy_batches
        from visiontk.tasks.detection.evaluation import coco_dicts, coco_map, collect

        meta = self.task.eval_meta(trained=True)
        gts, preds, sizes, _, _ = collect(self._predict, numpy_batches(self.val_batches), meta,
                                       self.task.cfg.eval_score_threshold,
                                       multi_label=self.task.cfg.eval_multi_label)
        gt_ds, dets = coco_dicts(gts, [p.boxes for p in preds], sizes, meta["class_names"])
        result = coco_map(gt_ds, dets)
        logs["val_map50"] = result["map50"]
        logs["val_map"] = result["map"]
