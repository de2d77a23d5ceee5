"""Augmentation inside tf.data (never inside a saved or exported model).

Geometric transforms move the annotations with the pixels: `box`, `boxes` (+`classes`) and `mask`.
Photometric transforms and label-only geometry (rotate, zoom) are Keras preprocessing layers.
"""

from __future__ import annotations

from visiontk.errors import RecipeError


def check_augment(cfg, task) -> None:
    """Refuse transforms the task's annotations cannot follow (before anything is written)."""
    boxes = {"box", "boxes"} & set(task.geometry)
    for field in ("rotate", "zoom"):
        if getattr(cfg, field) and boxes:
            raise RecipeError(f"data.augment.{field}: not supported for task '{task.name}' (its boxes "
                              f"would no longer fit the objects); use flip and translate")


def make_augment(cfg, geometry: tuple, seed: int):
    """A function (image, annotation) -> (image, annotation) for `Dataset.map`, or None."""
    import keras
    import tensorflow as tf

    if not any([cfg.flip != "none", cfg.translate, cfg.rotate, cfg.zoom, cfg.brightness, cfg.contrast]):
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

    def flip(image, ann, axis):
        do = tf.random.uniform((), seed=seed + 10 + axis) < 0.5
        image = tf.cond(do, lambda: tf.reverse(image, [axis]), lambda: image)
        ann = dict(ann)
        if has_mask and "mask" in ann:
            ann["mask"] = tf.cond(do, lambda: tf.reverse(ann["mask"], [axis]), lambda: ann["mask"])
        lo, hi = (0, 2) if axis == 1 else (1, 3)
        for key in ("box", "boxes"):
            if key in ann and key in geometry:
                b = ann[key]
                flipped = tf.unstack(b, axis=-1)
                flipped[lo], flipped[hi] = 1.0 - flipped[hi], 1.0 - flipped[lo]
                ann[key] = tf.cond(do, lambda: tf.stack(flipped, -1), lambda: b)
        return image, ann

    def translate(image, ann):
        t = cfg.translate
        dx, dy = tf.unstack(tf.random.uniform((2,), -t, t, seed=seed + 20))
        h, w = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
        # projective transform maps output (x, y) to input (x - dx*w, y - dy*h)
        transform = tf.stack([1.0, 0.0, -dx * w, 0.0, 1.0, -dy * h, 0.0, 0.0])[None]
        shape = tf.shape(image)[:2]

        def warp(img, interpolation, fill):
            out = tf.raw_ops.ImageProjectiveTransformV3(
                images=img[None], transforms=transform, output_shape=shape, fill_value=fill,
                interpolation=interpolation, fill_mode="NEAREST" if fill else "REFLECT")
            return out[0]

        image = warp(image, "BILINEAR", 0.0)
        ann = dict(ann)
        if has_mask and "mask" in ann:
            m = tf.cast(ann["mask"], tf.float32)[..., None]
            ann["mask"] = tf.cast(tf.raw_ops.ImageProjectiveTransformV3(
                images=m[None], transforms=transform, output_shape=shape, fill_value=0.0,
                interpolation="NEAREST", fill_mode="CONSTANT")[0, ..., 0], ann["mask"].dtype)
        shift = tf.stack([dx, dy, dx, dy])
        if "box" in ann and "box" in geometry:
            ann["box"] = tf.clip_by_value(ann["box"] + shift, 0.0, 1.0)
        if "boxes" in ann and "boxes" in geometry:
            moved = tf.clip_by_value(ann["boxes"] + shift, 0.0, 1.0)
            w_, h_ = moved[:, 2] - moved[:, 0], moved[:, 3] - moved[:, 1]
            orig = ann["boxes"]
            area0 = (orig[:, 2] - orig[:, 0]) * (orig[:, 3] - orig[:, 1])
            # an object mostly pushed out of the frame is no longer an object to find
            kept = (w_ * h_ >= 0.4 * area0) & (w_ > 0.01) & (h_ > 0.01)
            ann["classes"] = tf.where(kept, ann["classes"], -tf.ones_like(ann["classes"]))
            ann["boxes"] = tf.where(kept[:, None], moved, tf.zeros_like(moved))
            if "count" in ann:
                ann["count"] = tf.reduce_sum(tf.cast(ann["classes"] >= 0, ann["count"].dtype))
        return image, ann

    def apply(image, ann):
        if cfg.flip in ("horizontal", "both"):
            image, ann = flip(image, ann, 1)
        if cfg.flip in ("vertical", "both"):
            image, ann = flip(image, ann, 0)
        if cfg.translate:
            image, ann = translate(image, ann)
        for layer in layers:
            image = layer(image, training=True)
        return tf.clip_by_value(image, 0.0, 1.0), ann

    return apply
