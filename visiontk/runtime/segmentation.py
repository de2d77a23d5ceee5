"""Segmentation: per-pixel probabilities -> class map (0 background, i + 1 = class i) at the
original image size; overlay = the coloured mask blended on the frame with a legend.

meta["decode"]: {"output": "softmax" | "sigmoid", "threshold": sigmoid cut-off}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .draw import blend_mask
from .maps import to_input_canvas, to_original
from .predictions import Prediction


@dataclass
class SegmentationPrediction(Prediction):
    """The class map at the original size; extra["foreground_fraction"] the share of non-background."""

    task: ClassVar[str] = "segmentation"
    mask: np.ndarray                                 # (H, W) int: 0 background, i + 1 = class i

    def json_fields(self) -> dict:
        ids, counts = np.unique(self.mask, return_counts=True)
        return {"mask_pixels": {int(i): int(c) for i, c in zip(ids, counts)}}

    def differences(self, other, size) -> list[str]:
        if self.mask.shape != other.mask.shape:
            return ["mask differs (shape)"]
        wrong = int(np.sum(self.mask != other.mask))
        return [f"mask differs ({wrong} pixels)"] if wrong else []


def label_map(probs: np.ndarray, output: str, threshold: float = 0.5) -> np.ndarray:
    """(..., H, W, K) probabilities -> (..., H, W) int class map."""
    if output == "sigmoid":
        return (probs[..., 0] >= threshold).astype(np.int32)
    return np.argmax(probs, axis=-1).astype(np.int32)


def decode(outputs, meta: dict, sizes=None) -> list:
    probs = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs, np.float32)
    dec = meta.get("decode", {})
    output, threshold = dec.get("output", "softmax"), float(dec.get("threshold", 0.5))
    preds = []
    for i, p in enumerate(probs):
        fill = np.zeros(p.shape[-1], np.float32)
        if output == "softmax":
            fill[0] = 1.0                           # outside a valid-padding net's view: background
        p = to_input_canvas(p, meta, fill)
        size = sizes[i] if sizes is not None else None
        p = to_original(p, meta, size)
        mask = label_map(p, output, threshold)
        fg = mask > 0
        preds.append(SegmentationPrediction(mask=mask, extra={"foreground_fraction":
                                                              round(float(fg.mean()), 6)}))
    return preds


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    return blend_mask(frame, prediction.mask, meta.get("class_names", []))
