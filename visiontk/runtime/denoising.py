"""Denoising / autoencoders: the reconstructed image -> Prediction.image (uint8 RGB, or one grey
channel, at the original size); overlay = the input and the denoised frame side by side.

meta["decode"]: {"channels": C}. Outputs are (B, H, W, C) in [0, 1] (sigmoid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from .draw import label
from .maps import to_original
from .predictions import Prediction


@dataclass
class DenoisingPrediction(Prediction):
    """The reconstructed image (not in the JSON); extra["output_mean"] its mean value in [0, 1]."""

    task: ClassVar[str] = "denoising"
    image: np.ndarray                                # (H, W, C) uint8, RGB or grey

    def differences(self, other, size) -> list[str]:
        a, b = self.image.astype(np.int16), other.image.astype(np.int16)
        if a.shape != b.shape or np.max(np.abs(a - b)) > 1:
            return ["output image differs by more than 1 grey level"]
        return []


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 (rounded, clipped).

    Example:
        >>> to_uint8(np.array([0.0, 0.5, 1.2])).tolist()
        [0, 128, 255]
    """
    return np.clip(np.asarray(image, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def decode(outputs, meta: dict, sizes=None) -> list:
    """One Prediction per image with `image` (H, W, C) uint8 in the model's colour order (RGB or grey)
    at the original size; extra["output_mean"] is the mean output value in [0, 1]."""
    images = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    preds = []
    for i, img in enumerate(images):
        size = sizes[i] if sizes is not None else None
        big = to_original(img, meta, size)
        if big.ndim == 2:
            big = big[..., None]
        preds.append(DenoisingPrediction(image=to_uint8(big),
                                         extra={"output_mean": round(float(img.mean()), 4)}))
    return preds


def to_bgr(image: np.ndarray) -> np.ndarray:
    """A Prediction.image (RGB or grey, uint8) as a BGR frame."""
    if image.ndim == 2 or image.shape[-1] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def fit_into(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """`image` scaled to fit an h x w box (aspect kept), centred on black."""
    ih, iw = image.shape[:2]
    s = min(h / ih, w / iw)
    nh, nw = max(1, int(round(ih * s))), max(1, int(round(iw * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = np.zeros((h, w, 3), np.uint8)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=interp)
    return out


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    """The frame (left) and the denoised frame (right), each scaled into half the width, labelled;
    the result has the frame's size (the demo writes videos of the source's size)."""
    h, w = frame.shape[:2]
    half = w // 2
    out = np.zeros_like(frame)
    out[:, :half] = fit_into(frame, h, half)
    out[:, half:] = fit_into(to_bgr(prediction.image), h, w - half)
    cv2.line(out, (half, 0), (half, h - 1), (255, 255, 255), 1)
    label(out, "input", (4, 4))
    label(out, "denoised", (half + 4, 4))
    return out
