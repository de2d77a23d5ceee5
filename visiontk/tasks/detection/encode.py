"""Grid targets (seed 003): boxes and classes to the S x S x (5 + C) training target."""

from __future__ import annotations


def encode_grid(boxes, classes, grid: int, num_classes: int):
    """tf ops: padded boxes (M, 4) normalised x1, y1, x2, y2 + classes (M,) (-1 = padding) ->
    the (S, S, 5 + C) target: object flag, x, y in the cell, sqrt w, sqrt h, one-hot class.

    Example:
        >>> t = encode_grid([[0.1, 0.1, 0.3, 0.5]], [2], 4, 3)  # doctest: +SKIP
        >>> t[1, 0].numpy()  # centre (0.2, 0.3) -> row 1, col 0   # doctest: +SKIP
        array([1. , 0.8, 0.2, 0.4472136, 0.6324555, 0. , 0. , 1. ], dtype=float32)
    """
    import tensorflow as tf

    s = grid
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    classes = tf.reshape(tf.cast(classes, tf.int32), (-1,))
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    valid = (classes >= 0) & (w > 0) & (h > 0)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    col = tf.clip_by_value(tf.cast(tf.floor(cx * s), tf.int32), 0, s - 1)
    row = tf.clip_by_value(tf.cast(tf.floor(cy * s), tf.int32), 0, s - 1)
    # one owner per cell, the largest object (deterministic, no scatter collisions)
    owner = tf.one_hot(row * s + col, s * s) * tf.cast(valid, tf.float32)[:, None]     # (M, S*S)
    priority = owner * (w * h + 1.0)[:, None]
    best = tf.argmax(priority, axis=0, output_type=tf.int32)                           # (S*S,)
    has = tf.cast(tf.reduce_max(priority, axis=0) > 0, tf.float32)
    take = lambda v: tf.gather(v, best) * has                                         # noqa: E731
    x = take(cx * s - tf.cast(col, tf.float32))
    y = take(cy * s - tf.cast(row, tf.float32))
    sw = take(tf.sqrt(tf.maximum(w, 0.0)))
    sh = take(tf.sqrt(tf.maximum(h, 0.0)))
    onehot = tf.one_hot(tf.gather(tf.maximum(classes, 0), best), num_classes) * has[:, None]
    target = tf.concat([tf.stack([has, x, y, sw, sh], -1), onehot], -1)
    return tf.reshape(target, (s, s, 5 + num_classes))
