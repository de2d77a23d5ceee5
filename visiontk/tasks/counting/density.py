"""Density counting (`model.head.density: true`): the map target, its loss and metrics, the head.

As in crowd counting (Zhang et al. 2016, MCNN; Li et al. 2018, CSRNet), the network predicts a map
at 1/stride of the input whose sum is the count. Each object adds a Gaussian of `sigma` cells around
its box centre, normalised to sum to 1 over the map (so border objects count fully), into the
channel of its class (per_class) or the single channel. The map tells the network where every
counted object is, which a scalar count regressed from pooled features never does. Imports Keras.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from visiontk.layers import Resize


def density_map(boxes, classes, grid: tuple[int, int], channels: int, sigma: float):
    """tf ops, rank-agnostic (one example or a batch): padded boxes (..., M, 4) normalised x1, y1,
    x2, y2 + classes (..., M) (-1 = padding) -> the (..., H, W, channels) density target; its sum
    over H, W is the number of objects (per class when channels > 1).

    Example:
        >>> m = density_map([[0.1, 0.1, 0.3, 0.5]], [2], (4, 4), 1, 1.0)  # doctest: +SKIP
        >>> float(m.numpy().sum())                                         # doctest: +SKIP
        1.0
    """
    import tensorflow as tf

    gh, gw = grid
    boxes = tf.cast(boxes, tf.float32)
    classes = tf.cast(classes, tf.int32)
    valid = tf.cast((classes >= 0) & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1]),
                    tf.float32)                                                    # (..., M)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2 * gw                                  # in cells
    cy = (boxes[..., 1] + boxes[..., 3]) / 2 * gh

    def profile(centre, n):                      # (..., M) -> (..., M, n), each row sums to 1
        d = tf.range(n, dtype=tf.float32) + 0.5 - centre[..., None]
        g = tf.exp(-0.5 * tf.square(d / sigma))
        return g / tf.reduce_sum(g, -1, keepdims=True)

    py, px = profile(cy, gh), profile(cx, gw)
    if channels > 1:
        weight = tf.one_hot(tf.maximum(classes, 0), channels) * valid[..., None]   # (..., M, K)
    else:
        weight = valid[..., None]
    return tf.einsum("...mh,...mw,...mk->...hwk", py, px, weight)


def spatial_sum(x):
    """(B, H, W, K) maps -> (B, K) counts."""
    return ops.sum(ops.cast(x, "float32"), axis=(1, 2))


@keras.saving.register_keras_serializable(package="visiontk")
class DensityCountLoss(keras.losses.Loss):
    """`count_loss` on the map's sums (mse, mae or huber, per class averaged) + `density_weight` x
    the squared error summed over the map's cells (averaged over channels), per image."""

    def __init__(self, count_loss="huber", huber_delta=1.0, density_weight=10.0,
                 name="density_count_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if count_loss not in ("mse", "mae", "huber"):
            raise ValueError(f"count_loss must be mse, mae or huber, got {count_loss!r}")
        self.count_loss, self.huber_delta = count_loss, float(huber_delta)
        self.density_weight = float(density_weight)

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        truth, pred = spatial_sum(y_true), spatial_sum(y_pred)          # (B, K)
        if self.count_loss == "huber":       # Keras' per-sample functions: mean over the classes
            count = keras.losses.huber(truth, pred, delta=self.huber_delta)
        else:
            count = {"mse": keras.losses.mean_squared_error,
                     "mae": keras.losses.mean_absolute_error}[self.count_loss](truth, pred)
        cells = ops.mean(ops.sum(ops.square(y_pred - y_true), axis=(1, 2)), axis=-1)
        return count + self.density_weight * cells

    def get_config(self):
        return {**super().get_config(), "count_loss": self.count_loss,
                "huber_delta": self.huber_delta, "density_weight": self.density_weight}


def _on_counts(metric_cls):
    """A Keras metric class that scores the maps' sums (the counts) instead of the maps."""

    class OnCounts(metric_cls):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return super().update_state(spatial_sum(y_true), spatial_sum(y_pred), sample_weight)

    OnCounts.__name__ = OnCounts.__qualname__ = f"Density{metric_cls.__name__}"
    return keras.saving.register_keras_serializable(package="visiontk")(OnCounts)


DensityMeanAbsoluteError = _on_counts(keras.metrics.MeanAbsoluteError)
DensityRootMeanSquaredError = _on_counts(keras.metrics.RootMeanSquaredError)


def density_metrics(exact_count_accuracy) -> list:
    """mae, rmse and exact_accuracy of the counts (the names the counting task monitors)."""
    def exact_accuracy(y_true, y_pred):
        return exact_count_accuracy(spatial_sum(y_true), spatial_sum(y_pred))

    return [DensityMeanAbsoluteError(name="mae"), DensityRootMeanSquaredError(name="rmse"),
            keras.metrics.MeanMetricWrapper(exact_accuracy, name="exact_accuracy")]


def density_head(features, input_shape, cfg, channels: int, feature=None, dropout=None):
    """The (B, H / stride, W / stride, channels) float32 map, linear (cells may go below 0; the
    count is clipped at 0 when decoded)."""
    from visiontk.tasks._dense_head import full_resolution

    x = full_resolution(features, input_shape, feature=feature, width=cfg.decoder_width,
                        name="density", stride=cfg.density_stride)
    gh, gw = input_shape[0] // cfg.density_stride, input_shape[1] // cfg.density_stride
    if (x.shape[1], x.shape[2]) != (gh, gw):     # a full-resolution decoder (U-Net): average down
        if x.shape[1] % gh == 0 and x.shape[2] % gw == 0:
            x = layers.AveragePooling2D((x.shape[1] // gh, x.shape[2] // gw), name="density_pool")(x)
        else:
            x = Resize(gh, gw, interpolation="bilinear", name="density_resize")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    # zero-initialised: the map (and the count) starts at 0 instead of a random sum over its cells
    return layers.Conv2D(channels, 1, kernel_initializer="zeros", dtype="float32", name="density")(x)


def counts_from_density(model):
    """The inference model: the training model's map summed into (B, channels) counts, named
    "count" as a regressing counter's output (built-in layers only: exports need nothing of ours)."""
    dens = model.output
    h, w = int(dens.shape[1]), int(dens.shape[2])
    pooled = layers.GlobalAveragePooling2D(dtype="float32", name="density_mean")(dens)
    count = layers.Rescaling(float(h * w), dtype="float32", name="count")(pooled)
    return keras.Model(model.input, count, name=model.name)
