"""The per-epoch validation of the embedding task: retrieval recall@1 and MAP@R on (at most N)
validation images, written into the epoch logs as `val_recall@1` / `val_map@r` (the best-checkpoint
monitor) before the checkpoint, early-stopping and history callbacks read them."""

from __future__ import annotations

import keras
import numpy as np

from visiontk.tasks.metric.search import retrieval_metrics


class RetrievalCallback(keras.callbacks.Callback):
    """Embeds the validation images after every epoch and scores retrieval among them: on the
    held-out identities when the split has some (the point of metric learning), else on all."""

    def __init__(self, task, val_batches, max_images: int):
        super().__init__()
        self.task = task
        self.val_batches = val_batches
        self.max_images = max_images
        self._images = None
        self._ids = None

    def _load(self):
        images, ids, n = [], [], 0
        for x, ann in self.val_batches:
            x, i = np.asarray(x), np.asarray(ann["identity"])
            images.append(x[: self.max_images - n])
            ids.append(i[: self.max_images - n])
            n += len(images[-1])
            if n >= self.max_images:
                break
        self._images, self._ids = np.concatenate(images), np.concatenate(ids)
        unseen = ~self.task.seen_mask(self._ids)
        self._part = unseen if unseen.sum() >= 2 else np.ones(len(self._ids), bool)

    def on_epoch_end(self, epoch, logs=None):
        if self._images is None:
            self._load()
        embedder = self.task.inference_model(self.model)
        emb = np.concatenate([np.asarray(embedder(self._images[i:i + 256], training=False))
                              for i in range(0, len(self._images), 256)])
        m = retrieval_metrics(emb[self._part], self._ids[self._part], distance=self.task.cfg.distance,
                              ks=(1,))
        if logs is not None and m["recall@1"] is not None:
            logs["val_recall@1"] = float(m["recall@1"])
            logs["val_map@r"] = float(m["map@r"])
