"""Augmentation that keeps boxes right (detection): mosaic, random scale with crop / pad, mixup
(Ultralytics' recipe, inside tf.data) and the HSV jitter; `close_mosaic` turns the first three off
for the last epochs.

Geometry. The images of a mosaic lie on a canvas of 2H x 2W pixels around a random split point
(cx, cy) in [W/2, 3W/2] x [H/2, 3H/2]: the training image in the top-left quadrant (its bottom-right
corner at the split point), three others of the same group around it, each cut to its quadrant of
the canvas. Without mosaic the canvas is the image itself (its one quadrant: the split point at its
bottom-right corner). The output (H x W) is a window of the canvas: canvas point p appears at
(p - centre) * s + (W/2, H/2), s the scale factor drawn in [1 - scale, 1 + scale]. For a mosaic the
centre is the canvas centre (Ultralytics: the split point moves, the window stays); for a single
image the window is placed at random, inside the zoomed image when s > 1 (a random crop) or around
it when s < 1 (a random pad): the `translate` field stays a separate shift. Each output pixel is one
bilinear sample of its quadrant's image, and boxes go through the same map, so they stay exact;
they are clipped to their quadrant and to the output, and dropped (class -1, zero box) when the
visible part is below `min_visible` of the box's area or thinner than MIN_PIXELS.

Rows. The merged list has 4 N_max (mosaic) or 2 N_max (mixup) rows; it is cut back to N_max keeping
the largest visible boxes, in their original order, the padding (-1) rows at the end.

Every transform is a pure function of explicit parameters (tested on drawn boxes); `make_box_augment`
draws the parameters with stateless random ops from the recipe seed and a per-group key.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from visiontk.errors import RecipeError

FILL = 114.0 / 255.0    # grey where no image is (Ultralytics' padding value)
MIN_PIXELS = 2.0        # boxes narrower or lower than this in the output are dropped (Ultralytics)
GROUP = 64              # images drawn together: a mosaic takes its 3 partners from its group
                        # (Ultralytics: from a buffer of the last 64 images); fewer ops an image
BOX_KEYS = ("boxes", "classes", "count")   # the annotations these transforms can follow

_SWITCH = None


def box_transforms_on(cfg) -> bool:
    """Whether the recipe's data.augment turns on mosaic, scale or mixup."""
    return bool(cfg.mosaic or cfg.scale or cfg.mixup)


def box_switch() -> tf.Variable:
    """The process's on / off switch of mosaic, scale and mixup: a boolean tf.Variable read inside
    the tf.data map at each group, so flipping it (CloseMosaic) changes the next elements made."""
    global _SWITCH
    if _SWITCH is None:
        with tf.init_scope(), tf.device("/CPU:0"):     # tf.data reads it on the CPU
            _SWITCH = tf.Variable(True, trainable=False, name="box_augment_on")
    return _SWITCH


class CloseMosaic(keras.callbacks.Callback):
    """Mosaic, scale and mixup on for epochs [0, epochs - close), off for the last `close` epochs
    (set at every epoch start, so a resumed run lands in the right state); on again after training.
    Elements already prefetched when an epoch starts keep the state they were made with."""

    def __init__(self, epochs: int, close: int):
        super().__init__()
        self.last_on = epochs - close       # first epoch without them
        self.switch = box_switch()

    def on_epoch_begin(self, epoch, logs=None):
        self.switch.assign(epoch < self.last_on)

    def on_train_end(self, logs=None):
        self.switch.assign(True)


def schedule_callbacks(recipe) -> list:
    """[CloseMosaic] when the recipe turns box transforms on and sets data.augment.close_mosaic."""
    cfg = recipe.data.augment
    if box_transforms_on(cfg) and cfg.close_mosaic:
        return [CloseMosaic(recipe.train.epochs, cfg.close_mosaic)]
    return []


# ---- pure geometry (explicit parameters) ---------------------------------------------------------

def to_output(points, centre, scale, out_hw):
    """Canvas pixels -> output pixels; `points` (..., 2k) as x, y pairs, centre (..., 2) the canvas
    point at the output's centre, scale (...) output pixels per canvas pixel. numpy or tf alike."""
    c, half = _frame(points, centre, out_hw)
    return (points - c) * scale[..., None] + half


def to_canvas(points, centre, scale, out_hw):
    """The inverse of to_output: output pixels -> canvas pixels."""
    c, half = _frame(points, centre, out_hw)
    return (points - half) / scale[..., None] + c


def _frame(points, centre, out_hw):
    """The window centre and the output's half size, repeated for the k points in `points`."""
    k = points.shape[-1] // 2
    concat = tf.concat if tf.is_tensor(points) else np.concatenate
    return concat([centre] * k, -1), [out_hw[1] / 2.0, out_hw[0] / 2.0] * k


def mosaic_layout(split, canvas, hw):
    """Where the 4 images of a mosaic lie on the canvas around the split point.

    Args:
        split: (G, 2) the split point (x, y) on the canvas, in pixels.
        canvas: (G, 2) the canvas size (width, height): (2W, 2H) for a mosaic; (W, H) with the
            split at (W, H) is one image alone (the other quadrants are empty).
        hw: (H, W) of every image.

    Returns:
        offsets (G, 4, 2): each image's top-left corner on the canvas (x, y); image 0 top-left,
        1 top-right, 2 bottom-left, 3 bottom-right of the split point.
        regions (G, 4, 4): the canvas rectangle (x1, y1, x2, y2) each image may show: its quadrant.
    """
    h, w = hw
    cx, cy, cw, ch = split[:, 0], split[:, 1], canvas[:, 0], canvas[:, 1]
    zero = tf.zeros_like(cx)
    offsets = tf.stack([tf.stack([cx - w, cy - h], -1), tf.stack([cx, cy - h], -1),
                        tf.stack([cx - w, cy], -1), tf.stack([cx, cy], -1)], 1)
    regions = tf.stack([tf.stack([zero, zero, cx, cy], -1), tf.stack([cx, zero, cw, cy], -1),
                        tf.stack([zero, cy, cx, ch], -1), tf.stack([cx, cy, cw, ch], -1)], 1)
    return offsets, regions


def _sample_axis(coords, split, extent, size):
    """One axis of the output's pixels (G, L canvas coordinates of their centres): the quadrant side
    (0 before the split, 1 after), the two source pixels of the bilinear sample and their weights,
    zero where the pixel lies outside the canvas or outside its source image (the fill shows)."""
    after = coords >= split
    cont = coords - tf.where(after, split, split - size)          # position in the source image
    inside = (coords >= 0.0) & (coords < extent) & (cont >= 0.0) & (cont < size)
    src = cont - 0.5                                               # pixel centres at index + 0.5
    i0 = tf.floor(src)
    f = tf.where(inside, src - i0, 0.0)
    w0 = tf.where(inside, 1.0 - f, 0.0)
    i0 = tf.cast(i0, tf.int32)
    return (tf.cast(after, tf.int32), tf.clip_by_value(i0, 0, size - 1),
            tf.clip_by_value(i0 + 1, 0, size - 1), w0, f)


def place(images, sources, boxes, classes, split, canvas, centre, scale, min_visible, fill=FILL):
    """Mosaics (or single images) of a group, then each output's window: pixels and boxes alike.

    Args:
        images: (G0, H, W, C) the group's images; outputs are H x W too.
        sources: (G, 4) the image (index into `images`) of each quadrant of each output.
        boxes: (G0, N, 4) normalised x1, y1, x2, y2 of the group's images; classes (G0, N), -1
            for padding rows.
        split, canvas: (G, 2) each output's layout (mosaic_layout).
        centre: (G, 2) the canvas point at the output's centre; scale: (G,) the zoom.
        min_visible: boxes whose visible part is below this fraction of their area are dropped.

    Returns:
        image (G, H, W, C); boxes (G, 4N, 4) normalised to the output, zero where dropped;
        classes (G, 4N), -1 where dropped; visible area (G, 4N) in output pixels.
    """
    h, w, c = images.shape[1:]
    g = tf.shape(sources)[0]
    # separable: a column's canvas x decides its left / right quadrant and source x, a row's y the
    # rest; one bilinear sample (4 gathers) per output pixel from the image of its quadrant
    xs = (tf.range(w, dtype=tf.float32) + 0.5 - w / 2.0) / scale[:, None] + centre[:, :1]  # (G, W)
    ys = (tf.range(h, dtype=tf.float32) + 0.5 - h / 2.0) / scale[:, None] + centre[:, 1:]  # (G, H)
    qx, x0, x1, wx0, wx1 = _sample_axis(xs, split[:, :1], canvas[:, :1], w)
    qy, y0, y1, wy0, wy1 = _sample_axis(ys, split[:, 1:], canvas[:, 1:], h)
    base = tf.gather(sources, qx[:, None, :] + 2 * qy[:, :, None], batch_dims=1) * (h * w)
    flat = tf.reshape(images, [-1, c])
    image = fill * (1.0 - (wy0 + wy1)[:, :, None, None] * (wx0 + wx1)[:, None, :, None])
    for yi, wy in ((y0, wy0), (y1, wy1)):
        for xi, wx in ((x0, wx0), (x1, wx1)):
            pixels = tf.gather(flat, base + yi[:, :, None] * w + xi[:, None, :])       # (G, H, W, C)
            image += pixels * (wy[:, :, None] * wx[:, None, :])[..., None]

    offsets, regions = mosaic_layout(split, canvas, (h, w))
    size = tf.constant([w, h, w, h], tf.float32)
    src = tf.gather(boxes, sources) * size + tf.concat([offsets, offsets], -1)[:, :, None]
    classes = tf.gather(classes, sources)                                   # (G, 4, N)
    reg = regions[:, :, None]
    cut = tf.concat([tf.maximum(src[..., :2], reg[..., :2]), tf.minimum(src[..., 2:], reg[..., 2:])], -1)
    s = tf.reshape(scale, [-1, 1, 1])
    out = to_output(cut, centre[:, None, None], s, (h, w))
    out = tf.clip_by_value(out, 0.0, size)
    bw, bh = tf.nn.relu(out[..., 2] - out[..., 0]), tf.nn.relu(out[..., 3] - out[..., 1])
    full = (src[..., 2] - src[..., 0]) * (src[..., 3] - src[..., 1]) * s * s
    visible = bw * bh
    kept = ((classes >= 0) & (visible >= min_visible * full) & (visible > 0)
            & (bw >= MIN_PIXELS) & (bh >= MIN_PIXELS))
    boxes = tf.where(kept[..., None], out / size, 0.0)
    classes = tf.where(kept, classes, tf.constant(-1, classes.dtype))
    m = 4 * boxes.shape[2]
    return (image, tf.reshape(boxes, [g, m, 4]), tf.reshape(classes, [g, m]),
            tf.reshape(tf.where(kept, visible, 0.0), [g, m]))


def compact(boxes, classes, score, n_max: int):
    """Cut (G, M, 4) boxes / (G, M) classes to n_max rows: the kept rows (class >= 0) with the
    largest `score` (visible area), in their original order, then padding (-1, zero box)."""
    m = classes.shape[-1]
    valid = classes >= 0
    top = tf.math.top_k(tf.where(valid, score, -1.0), k=n_max).indices
    top_valid = tf.gather(valid, top, batch_dims=1)
    order = tf.argsort(tf.where(top_valid, top, top + m), axis=-1, stable=True)
    top = tf.gather(top, order, batch_dims=1)
    top_valid = tf.gather(valid, top, batch_dims=1)
    boxes = tf.where(top_valid[..., None], tf.gather(boxes, top, batch_dims=1), 0.0)
    classes = tf.where(top_valid, tf.gather(classes, top, batch_dims=1),
                       tf.constant(-1, classes.dtype))
    return boxes, classes


def mixup(images, boxes, classes, partner, ratio):
    """Blend each image with images[partner] (weight `ratio` on its own, 1 = unchanged); the
    partner's boxes join its own where blended (up to N_max rows, the largest kept)."""
    r = ratio[:, None, None, None]
    image = r * images + (1.0 - r) * tf.gather(images, partner)
    other = tf.where(ratio[:, None] < 1.0, tf.gather(classes, partner), tf.constant(-1, classes.dtype))
    all_boxes = tf.concat([boxes, tf.gather(boxes, partner)], 1)
    all_classes = tf.concat([classes, other], 1)
    area = (all_boxes[..., 2] - all_boxes[..., 0]) * (all_boxes[..., 3] - all_boxes[..., 1])
    return (image, *compact(all_boxes, all_classes, area, boxes.shape[1]))


def hsv_jitter(images, gains):
    """Images (G, H, W, C) in [0, 1]; gains (G, 3) = hue shift (turns of the colour circle),
    saturation factor, value factor. Values stay in [0, 1]; one channel: the value factor only.

    One 3 x 3 colour matrix per image (about 12 times cheaper than converting to HSV and back): the
    hue turns about the grey axis (a third of a turn takes red to green, as in HSV), saturation
    scales each pixel's distance from its grey level (the channels' mean; OpenCV's HSV measures it
    from the largest channel) and value scales all channels.
    """
    gains = tf.cast(gains, tf.float32)
    if images.shape[-1] != 3:
        return tf.clip_by_value(images * gains[:, None, None, 2:3], 0.0, 1.0)
    theta = 2.0 * 3.141592653589793 * gains[:, 0]
    cos, sin = tf.cos(theta)[:, None, None], tf.sin(theta)[:, None, None]
    grey = tf.fill([3, 3], 1.0 / 3.0)                      # projection on the grey axis
    cross = tf.constant([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]) / 3.0 ** 0.5
    turn = cos * tf.eye(3) + (1.0 - cos) * grey + sin * cross   # Rodrigues, axis (1, 1, 1) / sqrt 3
    sat, val = gains[:, 1, None, None], gains[:, 2, None, None]
    matrix = val * (sat * turn + (1.0 - sat) * grey)
    return tf.clip_by_value(tf.einsum("ghwc,gdc->ghwd", images, matrix), 0.0, 1.0)


# ---- random parameters and the tf.data stage ---------------------------------------------------

def make_box_augment(cfg, input_shape):
    """fn(images (G, H, W, C), annotations, key int64) -> (images, annotations) drawing mosaic,
    scale, mixup and the HSV jitter for a group, or None when all are off. Reads box_switch(): when
    off, mosaic, scale and mixup leave the group as it is (the HSV jitter stays)."""
    geometry, hsv = box_transforms_on(cfg), any(cfg.hsv)
    if not (geometry or hsv):
        return None
    h, w = int(input_shape[0]), int(input_shape[1])
    switch = box_switch()

    def seed(key, i):          # draw i of the group whose key is `key`
        return tf.stack([key, tf.constant(i, tf.int64)])

    def uniform(shape, key, i, lo=0.0, hi=1.0, dtype=tf.float32):
        return tf.random.stateless_uniform(shape, seed(key, i), lo, hi, dtype=dtype)

    def layout(g, key):
        """Each output's quadrant sources (G, 4), split, canvas, window centre and scale."""
        scale = uniform([g], key, 0, 1.0 - cfg.scale, 1.0 + cfg.scale)
        # one image: the window anywhere inside the zoomed image (s > 1) or around it (s < 1)
        lo = tf.stack([w / (2.0 * scale), h / (2.0 * scale)], -1)
        hi = tf.constant([w, h], tf.float32) - lo
        centre = lo + uniform([g, 2], key, 1) * (hi - lo)
        size = tf.broadcast_to(tf.constant([w, h], tf.float32), [g, 2])   # split = canvas = (W, H)
        sources = tf.tile(tf.range(g)[:, None], [1, 4])
        if not cfg.mosaic:
            return sources, size, size, centre, scale
        do = uniform([g], key, 2) < cfg.mosaic
        # Ultralytics: the split point in the middle half of the 2H x 2W canvas, the window centred
        split = uniform([g, 2], key, 3) * [w, h] + [w / 2.0, h / 2.0]
        partners = uniform([g, 3], key, 4, 0, g, tf.int32)
        sources = tf.where(do[:, None], tf.concat([sources[:, :1], partners], 1), sources)
        split = tf.where(do[:, None], split, size)
        canvas = tf.where(do[:, None], 2.0 * size, size)
        centre = tf.where(do[:, None], size, centre)
        return sources, split, canvas, centre, scale

    def transform(images, ann, key):
        g = tf.shape(images)[0]
        boxes, classes = ann["boxes"], ann["classes"]
        sources, split, canvas, centre, scale = layout(g, key)
        image, boxes_, classes_, visible = place(images, sources, boxes, classes, split, canvas,
                                                 centre, scale, cfg.min_visible)
        boxes_, classes_ = compact(boxes_, classes_, visible, boxes.shape[1])
        if cfg.mixup:
            do = uniform([g], key, 5) < cfg.mixup
            # Beta(32, 32) as Ultralytics (about 0.5), from two gammas
            a = tf.random.stateless_gamma([2, g], seed(key, 6), 32.0)
            ratio = tf.where(do, a[0] / (a[0] + a[1]), 1.0)
            shift = uniform([g], key, 7, 1, tf.maximum(g, 2), tf.int32)   # another output
            image, boxes_, classes_ = mixup(image, boxes_, classes_, (tf.range(g) + shift) % g, ratio)
        out = dict(ann, boxes=boxes_, classes=classes_)
        if "count" in ann:
            out["count"] = tf.reduce_sum(tf.cast(classes_ >= 0, ann["count"].dtype), -1)
        return tf.clip_by_value(image, 0.0, 1.0), out

    def apply(images, ann, key):
        if geometry:
            images, ann = tf.cond(switch.read_value(), lambda: transform(images, ann, key),
                                  lambda: (images, dict(ann)))
        if hsv:     # as Ultralytics: hue + U(-1, 1) h, saturation x (1 + U(-1, 1) s), value alike
            gains = uniform([tf.shape(images)[0], 3], key, 8, -1.0, 1.0) * cfg.hsv + [0.0, 1.0, 1.0]
            images = hsv_jitter(images, gains)
        return images, ann

    return apply


def box_augment_dataset(ds, cfg, input_shape, seed: int):
    """The unbatched training dataset through mosaic / scale / mixup / HSV (groups of GROUP
    consecutive shuffled images, each group with its own key from the recipe seed: deterministic,
    new draws every epoch), or `ds` unchanged when they are off."""
    fn = make_box_augment(cfg, input_shape)
    if fn is None:
        return ds
    keys = set(ds.element_spec[1])
    if box_transforms_on(cfg) and (not {"boxes", "classes"} <= keys or keys - set(BOX_KEYS)):
        on = [n for n in ("mosaic", "scale", "mixup") if getattr(cfg, n)]
        raise RecipeError(f"data.augment.{on[0]}: moves boxes and classes only; this task's "
                          f"annotations ({', '.join(sorted(keys))}) cannot follow it; remove it")
    size = int(ds.cardinality())
    keyed = tf.data.Dataset.zip((ds.batch(GROUP), tf.data.Dataset.random(
        seed=seed, rerandomize_each_iteration=True)))
    ds = keyed.map(lambda ex, key: fn(ex[0], ex[1], key), num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    # unbatch forgets the length; Keras needs it to start each epoch on a fresh iterator
    return ds.apply(tf.data.experimental.assert_cardinality(size)) if size >= 0 else ds
