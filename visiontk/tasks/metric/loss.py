"""Metric-learning losses (seeds 000 and 002): contrastive, triplet (explicit, batch-all, batch-hard,
semi-hard) and the centre loss, in Keras 3, registered serialisable.

`TripletSemiHardLoss`, `TripletHardLoss` and `ContrastiveLoss` are drop-ins for the tensorflow-addons
classes of the same names (same constructor arguments, same `y_true` / `y_pred` conventions, same
numbers), so code written for `tfa.losses` changes only its import. One deliberate difference: where
tensorflow-addons divides by zero (a semi-hard batch with no positive pair gives NaN there), these
return 0. docs/metric_learning.md has the migration table.

Conventions of the batch losses (tensorflow-addons'): `y_true` holds one integer label per row,
`y_pred` the (B, D) embeddings; `distance_metric` is "L2" (euclidean), "squared-L2" or "angular"
(1 - cosine similarity), or a function embeddings -> (B, B) distance matrix.

Labels stay exact: Keras 3's `Loss.__call__` casts `y_true` to the loss dtype (float32), which
merges identity ids above 2**24; the classes of the batch losses keep the labels' own dtype, as
tensorflow-addons' did. The functional forms are registered by name, like tfa's "Addons>...":
`keras.losses.deserialize("visiontk>triplet_semihard_loss")`. Compile with the classes: Keras wraps
a plain function given to `compile` in a wrapper whose `__call__` casts the labels to float32.
"""

from __future__ import annotations

import keras
from keras import ops
# Loss.__call__'s own reduction (sample weights, masks, the replica scaling); no public name exists
from keras.src.backend import get_keras_mask
from keras.src.losses.loss import reduce_weighted_values

__all__ = ["pairwise_distance", "angular_distance", "distance_matrix", "contrastive_loss",
           "triplet_semihard_loss", "triplet_hard_loss", "triplet_batch_all_loss",
           "explicit_triplet_loss", "center_loss_values", "center_update", "ContrastiveLoss",
           "TripletSemiHardLoss", "TripletHardLoss", "TripletBatchAllLoss", "TripletLoss",
           "CenterLoss", "METRIC_OF_DISTANCE"]

METRICS = ("L2", "squared-L2", "angular")
# the embedding task's `distance` -> the loss's `distance_metric`
METRIC_OF_DISTANCE = {"euclidean": "L2", "squared": "squared-L2", "cosine": "angular"}


# ---- distances ---------------------------------------------------------------------------------
def pairwise_distance(feature, squared: bool = False):
    """(B, B) euclidean distances between the rows of `feature`, computed as tensorflow-addons does:
    |a|^2 + |b|^2 - 2ab clamped at 0, exact zeros on the diagonal, and a square root whose gradient
    stays finite at zero distance.

    Example:
        >>> import numpy as np
        >>> d = pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]], "float32"))
        >>> float(d[0, 1])
        5.0
    """
    feature = ops.convert_to_tensor(feature)
    sq = ops.sum(ops.square(feature), axis=1, keepdims=True)
    d2 = ops.maximum(sq + ops.transpose(sq) - 2.0 * ops.matmul(feature, ops.transpose(feature)), 0.0)
    zero = ops.cast(ops.less_equal(d2, 0.0), feature.dtype)
    d = d2 if squared else ops.sqrt(d2 + zero * 1e-16)
    d = d * (1.0 - zero)
    n = ops.shape(feature)[0]
    return d * (1.0 - ops.eye(n, dtype=feature.dtype))


def angular_distance(feature):
    """(B, B) matrix 1 - cosine similarity, clamped at 1e-16 (tensorflow-addons' `angular`)."""
    feature = ops.convert_to_tensor(feature)
    unit = feature / ops.sqrt(ops.maximum(ops.sum(ops.square(feature), 1, keepdims=True), 1e-12))
    return ops.maximum(1.0 - ops.matmul(unit, ops.transpose(unit)), 1e-16)


def distance_matrix(embeddings, distance_metric="L2"):
    """(B, B) distances for a tensorflow-addons `distance_metric` name or a function."""
    if callable(distance_metric):
        return distance_metric(embeddings)
    if distance_metric == "L2":
        return pairwise_distance(embeddings, squared=False)
    if distance_metric == "squared-L2":
        return pairwise_distance(embeddings, squared=True)
    if distance_metric == "angular":
        return angular_distance(embeddings)
    raise ValueError(f"distance_metric must be one of {', '.join(METRICS)} or a function, "
                     f"got {distance_metric!r}")


def _masked_maximum(data, mask):
    """Row-wise maximum over `mask`; a row with an empty mask gives the row's minimum (as in
    tensorflow-addons, which keeps the loss finite in that case)."""
    lo = ops.min(data, axis=1, keepdims=True)
    return ops.max((data - lo) * mask, axis=1, keepdims=True) + lo


def _masked_minimum(data, mask):
    """Row-wise minimum over `mask`; an empty mask gives the row's maximum."""
    hi = ops.max(data, axis=1, keepdims=True)
    return ops.min((data - hi) * mask, axis=1, keepdims=True) + hi


def _prepare(y_true, y_pred):
    """Labels as a (B, 1) column, embeddings in float32 (half precision is upcast, as tfa does)."""
    emb = ops.convert_to_tensor(y_pred)
    if emb.dtype in ("float16", "bfloat16"):
        emb = ops.cast(emb, "float32")
    labels = ops.reshape(ops.convert_to_tensor(y_true), (-1, 1))
    return labels, emb


def _safe_divide(a, b):
    return ops.where(ops.greater(b, 0.0), a / ops.maximum(b, 1e-12), ops.zeros_like(a))


# ---- batch triplet losses ------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="visiontk")
def triplet_semihard_loss(y_true, y_pred, margin=1.0, distance_metric="L2"):
    """FaceNet's semi-hard triplet loss (tensorflow-addons' `triplet_semihard_loss`).

    For every anchor-positive pair (a, p) of the batch, the negative is the closest one farther than
    d(a, p); when none is, the farthest negative. Loss: mean over all pairs of
    max(d(a, p) - d(a, n) + margin, 0). A batch without positive pairs gives 0 (tfa: NaN).

    Example:
        >>> import numpy as np
        >>> emb = np.eye(4, dtype="float32")
        >>> round(float(triplet_semihard_loss(np.array([0, 0, 1, 1]), emb, margin=1.0)), 4)
        1.0
    """
    labels, emb = _prepare(y_true, y_pred)
    pdist = distance_matrix(emb, distance_metric)
    adjacency = ops.equal(labels, ops.transpose(labels))
    adjacency_not = ops.logical_not(adjacency)
    n = ops.shape(labels)[0]
    # row (b, i) of the tiled matrix asks, for anchor i and candidate positive b, which negatives
    # k of i lie farther than d(i, b)
    pdist_tile = ops.tile(pdist, (n, 1))
    mask = ops.logical_and(ops.tile(adjacency_not, (n, 1)),
                           ops.greater(pdist_tile, ops.reshape(ops.transpose(pdist), (-1, 1))))
    mask_f = ops.cast(mask, "float32")
    mask_final = ops.transpose(ops.reshape(ops.greater(ops.sum(mask_f, 1, keepdims=True), 0.0),
                                           (n, n)))
    negatives_outside = ops.transpose(ops.reshape(_masked_minimum(pdist_tile, mask_f), (n, n)))
    negatives_inside = ops.tile(_masked_maximum(pdist, ops.cast(adjacency_not, "float32")), (1, n))
    semi_hard = ops.where(mask_final, negatives_outside, negatives_inside)
    loss_mat = margin + pdist - semi_hard
    mask_positives = ops.cast(adjacency, "float32") - ops.eye(n, dtype="float32")
    num_positives = ops.sum(mask_positives)
    total = ops.sum(ops.maximum(loss_mat * mask_positives, 0.0))
    return _safe_divide(total, num_positives)


@keras.saving.register_keras_serializable(package="visiontk")
def triplet_hard_loss(y_true, y_pred, margin=1.0, soft=False, distance_metric="L2"):
    """Batch-hard triplet loss (Hermans et al. 2017; tensorflow-addons' `triplet_hard_loss`).

    Per anchor: the farthest positive and the closest negative; loss max(d_p - d_n + margin, 0),
    or log(1 + exp(d_p - d_n)) with `soft`; mean over anchors. An anchor without positives uses
    d_p = the row minimum (0 for L2), one without negatives d_n = the row maximum (tfa's masked
    reductions), so the loss is always finite.

    Example:
        >>> import numpy as np
        >>> emb = np.array([[0, 0], [0, 1], [3, 0], [3, 1]], "float32")
        >>> float(triplet_hard_loss(np.array([0, 0, 1, 1]), emb, margin=1.0))
        0.0
    """
    labels, emb = _prepare(y_true, y_pred)
    pdist = distance_matrix(emb, distance_metric)
    adjacency = ops.cast(ops.equal(labels, ops.transpose(labels)), "float32")
    n = ops.shape(labels)[0]
    hard_negatives = _masked_minimum(pdist, 1.0 - adjacency)
    hard_positives = _masked_maximum(pdist, adjacency - ops.eye(n, dtype="float32"))
    if soft:
        loss = ops.log1p(ops.exp(hard_positives - hard_negatives))
    else:
        loss = ops.maximum(hard_positives - hard_negatives + margin, 0.0)
    return ops.mean(loss)


@keras.saving.register_keras_serializable(package="visiontk")
def triplet_batch_all_loss(y_true, y_pred, margin=1.0, distance_metric="L2", average="positive"):
    """Batch-all triplet loss: every valid (a, p, n) of the batch, a != p with the same label, n with
    another label; max(d(a, p) - d(a, n) + margin, 0) averaged over the triplets with a positive loss
    (`average="positive"`, Hermans et al.'s BA!=0) or over all valid triplets (`"all"`). No valid
    triplet gives 0.

    Example:
        >>> import numpy as np
        >>> emb = np.array([[0, 0], [0, 1], [0, 0.5]], "float32")
        >>> round(float(triplet_batch_all_loss(np.array([0, 0, 1]), emb, margin=1.0)), 4)
        1.5
    """
    if average not in ("positive", "all"):
        raise ValueError(f"average must be 'positive' or 'all', got {average!r}")
    labels, emb = _prepare(y_true, y_pred)
    pdist = distance_matrix(emb, distance_metric)
    n = ops.shape(labels)[0]
    same = ops.equal(labels, ops.transpose(labels))
    not_self = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    positive = ops.logical_and(same, not_self)                      # (a, p)
    negative = ops.logical_not(same)                                 # (a, n)
    valid = ops.logical_and(ops.expand_dims(positive, 2), ops.expand_dims(negative, 1))
    loss = ops.expand_dims(pdist, 2) - ops.expand_dims(pdist, 1) + margin    # [a, p, n]
    loss = ops.maximum(loss, 0.0) * ops.cast(valid, "float32")
    if average == "positive":
        count = ops.sum(ops.cast(ops.greater(loss, 1e-16), "float32"))
    else:
        count = ops.sum(ops.cast(valid, "float32"))
    return _safe_divide(ops.sum(loss), count)


def explicit_triplet_loss(y_pred, margin=1.0, distance_metric="squared-L2"):
    """Per-triplet loss max(d(a, p) - d(a, n) + margin, 0) for `y_pred` of shape (B, 3, D) holding
    (anchor, positive, negative) embeddings; seed 000's objective with squared distances.

    Example:
        >>> import numpy as np
        >>> t = np.array([[[0, 0], [0, 1], [0, 3]]], "float32")
        >>> float(explicit_triplet_loss(t, margin=1.0)[0])       # 1 - 9 + 1 < 0
        0.0
    """
    t = ops.convert_to_tensor(y_pred)
    if t.dtype in ("float16", "bfloat16"):
        t = ops.cast(t, "float32")
    a, p, n = t[:, 0], t[:, 1], t[:, 2]
    d_ap, d_an = _row_distance(a, p, distance_metric), _row_distance(a, n, distance_metric)
    return ops.maximum(d_ap - d_an + margin, 0.0)


def _row_distance(a, b, distance_metric):
    if distance_metric == "angular":
        na = a / ops.sqrt(ops.maximum(ops.sum(ops.square(a), -1, keepdims=True), 1e-12))
        nb = b / ops.sqrt(ops.maximum(ops.sum(ops.square(b), -1, keepdims=True), 1e-12))
        return ops.maximum(1.0 - ops.sum(na * nb, -1), 1e-16)
    d2 = ops.sum(ops.square(a - b), -1)
    if distance_metric == "squared-L2":
        return d2
    if distance_metric == "L2":
        zero = ops.cast(ops.less_equal(d2, 0.0), d2.dtype)
        return ops.sqrt(d2 + zero * 1e-16) * (1.0 - zero)
    raise ValueError(f"distance_metric must be one of {', '.join(METRICS)}, got {distance_metric!r}")


# ---- contrastive ----------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="visiontk")
def contrastive_loss(y_true, y_pred, margin=1.0):
    """Hadsell-Chopra-LeCun contrastive loss per pair (tensorflow-addons' `contrastive_loss`):
    y * d^2 + (1 - y) * max(margin - d, 0)^2, with `y_true` 1 for similar pairs and `y_pred` the
    pair distances d. (Seed 002 writes the same sum with a factor 1/2.)

    Example:
        >>> import numpy as np
        >>> [float(v) for v in contrastive_loss(np.array([1, 0]), np.array([0.5, 0.25]), 1.0)]
        [0.25, 0.5625]
    """
    d = ops.convert_to_tensor(y_pred)
    y = ops.cast(ops.convert_to_tensor(y_true), d.dtype)
    return y * ops.square(d) + (1.0 - y) * ops.square(ops.maximum(margin - d, 0.0))


# ---- centre loss ----------------------------------------------------------------------------------
def center_loss_values(features, labels, centers):
    """Per-sample centre loss 1/2 ||x_i - C_{y_i}||^2 (Wen et al. 2016, seed 002); the centres are
    constants for the gradient."""
    c = ops.stop_gradient(ops.take(centers, ops.cast(labels, "int32"), axis=0))
    return 0.5 * ops.sum(ops.square(features - c), axis=-1)


def center_update(centers, features, labels, alpha):
    """Seed 002's rule: C_j <- C_j - alpha * sum_i [y_i = j](C_j - x_i) / (1 + sum_i [y_i = j]).

    Example:
        >>> import numpy as np
        >>> c = center_update(np.zeros((2, 1), "float32"), np.array([[2.0], [4.0]], "float32"),
        ...                   np.array([0, 0]), alpha=0.5)
        >>> [float(v) for v in np.asarray(c)[:, 0]]        # 0 - 0.5 * (-6 / 3)
        [1.0, 0.0]
    """
    centers = ops.convert_to_tensor(centers)
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    features = ops.cast(features, centers.dtype)
    k = ops.shape(centers)[0]
    one_hot = ops.one_hot(labels, k, dtype=centers.dtype)                 # (B, K); label -1 -> 0s
    counts = ops.sum(one_hot, axis=0)                                        # (K,)
    feature_sums = ops.matmul(ops.transpose(one_hot), features)             # (K, D)
    delta = (ops.expand_dims(counts, 1) * centers - feature_sums) / (1.0 + ops.expand_dims(counts, 1))
    return centers - alpha * ops.stop_gradient(delta)


# ---- Keras losses -----------------------------------------------------------------------------------
def _check_metric(distance_metric):
    if not callable(distance_metric) and distance_metric not in METRICS:
        raise ValueError(f"distance_metric must be one of {', '.join(METRICS)} or a function, "
                         f"got {distance_metric!r}")


def _metric_config(distance_metric):
    if callable(distance_metric):
        return keras.saving.serialize_keras_object(distance_metric)
    return distance_metric


def _metric_from_config(value):
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value


@keras.saving.register_keras_serializable(package="visiontk")
class ContrastiveLoss(keras.losses.Loss):
    """Contrastive loss over pairs; drop-in for `tfa.losses.ContrastiveLoss(margin=1.0)`:
    `y_true` 1 for similar pairs, 0 otherwise; `y_pred` the pair distances (B,). Mean over pairs.
    (0 and 1 are exact in float32: Keras' cast of `y_true` is harmless here.)

    Example:
        >>> import numpy as np
        >>> float(ContrastiveLoss(margin=1.0)(np.array([1, 0]), np.array([0.5, 0.25])))
        0.40625
    """

    def __init__(self, margin=1.0, reduction="sum_over_batch_size", name="contrastive_loss", **kw):
        super().__init__(name=name, reduction=reduction, **kw)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        y_pred = ops.reshape(y_pred, (-1,))
        return contrastive_loss(ops.reshape(y_true, (-1,)), y_pred, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


class _BatchTripletLoss(keras.losses.Loss):
    """Base of the losses over a batch of labelled embeddings, whose `__call__` differs from Keras'
    `Loss.__call__` in two ways (masks, sample weights and the reduction stay Keras' own):

    - the labels keep their own dtype: Keras casts `y_true` to the loss dtype (float32), which
      merges identity ids above 2**24 (2**24 + 1 becomes 2**24);
    - the batch's one loss value is reduced as a (1,) vector: Keras returns a scalar as it is,
      without the 1 / replicas scale that it gives a per-sample vector, so under a MirroredStrategy
      with N replicas the gradients and the reported loss were N times the replicas' mean.
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        in_mask = get_keras_mask(y_pred)
        with keras.name_scope(self.name):
            labels = ops.convert_to_tensor(y_true)
            loss = self.call(labels, ops.convert_to_tensor(y_pred, dtype=self.dtype))
            if self.reduction not in (None, "none"):
                loss = ops.reshape(loss, (1,))
            return reduce_weighted_values(loss, sample_weight=sample_weight, mask=in_mask,
                                          reduction=self.reduction, dtype=self.dtype)

    def __init__(self, margin=1.0, distance_metric="L2", name=None, reduction="sum_over_batch_size",
                 **kw):
        _check_metric(distance_metric)
        super().__init__(name=name, reduction=reduction, **kw)
        self.margin = float(margin)
        self.distance_metric = distance_metric

    def get_config(self):
        return {**super().get_config(), "margin": self.margin,
                "distance_metric": _metric_config(self.distance_metric)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["distance_metric"] = _metric_from_config(config.get("distance_metric", "L2"))
        return cls(**config)


@keras.saving.register_keras_serializable(package="visiontk")
class TripletSemiHardLoss(_BatchTripletLoss):
    """Semi-hard triplet loss; drop-in for `tfa.losses.TripletSemiHardLoss(margin=1.0,
    distance_metric="L2")`: `y_true` integer labels (B,), `y_pred` embeddings (B, D).

    Example:
        >>> import numpy as np
        >>> loss = TripletSemiHardLoss(margin=0.5)
        >>> float(loss(np.array([0, 0, 1, 1]), np.eye(4, dtype="float32"))) >= 0
        True
    """

    def __init__(self, margin=1.0, distance_metric="L2", name="triplet_semihard_loss", **kw):
        super().__init__(margin, distance_metric, name=name, **kw)

    def call(self, y_true, y_pred):
        return triplet_semihard_loss(y_true, y_pred, self.margin, self.distance_metric)


@keras.saving.register_keras_serializable(package="visiontk")
class TripletHardLoss(_BatchTripletLoss):
    """Batch-hard triplet loss; drop-in for `tfa.losses.TripletHardLoss(margin=1.0, soft=False,
    distance_metric="L2")`.

    Example:
        >>> import numpy as np
        >>> float(TripletHardLoss(soft=True)(np.array([0, 1]), np.eye(2, dtype="float32"))) > 0
        True
    """

    def __init__(self, margin=1.0, soft=False, distance_metric="L2", name="triplet_hard_loss", **kw):
        super().__init__(margin, distance_metric, name=name, **kw)
        self.soft = bool(soft)

    def call(self, y_true, y_pred):
        return triplet_hard_loss(y_true, y_pred, self.margin, self.soft, self.distance_metric)

    def get_config(self):
        return {**super().get_config(), "soft": self.soft}


@keras.saving.register_keras_serializable(package="visiontk")
class TripletBatchAllLoss(_BatchTripletLoss):
    """Batch-all triplet loss (every valid triplet of the batch); see `triplet_batch_all_loss`.

    Example:
        >>> import numpy as np
        >>> float(TripletBatchAllLoss()(np.array([0, 1]), np.eye(2, dtype="float32")))  # no positive
        0.0
    """

    def __init__(self, margin=1.0, distance_metric="L2", average="positive",
                 name="triplet_batch_all_loss", **kw):
        super().__init__(margin, distance_metric, name=name, **kw)
        if average not in ("positive", "all"):
            raise ValueError(f"average must be 'positive' or 'all', got {average!r}")
        self.average = average

    def call(self, y_true, y_pred):
        return triplet_batch_all_loss(y_true, y_pred, self.margin, self.distance_metric, self.average)

    def get_config(self):
        return {**super().get_config(), "average": self.average}


@keras.saving.register_keras_serializable(package="visiontk")
class TripletLoss(keras.losses.Loss):
    """Triplet loss over explicit triplets: `y_pred` (B, 3, D) = (anchor, positive, negative)
    embeddings, `y_true` ignored; mean of max(d(a, p) - d(a, n) + margin, 0) (seed 000, with
    `distance_metric="squared-L2"` as there).

    Example:
        >>> import numpy as np
        >>> t = np.array([[[0, 0], [0, 1], [0, 1.2]]], "float32")
        >>> round(float(TripletLoss(margin=1.0)(np.zeros(1), t)), 4)      # 1 - 1.44 + 1
        0.56
    """

    def __init__(self, margin=1.0, distance_metric="squared-L2", reduction="sum_over_batch_size",
                 name="triplet_loss", **kw):
        if distance_metric not in METRICS:
            raise ValueError(f"distance_metric must be one of {', '.join(METRICS)}, "
                             f"got {distance_metric!r}")
        super().__init__(name=name, reduction=reduction, **kw)
        self.margin = float(margin)
        self.distance_metric = distance_metric

    def call(self, y_true, y_pred):
        return explicit_triplet_loss(y_pred, self.margin, self.distance_metric)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "distance_metric": self.distance_metric}


@keras.saving.register_keras_serializable(package="visiontk")
class CenterLoss(keras.losses.Loss):
    """lambda x the mean of per-sample centre-loss values that a `visiontk.layers.ClassCenters`
    layer outputs (the centres live in that layer, saved with the model); `y_true` is ignored.
    Combined with softmax cross-entropy on the logits this is Wen et al.'s
    L = L_softmax + lambda * L_c (seed 002).

    Example:
        >>> import numpy as np
        >>> round(float(CenterLoss(weight=0.1)(np.zeros(2), np.array([1.0, 3.0], "float32"))), 6)
        0.2
    """

    def __init__(self, weight=0.01, reduction="sum_over_batch_size", name="center_loss", **kw):
        super().__init__(name=name, reduction=reduction, **kw)
        self.weight = float(weight)

    def call(self, y_true, y_pred):
        return self.weight * ops.reshape(y_pred, (-1,))

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
