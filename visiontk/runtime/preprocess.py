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
    """BGR uint8 frames -> float32 batch (N, H, W, C) as the model was trained on.

    Each frame is resized into one uint8 batch, which is turned to RGB and float once: the same
    values as converting each image on its own (resizing works per channel, x / 255 per element),
    at about half the cost for small images.
    """
    h, w, c = meta["input"]["shape"]
    pad = meta["input"].get("resize", "stretch") == "pad"
    batch = np.zeros((len(frames_bgr), h, w, c), np.uint8)
    if not frames_bgr:
        return batch.astype(np.float32)
    for i, frame in enumerate(frames_bgr):
        img = _channels(frame, c)
        ih, iw = img.shape[:2]
        interp = cv2.INTER_AREA if (ih > h or iw > w) else cv2.INTER_LINEAR
        if pad:
            _, nh, nw, top, left = letterbox_params(ih, iw, h, w)
            batch[i, top:top + nh, left:left + nw] = \
                cv2.resize(img, (nw, nh), interpolation=interp).reshape(nh, nw, c)
        elif (ih, iw) == (h, w):
            batch[i] = img.reshape(h, w, c)
        else:                                    # straight into the batch (a contiguous view)
            cv2.resize(img, (w, h), dst=batch[i], interpolation=interp)
    rows = batch.reshape(-1, w, c)               # the batch as one image, N*H rows high
    if c == 3:                                   # BGR -> RGB for the whole batch, in place
        cv2.cvtColor(rows, cv2.COLOR_BGR2RGB, dst=rows)
    return cv2.LUT(rows, _UNIT).reshape(batch.shape)


# x / 255 in float32 for every uint8 value: a table look-up gives exactly what
# `x.astype(np.float32) / 255.0` gives, element by element.
_UNIT = np.arange(256, dtype=np.float32) / np.float32(255.0)


def _channels(frame: np.ndarray, c: int) -> np.ndarray:
    """The frame with the model's channel count, in BGR order for colour (grey: one channel)."""
    if frame.ndim == 2 or frame.shape[2] == 1:
        img = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        img = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    else:
        img = frame
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if c == 1 else img
