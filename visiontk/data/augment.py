"""Augmentation inside tf.data (never inside a saved or exported model).

Geometric transforms move the annotations with the pixels: `box`, `boxes` (+`classes`) and `mask`.
Photometric transforms and label-only geometry (rotate, zoom) are Keras preprocessing layers.
Mosaic, scale, mixup and HSV (detection) run before, on groups of images: data/box_augment.py.
"""

from __future__ import annotations

import math

from visiontk.errors import RecipeError


AUGMENTATIONS = ("flip", "translate", "rotate", "zoom", "brightness", "contrast", "erasing", "mosaic",
                 "scale", "hsv", "mixup")

# random erasing (Zhong et al. 2017, "Random Erasing Data Augmentation", their defaults): the
# rectangle's share of the image area and its aspect ratio (height / width) are drawn in these ranges
ERASE_AREA = (0.02, 0.4)
ERASE_ASPECT = (0.3, 1 / 0.3)

# the transforms make_augment applies (the rest run on groups of images in box_augment.py)
PER_IMAGE = ("flip", "translate", "rotate", "zoom", "brightness", "contrast", "erasing")


def is_on(value) -> bool:
    """Whether a data.augment value turns its transform on (hsv: any of its three gains)."""
    if isinstance(value, (tuple, list)):
        return any(value)
    return bool(value) and value != "none"


def check_augment(cfg, task) -> None:
    """Refuse transforms the task's targets cannot follow (task.augmentations), before anything is
    written."""
    for name in AUGMENTATIONS:
        if is_on(getattr(cfg, name)) and name not in task.augmentations:
            supported = ", ".join(a for a in AUGMENTATIONS if a in task.augmentations) or "none"
            raise RecipeError(f"data.augment.{name}: not supported for task '{task.name}' (its "
                              f"targets cannot follow that transform; it supports: {supported})")
    recipe = getattr(task, "recipe", None)
    closing = [n for n in ("mosaic", "scale", "mixup") if getattr(cfg, n)]
    if closing and recipe is not None and cfg.close_mosaic >= recipe.train.epochs:
        raise RecipeError(f"data.augment.close_mosaic: {cfg.close_mosaic} is not below train.epochs "
                          f"({recipe.train.epochs}), so {', '.join(closing)} would never run; lower "
                          f"close_mosaic or remove {', '.join(closing)}")


def make_augment(cfg, geometry: tuple, seed: int):
    """A function (image, annotation) -> (image, annotation) for `Dataset.map`, or None.

    It takes one example (image HxWxC) or a batch (NxHxWxC, annotations batched alike) and draws
    the random flips and shifts per example either way; the pipeline applies it to whole batches
    where it can (one op per batch instead of one per image: ~50 us of CPU an image saved).
    """
    import keras
    import tensorflow as tf

    if not any(is_on(getattr(cfg, name)) for name in PER_IMAGE):
        return None
    layers = []
    if cfg.rotate:
        layers.append(keras.layers.RandomRotation(cfg.rotate / 360.0, fill_mode="reflect", seed=seed))
    if cfg.zoom:
        layers.append(keras.layers.RandomZoom(cfg.zoom, fill_mode="reflect", seed=seed + 1))
    if cfg.brightness:
        layers.append(keras.layers.RandomBrightness(cfg.brightness, value_range=(0.0, 1.0), seed=seed + 2))
    if cfg.contrast:
        layers.append(keras.layers.RandomContrast(cfg.contrast, value_range=(0.0, 1.0), seed=seed + 3))
    has_mask = "mask" in geometry

    def per_example(do, like):
        """(N,) -> broadcastable against `like` (N, ...)."""
        return tf.reshape(do, tf.concat([tf.shape(do), tf.ones([tf.rank(like) - 1], tf.int32)], 0))

    def flip(image, ann, axis, n):
        """image (N, H, W, C); axis 1 = horizontal (x), 0 = vertical (y)."""
        do = tf.random.uniform((n,), seed=seed + 10 + axis) < 0.5
        image = tf.where(per_example(do, image), tf.reverse(image, [axis + 1]), image)
        ann = dict(ann)
        if has_mask and "mask" in ann:
            m = ann["mask"]
            ann["mask"] = tf.where(per_example(do, m), tf.reverse(m, [axis + 1]), m)
        lo, hi = (0, 2) if axis == 1 else (1, 3)
        for key in ("box", "boxes"):
            if key in ann and key in geometry:
                b = ann[key]
                flipped = tf.unstack(b, axis=-1)
                flipped[lo], flipped[hi] = 1.0 - flipped[hi], 1.0 - flipped[lo]
                ann[key] = tf.where(per_example(do, b), tf.stack(flipped, -1), b)
        return image, ann

    def translate(image, ann, n):
        t = cfg.translate
        shifts = tf.random.uniform((n, 2), -t, t, seed=seed + 20)
        dx, dy = shifts[:, 0], shifts[:, 1]
        h, w = tf.cast(tf.shape(image)[1], tf.float32), tf.cast(tf.shape(image)[2], tf.float32)
        # projective transform maps output (x, y) to input (x - dx*w, y - dy*h)
        one, zero = tf.ones_like(dx), tf.zeros_like(dx)
        transform = tf.stack([one, zero, -dx * w, zero, one, -dy * h, zero, zero], axis=1)
        shape = tf.shape(image)[1:3]
        image = tf.raw_ops.ImageProjectiveTransformV3(
            images=image, transforms=transform, output_shape=shape, fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT")
        ann = dict(ann)
        if has_mask and "mask" in ann:
            m = tf.cast(ann["mask"], tf.float32)[..., None]
            ann["mask"] = tf.cast(tf.raw_ops.ImageProjectiveTransformV3(
                images=m, transforms=transform, output_shape=shape, fill_value=0.0,
                interpolation="NEAREST", fill_mode="CONSTANT")[..., 0], ann["mask"].dtype)
        shift = tf.stack([dx, dy, dx, dy], axis=1)                       # (N, 4)
        if "box" in ann and "box" in geometry:
            ann["box"] = tf.clip_by_value(ann["box"] + shift, 0.0, 1.0)
        if "boxes" in ann and "boxes" in geometry:
            orig = ann["boxes"]                                          # (N, M, 4)
            moved = tf.clip_by_value(orig + shift[:, None], 0.0, 1.0)
            w_, h_ = moved[..., 2] - moved[..., 0], moved[..., 3] - moved[..., 1]
            area0 = (orig[..., 2] - orig[..., 0]) * (orig[..., 3] - orig[..., 1])
            # an object mostly pushed out of the frame is no longer an object to find
            kept = (w_ * h_ >= 0.4 * area0) & (w_ > 0.01) & (h_ > 0.01)
            ann["classes"] = tf.where(kept, ann["classes"], -tf.ones_like(ann["classes"]))
            ann["boxes"] = tf.where(kept[..., None], moved, tf.zeros_like(moved))
            if "count" in ann:
                ann["count"] = tf.reduce_sum(tf.cast(ann["classes"] >= 0, ann["count"].dtype), -1)
        return image, ann

    def erase(image, n):
        """With probability cfg.erasing per example, one rectangle of uniform noise (label-only
        tasks: check_augment refuses it where a target would have to follow)."""
        hf, wf = tf.cast(tf.shape(image)[1], tf.float32), tf.cast(tf.shape(image)[2], tf.float32)
        do = tf.random.uniform((n,), seed=seed + 30) < cfg.erasing
        area = tf.random.uniform((n,), *ERASE_AREA, seed=seed + 31) * hf * wf
        log_lo, log_hi = math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])
        aspect = tf.exp(tf.random.uniform((n,), log_lo, log_hi, seed=seed + 32))
        eh = tf.clip_by_value(tf.sqrt(area * aspect), 1.0, hf)
        ew = tf.clip_by_value(tf.sqrt(area / aspect), 1.0, wf)
        y0 = tf.random.uniform((n,), seed=seed + 33) * (hf - eh)
        x0 = tf.random.uniform((n,), seed=seed + 34) * (wf - ew)
        ys = tf.range(hf)[None] + 0.5                                    # pixel centres (1, H)
        xs = tf.range(wf)[None] + 0.5
        in_y = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None])           # (N, H)
        in_x = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])           # (N, W)
        inside = in_y[:, :, None] & in_x[:, None, :] & do[:, None, None]  # (N, H, W)
        noise = tf.random.uniform(tf.shape(image), dtype=image.dtype, seed=seed + 35)
        return tf.where(inside[..., None], noise, image)

    def apply(image, ann):
        single = image.shape.rank == 3
        if single:                       # one example: a batch of one, then back
            image = image[None]
            ann = {k: tf.convert_to_tensor(v)[None] for k, v in ann.items()}
        n = tf.shape(image)[0]
        if cfg.flip in ("horizontal", "both"):
            image, ann = flip(image, ann, 1, n)
        if cfg.flip in ("vertical", "both"):
            image, ann = flip(image, ann, 0, n)
        if cfg.translate:
            image, ann = translate(image, ann, n)
        for layer in layers:
            image = layer(image, training=True)
        image = tf.clip_by_value(image, 0.0, 1.0)
        if cfg.erasing:
            image = erase(image, n)
        if single:
            image, ann = image[0], {k: v[0] for k, v in ann.items()}
        return image, ann

    return apply
