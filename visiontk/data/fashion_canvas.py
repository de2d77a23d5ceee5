"""Drawing of Fashion-MNIST scenes (numpy + OpenCV): garments on cluttered backgrounds.

One call draws one scene and returns every annotation from the same pixels: each garment's hard
mask is painted into an instance map in drawing order (a later garment hides an earlier one), and
boxes, classes, the semantic mask and the count are read from what stays visible. A placement that
would hide more than `1 - min_visible` of an earlier garment is refused, so every garment drawn is
annotated (nothing half-hidden is left unlabelled in the picture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

MASK_THRESHOLD = 6         # resized photo intensity above which a pixel belongs to the garment
HOLE_FILL_FRACTION = 0.05  # enclosed holes up to this share of the garment are filled (prints)
HOLE_EMPTY = 0.5           # a larger hole stays a hole when this share of it is true background
SPECK_FRACTION = 0.03      # garment parts smaller than this share of the largest part are dust
ATTEMPTS = 30              # placements tried per garment before giving it up


@dataclass
class Scene:
    """One drawn scene.

    Attributes:
        image: uint8 (h, w, channels).
        instances: uint8 (h, w); 0 background, i + 1 for the object of row i below.
        classes: Fashion-MNIST labels (0-9) of the objects, largest visible box first.
        photos: the index of each object's photograph in the `photos` array given to `draw_scene`.
        boxes: float64 (n, 4) normalised x1, y1, x2, y2, tight on each object's visible pixels.
    """

    image: np.ndarray
    instances: np.ndarray
    classes: list
    photos: list
    boxes: np.ndarray


def _colour(rng: np.random.Generator, channels: int, lo: float, hi: float) -> np.ndarray:
    """A random colour (or grey level when `channels` is 1) with brightness in [lo, hi]."""
    level = rng.uniform(lo, hi)
    if channels == 1:
        return np.array([level], np.float32)
    hue = rng.dirichlet((1.0, 1.0, 1.0)) * 3          # mean 1 per channel
    rgb = level * (0.45 + 0.55 * hue / hue.max())
    return np.clip(rgb, 0, 255).astype(np.float32)


def _blend(img: np.ndarray, alpha: np.ndarray, fill) -> None:
    """img = img * (1 - alpha) + fill * alpha, in place; alpha (h, w), fill (c,) or (h, w, c)."""
    a = alpha[..., None]
    img *= 1 - a
    img += a * fill


def _noise_field(rng: np.random.Generator, h: int, w: int, cells: int, channels: int) -> np.ndarray:
    small = rng.standard_normal((cells, cells, channels)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)


@lru_cache(maxsize=4)
def _grid(h: int, w: int) -> np.ndarray:
    """Row and column coordinates, float32 (2, h, w); shared, never written to."""
    grid = np.mgrid[0:h, 0:w].astype(np.float32)
    grid.flags.writeable = False
    return grid


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripes, a checkerboard or cross-hatching in [-1, 1], (h, w)."""
    yy, xx = _grid(h, w)
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    period = rng.uniform(3, 16)
    kind = rng.integers(3)
    if kind == 0:
        return np.sin(u / period * 2 * math.pi + rng.uniform(0, 2 * math.pi))
    if kind == 1:
        return np.sign(np.sin(u / period * math.pi) * np.sin(v / period * math.pi))
    return np.maximum(np.sin(u / period * 2 * math.pi), np.sin(v / period * 2 * math.pi))


def _distractor(rng: np.random.Generator, h: int, w: int, side: int, size_range) -> np.ndarray:
    """A uint8 layer (h, w), 255 inside one stroke, blob or rectangle about the garments' size."""
    layer = np.zeros((h, w), np.uint8)
    r = rng.uniform(*size_range) * side / 2
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    kind = rng.integers(3)
    if kind == 0:       # a wandering stroke
        steps = rng.integers(2, 6)
        pts = np.cumsum(rng.normal(0, r, (steps, 2)), 0) + (cx, cy)
        cv2.polylines(layer, [np.round(pts).astype(np.int32)], False, 255,
                      int(rng.integers(1, max(2, int(r / 3)))), cv2.LINE_AA)
    elif kind == 1:     # a blob
        axes = (max(1, int(r)), max(1, int(r * rng.uniform(0.3, 1.0))))
        cv2.ellipse(layer, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 255, -1,
                    cv2.LINE_AA)
    else:               # a rectangle, filled or outlined
        box = cv2.boxPoints(((cx, cy), (2 * r, 2 * r * rng.uniform(0.3, 1.0)), rng.uniform(0, 90)))
        pts = np.round(box).astype(np.int32)
        if rng.random() < 0.6:
            cv2.fillPoly(layer, [pts], 255, cv2.LINE_AA)
        else:
            cv2.polylines(layer, [pts], True, 255, int(rng.integers(1, 4)), cv2.LINE_AA)
    return layer


def background(rng: np.random.Generator, h: int, w: int, *, channels: int, clutter: float,
               size_range) -> np.ndarray:
    """Gradient, multi-scale noise, a texture and distractors in the garments' intensity range;
    float32 (h, w, channels) on 0-255 (not clipped)."""
    base = _colour(rng, channels, 20, 230)
    tilt = rng.uniform(-70, 70, size=(2, 1)) * (0.3 + 0.7 * rng.random(size=(2, channels)))
    yy, xx = _grid(h, w)
    img = base + (xx[..., None] / w) * tilt[0].astype(np.float32) \
        + (yy[..., None] / h) * tilt[1].astype(np.float32)
    if clutter <= 0:
        return img
    for cells, amp in ((4, 40), (16, 25), (48, 12)):
        img += np.float32(clutter * amp) * _noise_field(rng, h, w, cells, channels)
    if rng.random() < 0.7:
        tex = _texture(rng, h, w)
        img += np.float32(clutter * rng.uniform(10, 40)) * tex[..., None]
    side = min(h, w)
    for _ in range(int(rng.poisson(clutter * 12))):
        layer = _distractor(rng, h, w, side, size_range)
        x, y, bw, bh = cv2.boundingRect(layer)            # blend only where it was drawn
        if bw == 0 or bh == 0:
            continue
        opacity = np.float32(rng.uniform(0.6, 1.0) / 255)
        alpha = layer[y:y + bh, x:x + bw].astype(np.float32) * opacity
        fill = _colour(rng, channels, 40, 255)
        if rng.random() < 0.5:   # textured fill, like a garment's folds and prints
            fill = fill * (0.65 + 0.35 * _noise_field(rng, bh, bw, int(rng.integers(3, 10)), 1))
        _blend(img[y:y + bh, x:x + bw], alpha, fill)
    return img


def garment_mask(patch: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """The garment's pixels (bool) in a resized photo (float32): above MASK_THRESHOLD, dust removed,
    enclosed holes filled unless large and mostly true background (`empty`, bool: the photo's
    zeros, resized by nearest neighbour; interpolation would blur them away) (a sandal's straps, a
    bag's handle, the gap between trouser legs stay holes; a dark print inside a shirt is garment)."""
    hard = (patch > MASK_THRESHOLD).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if n > 2:
        areas = stats[:, cv2.CC_STAT_AREA]
        keep = areas >= SPECK_FRACTION * areas[1:].max()
        keep[0] = False
        hard = keep[lab].astype(np.uint8)
    # background regions (4-connected, dual of the 8-connected garment); the padding joins
    # everything that touches the patch's border into one outside region
    padded = cv2.copyMakeBorder(1 - hard, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(padded, connectivity=4)
    if n <= 2:                      # label 0 is the garment, 1 the outside: no hole
        return hard.astype(bool)
    outside = lab[0, 0]
    lab = lab[1:-1, 1:-1]
    sizes = stats[:, cv2.CC_STAT_AREA]
    zeros = np.bincount(lab[empty], minlength=n)
    fill = (sizes <= HOLE_FILL_FRACTION * hard.sum()) | (zeros < HOLE_EMPTY * sizes)
    fill[0] = fill[outside] = False
    return fill[lab] | hard.astype(bool)


def garment(photo: np.ndarray, longer_side: float):
    """The photo cropped to its garment and resized so that its longer side is `longer_side`
    pixels: (intensities float32 (ph, pw), mask bool (ph, pw)), or None when nothing is left."""
    rows, cols = np.nonzero(photo > MASK_THRESHOLD)
    if len(rows) == 0:
        return None
    crop = photo[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1].astype(np.float32)
    scale = longer_side / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    patch = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    empty = cv2.resize((crop == 0).view(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    mask = garment_mask(patch, empty.view(bool))
    return (patch, mask) if mask.any() else None


def _tight(mask: np.ndarray):
    """(x1, y1, x2, y2) pixel box of a bool mask, x2/y2 exclusive."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return cols[0], rows[0], cols[-1] + 1, rows[-1] + 1


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _paint(img: np.ndarray, patch: np.ndarray, mask: np.ndarray, y0: int, x0: int, colour) -> None:
    """Alpha-blend the garment (the tint modulated by the photo's intensities, soft edges)."""
    h, w = img.shape[:2]
    alpha = cv2.GaussianBlur(cv2.copyMakeBorder(mask.astype(np.float32), 1, 1, 1, 1,
                                                cv2.BORDER_CONSTANT, value=0), (3, 3), 0.6)
    shade = cv2.copyMakeBorder(patch, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    fill = colour * (0.15 + 0.85 / 255 * shade)[..., None]
    ya, xa = max(y0 - 1, 0), max(x0 - 1, 0)            # the padded patch, clipped to the canvas
    yb, xb = min(y0 + mask.shape[0] + 1, h), min(x0 + mask.shape[1] + 1, w)
    sl = (slice(ya - y0 + 1, yb - y0 + 1), slice(xa - x0 + 1, xb - x0 + 1))
    region = img[ya:yb, xa:xb]
    _blend(region, alpha[sl], fill[sl])


def draw_scene(rng: np.random.Generator, h: int, w: int, *, photos: np.ndarray, pool: np.ndarray,
               labels: np.ndarray, n_objects: int, size_range=(0.1, 0.5), max_iou: float = 0.3,
               min_visible: float = 0.5, clutter: float = 0.5, noise: float = 0.02,
               channels: int = 3, tint: bool = True) -> Scene:
    """One scene of up to `n_objects` garments (fewer when no placement fits).

    Args:
        rng: the scene's generator (the scene depends on nothing else but the arguments).
        photos: uint8 (N, 28, 28) Fashion-MNIST photographs; labels: their classes (N,).
        pool: the indices into `photos` this scene may draw from.
        size_range: the garment's longer side, as fractions of the canvas's shorter side.
        max_iou: the largest IoU allowed between two garments' boxes.
        min_visible: the share of its pixels each garment keeps visible under later ones.
        clutter: strength of the background's noise, texture and distractors (0-1).
        noise: pixel noise std, as a fraction of 255.
        channels: 1 (grey) or 3; tint: colour garments and background (grey when False).
    """
    col = channels if tint else 1
    img = background(rng, h, w, channels=col, clutter=clutter, size_range=size_range)
    inst = np.zeros((h, w), np.int32)          # drawing order + 1
    placed: list[dict] = []
    side = min(h, w)
    for _ in range(n_objects):
        for _attempt in range(ATTEMPTS):
            j = int(pool[rng.integers(len(pool))])
            drawn = garment(photos[j], rng.uniform(*size_range) * side)
            if drawn is None or drawn[1].shape[0] > h or drawn[1].shape[1] > w:
                continue
            patch, mask = drawn
            y0 = int(rng.integers(h - mask.shape[0] + 1))
            x0 = int(rng.integers(w - mask.shape[1] + 1))
            bx = _tight(mask)
            box = (bx[0] + x0, bx[1] + y0, bx[2] + x0, bx[3] + y0)
            if any(_iou(box, o["box"]) > max_iou for o in placed):
                continue
            hidden = np.bincount(inst[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]][mask],
                                 minlength=len(placed) + 1)[1:]
            if any(o["visible"] - k < min_visible * o["own"] for o, k in zip(placed, hidden)):
                continue
            break
        else:
            continue
        for o, k in zip(placed, hidden):
            o["visible"] -= int(k)
        _paint(img, patch, mask, y0, x0, _colour(rng, col, 60, 255))
        inst[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]][mask] = len(placed) + 1
        own = int(mask.sum())
        placed.append({"photo": j, "cls": int(labels[j]), "box": box, "own": own, "visible": own,
                       "at": (y0, x0, mask.shape)})
    if noise > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise * 255)
    image = np.clip(img, 0, 255).round().astype(np.uint8)
    if image.shape[2] != channels:
        image = np.repeat(image, channels, axis=2)
    return _annotate(image, inst, placed, h, w)


def _annotate(image, inst, placed, h, w) -> Scene:
    """Boxes tight on each garment's visible pixels; objects sorted by box area, largest first."""
    boxes = []
    for i, o in enumerate(placed):
        y0, x0, (ph, pw) = o["at"]
        bx = _tight(inst[y0:y0 + ph, x0:x0 + pw] == i + 1)
        boxes.append((bx[0] + x0, bx[1] + y0, bx[2] + x0, bx[3] + y0))
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    order = sorted(range(len(placed)), key=lambda i: -area[i])
    lut = np.zeros(len(placed) + 1, np.uint8)
    lut[[i + 1 for i in order]] = np.arange(1, len(placed) + 1)
    norm = np.array([boxes[i] for i in order], np.float64).reshape(-1, 4) / (w, h, w, h)
    return Scene(image, lut[inst], [placed[i]["cls"] for i in order],
                 [placed[i]["photo"] for i in order], norm)
