"""Drawing of synthetic scenes (numpy + OpenCV): textured backgrounds with coloured shapes.

One call gives the image and every annotation kind at once; the same seed gives the same scenes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond", "hexagon", "ellipse")

# the smallest object (px across) that draws every shape: below it an ellipse's box comes out empty
# (1.5 px: 46% of them, 2 px: 12%); from 3 px every shape has pixels and a box (measured, 300 draws
# a shape). The box matches the drawn pixels at IoU >= 0.5 for 95% of objects from 6 px on.
MIN_OBJECT_PX = 3

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
               noise: float = 0.02, colors: int = len(PALETTE), clusters: int = 0,
               cluster_spread: float = 0.1, shared_cell: int | None = None):
    """One scene.

    Args:
        clusters: 0 spreads object centres uniformly; k >= 1 draws k group centres per scene and
            puts each object near one of them (normal, std `cluster_spread` x the image side).
        shared_cell: S: objects come in pairs (n_objects // 2 of them) whose two box centres fall
            in one cell of an S x S grid (the cell rule of `encode_grid`) that holds no other
            centre. Either option paints the largest object first, so none hides under a larger
            one; without them the scene is drawn exactly as it always was (the same random draws).

    Returns:
        image uint8 (h, w, 3) RGB; objects: list of dicts (cls, color, box normalised x1,y1,x2,y2)
        sorted by area, largest first; mask uint8 (h, w) with 0 background and cls + 1 per pixel.
    """
    img = _background(rng, h, w, texture)
    mask = np.zeros((h, w), np.uint8)
    placer = _Placer(rng, h, w, classes, size_range, max_iou)
    objects = []
    if not clusters and not shared_cell:
        for _ in range(n_objects):           # place and paint in turn: the original order of draws
            shape = placer.place(objects, placer.uniform)
            if shape is not None:
                objects.append(_paint(rng, img, mask, shape, colors))
    else:
        shapes = _arrange(placer, n_objects, clusters, cluster_spread, shared_cell)
        for shape in sorted(shapes, key=lambda o: -_area(o["_px"])):
            objects.append(_paint(rng, img, mask, shape, colors))
    if noise > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise * 255)
    order = sorted(range(len(objects)), key=lambda i: -_area(objects[i]["_px"]))
    objects = [objects[i] for i in order]
    return np.clip(img, 0, 255).astype(np.uint8), objects, mask


class _Placer:
    """Rejection sampling of one shape at a time: its box may overlap each placed box by at most
    `max_iou` (IoU), and must pass the caller's test (e.g. a grid cell)."""

    def __init__(self, rng, h, w, classes, size_range, max_iou):
        self.rng, self.h, self.w, self.side = rng, h, w, min(h, w)
        self.classes, self.size_range, self.max_iou = classes, size_range, max_iou

    def uniform(self, r: float):
        return self.rng.uniform(r, self.w - r), self.rng.uniform(r, self.h - r)

    def inside(self, r: float, cx: float, cy: float) -> bool:
        return r <= cx <= self.w - r and r <= cy <= self.h - r

    def place(self, placed: list, centre, accept=None, attempts: int = 30):
        """A shape dict (cls, shape, cx, cy, r, pts, _px), or None when `attempts` candidates fail.
        `centre(r)` gives a candidate centre, or None for one outside the image."""
        rng = self.rng
        for _attempt in range(attempts):
            cls = int(rng.choice(self.classes))
            r = rng.uniform(*self.size_range) * self.side / 2
            at = centre(r)
            if at is None:
                continue
            shape = self._outline(cls, r, *at)
            if all(_iou(shape["_px"], o["_px"]) <= self.max_iou for o in placed) \
                    and (accept is None or accept(shape)):
                return shape
        return None

    def _outline(self, cls: int, r: float, cx: float, cy: float) -> dict:
        angle = self.rng.uniform(0, 2 * math.pi)
        shape, pts = SHAPES[cls], None
        if shape == "circle":
            box = (cx - r, cy - r, cx + r, cy + r)
        elif shape == "ellipse":
            axes = (r, r * self.rng.uniform(0.45, 0.75))
            pts = cv2.ellipse2Poly((int(round(cx)), int(round(cy))),
                                   (int(round(axes[0])), int(round(axes[1]))),
                                   int(np.degrees(angle)), 0, 360, 5)
            box = (*pts.min(0), *pts.max(0))
        else:
            pts = _polygon(shape, cx, cy, r, angle)
            box = (*pts.min(0), *pts.max(0))
        box = np.clip(np.array(box, np.float64), 0, [self.w, self.h, self.w, self.h])
        return {"cls": cls, "shape": shape, "cx": cx, "cy": cy, "r": r, "pts": pts, "_px": box}

    def normalised(self, box) -> np.ndarray:
        return box / np.array([self.w, self.h, self.w, self.h], np.float64)


def _arrange(placer: _Placer, n_objects: int, clusters: int, spread: float, shared_cell):
    """The shapes of a crowded (`clusters`) and/or shared-cell scene, before painting."""
    rng, w, h = placer.rng, placer.w, placer.h
    sd = spread * placer.side
    hubs = [(rng.uniform(min(sd, w / 2), max(w - sd, w / 2)),
             rng.uniform(min(sd, h / 2), max(h - sd, h / 2))) for _ in range(clusters)]

    def centre(r):
        if not hubs:
            return placer.uniform(r)
        hx, hy = hubs[int(rng.integers(len(hubs)))]
        cx, cy = rng.normal(hx, sd), rng.normal(hy, sd)
        return (cx, cy) if placer.inside(r, cx, cy) else None

    shapes = []
    if not shared_cell:
        for _ in range(n_objects):
            shape = placer.place(shapes, centre)
            if shape is not None:
                shapes.append(shape)
        return shapes
    for _ in range(n_objects // 2):
        shapes += _pair(placer, shapes, centre, shared_cell)
    return shapes


def _pair(placer: _Placer, placed: list, centre, grid: int) -> list:
    """Two shapes whose box centres share a grid cell that no placed centre is in, or [] when 30
    tries fail. The cell is the one the stored (float32, normalised) box gets in `encode_grid`."""
    from visiontk.data.box_stats import grid_cells

    rng, w, h = placer.rng, placer.w, placer.h

    def cell(shape) -> int:
        return int(grid_cells(placer.normalised(shape["_px"]), grid))

    taken = {cell(o) for o in placed}
    for _try in range(30):
        first = placer.place(placed, centre, accept=lambda o: cell(o) not in taken, attempts=1)
        if first is None:
            continue
        home = cell(first)
        row, col = divmod(home, grid)

        def in_home(r):
            # a box centre is not the drawing centre (triangles, stars): `accept` checks the box
            cx = rng.uniform(col * w / grid, (col + 1) * w / grid)
            cy = rng.uniform(row * h / grid, (row + 1) * h / grid)
            return (cx, cy) if placer.inside(r, cx, cy) else None

        second = placer.place(placed + [first], in_home, accept=lambda o: cell(o) == home)
        if second is not None:
            return [first, second]
    return []


def _paint(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray, shape: dict,
           colors: int) -> dict:
    """Blend one shape into `img` (in place), mark it in `mask`; its annotation dict."""
    h, w = mask.shape
    cls, cx, cy, r, pts, box = (shape[k] for k in ("cls", "cx", "cy", "r", "pts", "_px"))
    color_idx = int(rng.integers(colors))
    color = PALETTE[color_idx].astype(np.float32) + rng.normal(0, 12, 3)
    layer = np.zeros((h, w), np.uint8)
    if shape["shape"] == "circle":
        cv2.circle(layer, (int(round(cx)), int(round(cy))), int(round(r)), 255, -1, cv2.LINE_AA)
    elif shape["shape"] == "ellipse":
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
    return {"cls": cls, "color": color_idx, "_px": box,
            "box": box / np.array([w, h, w, h], np.float64)}


def _area(b) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0
