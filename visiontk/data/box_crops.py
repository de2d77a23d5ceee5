"""`data.crops`: any source with boxes becomes a classification source of its objects' crops.

Each object's box is cut out as a two-stage detector's second stage cuts a predicted box (the square
around it, `margin` x its longer side, resampled to the model's input size with the filter of
`visiontk.layers.BoxCrop`; numpy here, so both give the same pixels), labelled with its class. In
the training split each box is first moved and resized at random by up to `jitter` of its size (the
detector's boxes are never exact); validation and test crops use the true boxes.
"""

from __future__ import annotations

import numpy as np

from visiontk.data.base import DataSource, SplitData
from visiontk.errors import DataError
from visiontk.recipe.schema import CropsCfg

__all__ = ["CroppedSource", "crop_boxes"]


def _filters(centre: np.ndarray, side: np.ndarray, size: int, n: int) -> np.ndarray:
    """(K, size, n): BoxCrop's resampling filter (triangle, widened when shrinking, border repeat)."""
    t = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    pos = np.clip(centre[:, None] + t[None] * side[:, None] - 0.5, 0.0, n - 1.0)
    width = np.maximum(side / size, 1.0)[:, None, None]
    w = np.maximum(1.0 - np.abs(pos[:, :, None] - np.arange(n, dtype=np.float32)) / width, 0.0)
    return w / np.maximum(w.sum(-1, keepdims=True), 1e-6)


def crop_boxes(image: np.ndarray, boxes: np.ndarray, size: int, margin: float) -> np.ndarray:
    """One image (H, W, C) and K boxes (cx, cy, w, h relative to it) -> (K, size, size, C) float32
    crops, as `BoxCrop(size, margin)` computes them."""
    img = np.asarray(image, np.float32)
    h, w = img.shape[:2]
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    side = np.maximum(np.maximum(b[:, 2] * w, b[:, 3] * h) * margin, 1.0)
    wy = _filters(b[:, 1] * h, side, size, h)                       # (K, s, H)
    wx = _filters(b[:, 0] * w, side, size, w)                       # (K, s, W)
    x = np.matmul(wy[:, None], np.transpose(img, (2, 0, 1))[None])  # (K, C, s, W)
    x = np.matmul(x, np.transpose(wx, (0, 2, 1))[:, None])         # (K, C, s, s)
    return np.transpose(x, (0, 2, 3, 1))


class CroppedSource(DataSource):
    """Wraps a source that provides `boxes` and `classes`: one image per object, `label` its class."""

    provides = ("label",)

    def __init__(self, inner: DataSource, crops: CropsCfg, *, input_shape, seed: int = 0):
        super().__init__(crops, input_shape=input_shape, seed=seed)
        if "boxes" not in inner.provides or "classes" not in inner.provides:
            raise DataError(f"data.crops cuts out the objects' boxes, and data source "
                            f"'{inner.name}' provides no boxes and classes (it provides: "
                            f"{', '.join(inner.provides)}); remove data.crops or use a source "
                            f"with boxes (coco, yolo, voc, fashion-scenes, synthetic-scenes)")
        self.inner = inner
        self.name = inner.name
        self.crops = crops

    def class_names(self):
        return self.inner.class_names()

    def splits(self):
        return self.inner.splits()

    def split_hint(self, split):
        return self.inner.split_hint(split)

    def extra_info(self):
        return self.inner.extra_info()

    def load(self, split: str) -> SplitData:
        return self._cut(split, self.inner.load(split))

    def head(self, split: str, n: int) -> SplitData:
        data = self._cut(split, self.inner.head(split, n))
        return SplitData(data.images[:n], {"label": data.annotations["label"][:n]})

    def _cut(self, split: str, data: SplitData) -> SplitData:
        from visiontk.progress import progress

        cfg, size = self.crops, self.input_shape[0]
        train = split == "train"
        rng = np.random.default_rng([self.seed, 0xC809])
        crops, labels = [], []
        for i in progress(range(len(data)), f"cutting out the {split} split's objects"):
            image = _image(data, i)
            h, w = image.shape[:2]
            boxes = np.asarray(data.annotations["boxes"][i], np.float32).reshape(-1, 4)
            classes = np.asarray(data.annotations["classes"][i]).reshape(-1)
            keep = (classes >= 0) & (np.maximum((boxes[:, 2] - boxes[:, 0]) * w,
                                                (boxes[:, 3] - boxes[:, 1]) * h) >= cfg.min_size)
            boxes, classes = boxes[keep], classes[keep]
            if not len(boxes):
                continue
            cxcywh = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                               boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], -1)
            if train:
                cxcywh = np.concatenate([_jitter(cxcywh, cfg.jitter, rng)
                                         for _ in range(cfg.copies)])
                classes = np.tile(classes, cfg.copies)
            cut = crop_boxes(image, cxcywh, size, cfg.margin)
            if image.dtype == np.uint8:                 # stored as the source's images are
                cut = np.clip(cut + 0.5, 0, 255).astype(np.uint8)
            crops.append(cut)
            labels.append(classes.astype(np.int32))
        if not crops:
            raise DataError(f"data.crops: the {split} split of data source '{self.inner.name}' "
                            f"has no object boxes to cut out")
        return SplitData(np.concatenate(crops), {"label": np.concatenate(labels)})


def _jitter(cxcywh: np.ndarray, amount: float, rng) -> np.ndarray:
    """Centre moved by up to `amount` of the box's size, each side scaled by 1 +- `amount`."""
    if not amount:
        return cxcywh
    k = len(cxcywh)
    shift = rng.uniform(-amount, amount, (k, 2)) * cxcywh[:, 2:]
    scale = rng.uniform(1 - amount, 1 + amount, (k, 2))
    return np.concatenate([cxcywh[:, :2] + shift, cxcywh[:, 2:] * scale], -1).astype(np.float32)


def _image(data: SplitData, i: int) -> np.ndarray:
    """Image i as an (H, W, C) array: in memory, or read from its file (RGB)."""
    if not isinstance(data.images, list):
        img = data.images[i]
        return img[..., None] if img.ndim == 2 else img
    import cv2

    path = str(data.images[i])
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"cannot read image {path}; check that it exists and is an image file")
    if img.ndim == 2:
        return img[..., None]
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
