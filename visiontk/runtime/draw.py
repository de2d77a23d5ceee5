"""Overlays on BGR uint8 frames (OpenCV order), shared by predict, demo and the exported runner."""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(i: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class index."""
    hue = (i * 47) % 180
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _scale(frame) -> float:
    return max(0.35, min(frame.shape[:2]) / 480.0)


def label(frame, text: str, org, color=(255, 255, 255), bg=(0, 0, 0), scale=None) -> np.ndarray:
    """Text with a filled background box; `org` is the top-left corner."""
    s = scale or 0.5 * _scale(frame)
    th = max(1, int(round(s * 2)))
    (tw, tht), base = cv2.getTextSize(text, FONT, s, th)
    x, y = int(org[0]), int(org[1])
    x = min(max(0, x), max(0, frame.shape[1] - tw - 4))
    y = min(max(0, y), max(0, frame.shape[0] - tht - base - 4))
    cv2.rectangle(frame, (x, y), (x + tw + 4, y + tht + base + 4), bg, -1)
    cv2.putText(frame, text, (x + 2, y + tht + 2), FONT, s, color, th, cv2.LINE_AA)
    return frame


def draw_top_k(frame: np.ndarray, top: list[tuple[str, float]]) -> np.ndarray:
    """Class names with probability bars in the top-left corner, drawn on `frame` (returned)."""
    s = _scale(frame)
    bar_w, row = int(120 * s), int(22 * s)
    # The panel darkens to 45 % in place: only its pixels are touched (blending a copy of the whole
    # frame cost 2.5x as much, and the demo's overlay stage runs on every frame); same pixels.
    panel = frame[:row * len(top) + 7, :int(bar_w * 2.4) + 1]
    cv2.addWeighted(panel, 0.45, panel, 0.0, 0, dst=panel)
    for i, (name, p) in enumerate(top):
        y = 4 + i * row
        cv2.rectangle(frame, (4, y + 2), (4 + int(bar_w * float(p)), y + row - 4), class_color(i), -1)
        cv2.putText(frame, f"{name} {p:.2f}", (8 + bar_w // 8, y + row - 7), FONT, 0.45 * s,
                    (255, 255, 255), max(1, int(s)), cv2.LINE_AA)
    return frame


def draw_box(frame, box, text: str, color) -> np.ndarray:
    t = max(1, int(round(2 * _scale(frame))))
    p1 = (int(round(box[0])), int(round(box[1])))
    p2 = (int(round(box[2])), int(round(box[3])))
    cv2.rectangle(frame, p1, p2, color, t, cv2.LINE_AA)
    if text:
        label(frame, text, (p1[0], p1[1] - int(18 * _scale(frame))), color=(0, 0, 0), bg=color)
    return frame


def blend_mask(frame, mask: np.ndarray, names: list[str], alpha: float = 0.45) -> np.ndarray:
    """Colour every non-background class of `mask` (H, W ints) over the frame, with a legend."""
    if mask.shape[:2] != frame.shape[:2]:
        mask = cv2.resize(mask.astype(np.uint8), (frame.shape[1], frame.shape[0]),
                          interpolation=cv2.INTER_NEAREST)
    colours = np.array([(0, 0, 0)] + [class_color(i) for i in range(max(len(names), int(mask.max())))],
                       np.uint8)
    painted = colours[mask.astype(np.int64)]
    fg = mask > 0
    out = frame.copy()
    out[fg] = (frame[fg] * (1 - alpha) + painted[fg] * alpha).astype(np.uint8)
    y = 4
    for i in sorted(int(v) for v in np.unique(mask) if v > 0):
        name = names[i - 1] if i - 1 < len(names) else str(i)
        label(out, name, (4, y), color=(0, 0, 0), bg=tuple(int(c) for c in colours[i]))
        y += int(20 * _scale(frame))
    return out
