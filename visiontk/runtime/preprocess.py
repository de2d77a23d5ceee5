"""Image preprocessing identical to training, from meta.json / metadata.json (numpy + OpenCV).

Training sees RGB float32 in [0, 1] at the model's input size (bilinear resize, or letterbox with
`resize: pad`); models carry any further normalisation inside themselves.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import InputError


def read_image(path: str | Path) -> np.ndarray:
    """BGR uint8 image, or an InputError naming the file."""
    if not Path(path).is_file():
        raise InputError(f"{path}: image not found")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{path}: not a readable image (corrupt, or a format OpenCV cannot decode)")
    return img


def letterbox_params(h: int, w: int, th: int, tw: int):
    scale = min(th / h, tw / w)
    nh, nw = int(round(h * scale)), int(round(w * scale))
    return scale, nh, nw, (th - nh) // 2, (tw - nw) // 2


def preprocess(frames_bgr: list[np.ndarray], meta: dict) -> np.ndarray:
    """BGR uint8 frames -> float32 batch (N, H, W, C) as the model was trained on."""
    h, w, c = meta["input"]["shape"]
    mode = meta["input"].get("resize", "stretch")
    out = np.zeros((len(frames_bgr), h, w, c), np.float32)
    for i, frame in enumerate(frames_bgr):
        img = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None] if c == 1 else \
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        ih, iw = img.shape[:2]
        interp = cv2.INTER_AREA if (ih > h or iw > w) else cv2.INTER_LINEAR
        if mode == "pad":
            _, nh, nw, top, left = letterbox_params(ih, iw, h, w)
            resized = cv2.resize(img, (nw, nh), interpolation=interp).reshape(nh, nw, c)
            out[i, top:top + nh, left:left + nw] = resized.astype(np.float32) / 255.0
        else:
            resized = img if (ih, iw) == (h, w) else cv2.resize(img, (w, h), interpolation=interp)
            out[i] = resized.reshape(h, w, c).astype(np.float32) / 255.0
    return out
