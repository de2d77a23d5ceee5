"""PSNR and SSIM as Keras metrics (images in [0, 1])."""

from __future__ import annotations


def psnr(y_true, y_pred):
    """Per-image PSNR in dB (tf.image.psnr, max value 1): the training metric and the evaluation's."""
    import tensorflow as tf

    return tf.image.psnr(tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32), max_val=1.0)


def ssim(y_true, y_pred):
    """Per-image SSIM (tf.image.ssim, max value 1, Gaussian window 11 (smaller for tiny images))."""
    import tensorflow as tf

    size = int(min(11, y_true.shape[1] or 11, y_true.shape[2] or 11))
    return tf.image.ssim(tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32), max_val=1.0,
                         filter_size=size)
