"""Model-resolution maps (masks, probabilities, images) back onto the original image's pixels.

Undoes, in order: the centre crop of valid-padding networks (output smaller than the input: the map
covers the input's centre), the letterbox of `resize: pad`, and the resize to the input size.
"""

from __future__ import annotations

import cv2
import numpy as np

from .preprocess import letterbox_params


def to_input_canvas(arr: np.ndarray, meta: dict, fill) -> np.ndarray:
    """A map of the model's output size placed at the centre of an input-sized canvas."""
    h, w = meta["input"]["shape"][:2]
    oh, ow = arr.shape[:2]
    if (oh, ow) == (h, w):
        return arr
    canvas = np.empty((h, w) + arr.shape[2:], arr.dtype)
    canvas[...] = fill
    top, left = (h - oh) // 2, (w - ow) // 2
    canvas[top:top + oh, left:left + ow] = arr
    return canvas


def to_original(arr: np.ndarray, meta: dict, size, *, interpolation=cv2.INTER_LINEAR) -> np.ndarray:
    """An input-sized map (H, W[, C]) resized to the original (h, w), undoing a letterbox."""
    h, w = meta["input"]["shape"][:2]
    if size is None:
        return arr
    oh, ow = int(size[0]), int(size[1])
    if meta["input"].get("resize", "stretch") == "pad":
        _, nh, nw, top, left = letterbox_params(oh, ow, h, w)
        arr = arr[top:top + nh, left:left + nw]
    if arr.shape[:2] == (oh, ow):
        return arr
    squeeze = arr.ndim == 3 and arr.shape[2] == 1
    out = cv2.resize(arr, (ow, oh), interpolation=interpolation)
    return out[..., None] if squeeze and out.ndim == 2 else out
