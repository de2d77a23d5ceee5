"""Segmentation losses: soft Dice, and cross-entropy + Dice with weights (Keras 3, serialisable).

Targets are class maps (B, H, W) of ints (0 background, i + 1 class i) for a softmax output of
K channels, or foreground maps (B, H, W, 1) in {0, 1} for a sigmoid output of one channel. Both
losses return one value per image, so Keras' batch reduction and tf.distribute work as for any loss.

Soft Dice of class c on one image: (2 sum p*t + s) / (sum p + sum t + s), s = `smooth` (a class
absent from both target and prediction scores 1); the loss is 1 - the mean over classes (background
included only with `include_background`, always for the sigmoid form's single channel).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["DiceLoss", "CrossEntropyDiceLoss", "soft_dice"]


def _probs_and_onehot(y_true, y_pred):
    y_pred = ops.cast(y_pred, "float32")
    k = y_pred.shape[-1]
    if k == 1:
        return y_pred, ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
    labels = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
    return y_pred, ops.one_hot(labels, k, dtype="float32")


def soft_dice(y_true, y_pred, *, smooth: float = 1.0, include_background: bool = False):
    """Per-image mean soft Dice (B,) over classes.

    Example:
        >>> import numpy as np
        >>> t = np.array([[[0, 1], [1, 1]]]); p = np.eye(2, dtype="float32")[t]
        >>> float(soft_dice(t, p)[0])
        1.0
    """
    p, t = _probs_and_onehot(y_true, y_pred)
    if p.shape[-1] > 1 and not include_background:
        p, t = p[..., 1:], t[..., 1:]
    axes = (1, 2)
    inter = ops.sum(p * t, axis=axes)
    total = ops.sum(p, axis=axes) + ops.sum(t, axis=axes)
    dice = (2.0 * inter + smooth) / (total + smooth)
    return ops.mean(dice, axis=-1)


@keras.saving.register_keras_serializable(package="visiontk")
class DiceLoss(keras.losses.Loss):
    """1 - mean soft Dice per image.

    Args:
        smooth: added to numerator and denominator (stability; empty classes score 1).
        include_background: count class 0 in the mean (softmax form).
    """

    def __init__(self, smooth: float = 1.0, include_background: bool = False, name: str = "dice_loss",
                 reduction: str = "sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.smooth = float(smooth)
        self.include_background = bool(include_background)

    def call(self, y_true, y_pred):
        return 1.0 - soft_dice(y_true, y_pred, smooth=self.smooth,
                               include_background=self.include_background)

    def get_config(self):
        return {"smooth": self.smooth, "include_background": self.include_background,
                "name": self.name, "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="visiontk")
class CrossEntropyDiceLoss(keras.losses.Loss):
    """ce_weight * mean pixel cross-entropy + dice_weight * Dice loss, per image.

    Cross-entropy is categorical for a softmax output (sparse class-map targets) and binary for a
    one-channel sigmoid output. Either weight may be 0 (pure Dice or pure cross-entropy).
    """

    def __init__(self, ce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0,
                 include_background: bool = False, name: str = "ce_dice_loss",
                 reduction: str = "sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.ce_weight = float(ce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)
        self.include_background = bool(include_background)

    def call(self, y_true, y_pred):
        p, t = _probs_and_onehot(y_true, y_pred)
        total = 0.0
        if self.ce_weight:
            eps = keras.backend.epsilon()
            p_c = ops.clip(p, eps, 1.0 - eps)
            if p.shape[-1] == 1:
                ce = -(t * ops.log(p_c) + (1.0 - t) * ops.log(1.0 - p_c))[..., 0]
            else:
                ce = -ops.sum(t * ops.log(p_c), axis=-1)
            total = total + self.ce_weight * ops.mean(ce, axis=(1, 2))
        if self.dice_weight:
            dice = soft_dice(y_true, y_pred, smooth=self.smooth,
                             include_background=self.include_background)
            total = total + self.dice_weight * (1.0 - dice)
        return total

    def get_config(self):
        return {"ce_weight": self.ce_weight, "dice_weight": self.dice_weight, "smooth": self.smooth,
                "include_background": self.include_background, "name": self.name,
                "reduction": self.reduction}
