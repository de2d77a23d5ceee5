"""Drawing of synthetic scenes (numpy + OpenCV): textured backgrounds with coloured shapes.

One call gives the image and every annotation kind at once; the same seed gives the same scenes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond", "hexagon", "ellipse")

# distinct, saturated colours (RGB); identity = shape index * len(PALETTE) + colour index
PALETTE = np.array([(230, 40, 40), (40, 180, 60), (50, 90, 230), (240, 200, 30),
                    (200, 60, 210), (30, 200, 210), (250, 130, 20), (245, 245, 245)], np.uint8)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    def ring(n, radii, offset=0.0):
        pts = []
        for i in range(n):
            a = angle + offset + 2 * math.pi * i / n
            rr = radii[i % len(radii)]
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return np.array(pts)

    if shape == "square":
        return ring(4, [r], math.pi / 4)
    if shape == "triangle":
        return ring(3, [r], -math.pi / 2)
    if shape == "diamond":
        return ring(4, [r, 0.6 * r])
    if shape == "hexagon":
        return ring(6, [r])
    if shape == "star":
        return ring(10, [r, 0.45 * r], -math.pi / 2)
    if shape == "cross":
        w = 0.35 * r
        base = np.array([(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r),
                         (-w, w), (-r, w), (-r, -w), (-w, -w)])
        c, s = math.cos(angle), math.sin(angle)
        return base @ np.array([[c, s], [-s, c]]) + (cx, cy)
    raise ValueError(shape)


def _background(rng: np.random.Generator, h: int, w: int, texture: float) -> np.ndarray:
    """Smooth colour gradient plus multi-scale noise and stripes, so boxes are not trivial to find."""
    base = rng.uniform(40, 200, size=3)
    tilt = rng.uniform(-60, 60, size=(2, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = (base + (xx[..., None] / w) * tilt[0] + (yy[..., None] / h) * tilt[1]).astype(np.float32)
    if texture > 0:
        for cells in (4, 16):
            noise = rng.normal(0, 1, size=(cells, cells, 3)).astype(np.float32)
            img += np.float32(texture * 35) * cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
        if rng.random() < 0.5:
            period, phase = rng.uniform(6, 20), rng.uniform(0, 2 * math.pi)
            direction = rng.uniform(0, math.pi)
            stripes = np.sin((xx * math.cos(direction) + yy * math.sin(direction)) / period * 2 * math.pi
                             + phase)
            img += np.float32(texture * 20) * stripes[..., None].astype(np.float32)
    return img


def draw_scene(rng: np.random.Generator, h: int, w: int, *, classes: list[int], n_objects: int,
               size_range=(0.15, 0.45), max_iou: float = 0.3, texture: float = 0.5,
               noise: float = 0.02, colors: int = len(PALETTE)):
    """One scene.

    Returns:
        image uint8 (h, w, 3) RGB; objects: list of dicts (cls, color, box normalised x1,y1,x2,y2)
        sorted by area, largest first; mask uint8 (h, w) with 0 background and cls + 1 per pixel.
    """
    img = _background(rng, h, w, texture)
    mask = np.zeros((h, w), np.uint8)
    objects = []
    side = min(h, w)
    for _ in range(n_objects):
        for _attempt in range(30):
            cls = int(rng.choice(classes))
            r = rng.uniform(*size_range) * side / 2
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            angle = rng.uniform(0, 2 * math.pi)
            shape = SHAPES[cls]
            if shape == "circle":
                box = (cx - r, cy - r, cx + r, cy + r)
            elif shape == "ellipse":
                axes = (r, r * rng.uniform(0.45, 0.75))
                pts = cv2.ellipse2Poly((int(round(cx)), int(round(cy))),
                                       (int(round(axes[0])), int(round(axes[1]))),
                                       int(np.degrees(angle)), 0, 360, 5)
                box = (*pts.min(0), *pts.max(0))
            else:
                pts = _polygon(shape, cx, cy, r, angle)
                box = (*pts.min(0), *pts.max(0))
            box = np.clip(np.array(box, np.float64), 0, [w, h, w, h])
            if all(_iou(box, o["_px"]) <= max_iou for o in objects):
                break
        else:
            continue
        color_idx = int(rng.integers(colors))
        color = PALETTE[color_idx].astype(np.float32) + rng.normal(0, 12, 3)
        layer = np.zeros((h, w), np.uint8)
        if shape == "circle":
            cv2.circle(layer, (int(round(cx)), int(round(cy))), int(round(r)), 255, -1, cv2.LINE_AA)
        elif shape == "ellipse":
            cv2.fillPoly(layer, [pts.astype(np.int32)], 255, cv2.LINE_AA)
        else:
            cv2.fillPoly(layer, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        # blend inside the object's box only (the layer is zero elsewhere)
        x0, y0 = max(int(box[0]) - 2, 0), max(int(box[1]) - 2, 0)
        x1, y1 = min(int(box[2]) + 3, w), min(int(box[3]) + 3, h)
        alpha = layer[y0:y1, x0:x1].astype(np.float32)[..., None] / 255.0
        shade = 1.0 + 0.25 * rng.uniform(-1, 1) * np.linspace(-1, 1, x1 - x0, dtype=np.float32)[None, :, None]
        fill = np.clip(color.astype(np.float32) * shade, 0, 255)
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - alpha) + alpha * fill
        mask[layer >= 128] = cls + 1
        objects.append({"cls": cls, "color": color_idx, "_px": box,
                        "box": box / np.array([w, h, w, h], np.float64)})
    if noise > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise * 255)
    order = sorted(range(len(objects)), key=lambda i: -_area(objects[i]["_px"]))
    objects = [objects[i] for i in order]
    return np.clip(img, 0, 255).astype(np.uint8), objects, mask


def _area(b) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0
