"""tensorflow-addons' own test cases for the losses that visiontk replaces, ported to
`visiontk.losses` (tensorflow-addons, end of life, does not import under TensorFlow 2.21).

Source: tensorflow/addons, tensorflow_addons/losses/tests/triplet_test.py and contrastive_test.py
(last versions, Apache-2.0), plus the usage examples in the docstrings of triplet.py. Kept: the
numpy reference implementations (re-written here), the case sizes (10 rows for semi-hard, 20 for
hard, 6 features, 4 classes, margin 1), the embedding dtypes and tfa's tolerance for each
(`assert_allclose_according_to_type`), the expected contrastive values, and the call signatures
(`TripletSemiHardLoss(distance_metric=...)`, `TripletHardLoss(soft=..., distance_metric=...)`,
`ContrastiveLoss(margin=..., reduction=..., name=...)`, `loss(y_true, y_pred, sample_weight=...)`).

Changed for Keras 3: tfa's random cases drew from an unseeded `np.random`; here each case runs three
fixed seeds. tfa compiled a model with `loss="Addons>triplet_semihard_loss"`; Keras 3's
`keras.losses.get` looks names up among its built-in losses only, so the registered name is resolved
with `keras.losses.deserialize` (what loading a saved model does) and the model also trains a step.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from visiontk.losses import (ContrastiveLoss, TripletHardLoss,  # noqa: E402
                             TripletSemiHardLoss)
from visiontk.tasks.metric import loss as M  # noqa: E402

# tfa's assert_allclose_according_to_type: (rtol, atol) by the embeddings' dtype
TOLERANCE = {"float32": 1e-6, "float16": 1e-3, "bfloat16": 1e-2}
DTYPES = list(TOLERANCE)
SEEDS = (0, 1, 2)


# ---- tfa's numpy references ---------------------------------------------------------------------
def pairwise_distance_np(feature, squared=False):
    """(n, n) euclidean distances: the upper triangle by np.linalg.norm, mirrored."""
    n = feature.shape[0]
    rows, cols = np.triu_indices(n, 1)
    upper = np.linalg.norm(feature[cols] - feature[rows], axis=1)
    if squared:
        upper = upper ** 2.0
    out = np.zeros((n, n))
    out[rows, cols] = upper
    return out + out.T


def angular_distance_np(feature):
    """(n, n) matrix 1 - cosine similarity."""
    unit = feature / np.linalg.norm(feature, ord=2, axis=1, keepdims=True)
    return 1.0 - unit @ unit.T


DISTANCES = {
    "angular": angular_distance_np,
    "squared-L2": lambda e: pairwise_distance_np(e, squared=True),
    "L2": lambda e: pairwise_distance_np(e, squared=False),
}


def triplet_semihard_loss_np(labels, embedding, margin, dist_func):
    """Mean over the anchor-positive pairs (i, j) of max(0, margin + d_ij - d_in), where n is the
    closest negative farther than d_ij, or the farthest negative when none is."""
    same = labels[:, None] == labels[None, :]
    dist = dist_func(embedding)
    total, pairs = 0.0, 0
    for i in range(len(labels)):
        negatives = sorted(dist[i][~same[i]])
        for j in range(len(labels)):
            if i == j or not same[i, j]:
                continue
            pairs += 1
            farther = [d for d in negatives if d > dist[i, j]]
            chosen = farther[0] if farther else negatives[-1]
            total += max(0.0, margin - chosen + dist[i, j])
    return total / pairs


def triplet_hard_loss_np(labels, embedding, margin, dist_func, soft=False):
    """Mean over anchors of max(0, farthest positive - closest negative + margin) (soft:
    log1p(exp(farthest positive - closest negative))); an anchor without positives uses 0."""
    same = labels[:, None] == labels[None, :]
    dist = dist_func(embedding)
    total = 0.0
    for i in range(len(labels)):
        positives = [dist[i, j] for j in range(len(labels)) if j != i and same[i, j]]
        hardest_positive = max(positives) if positives else 0.0
        gap = hardest_positive - min(dist[i][~same[i]])
        total += np.log1p(np.exp(gap)) if soft else max(0.0, gap + margin)
    return total / len(labels)


def random_case(seed, num_data):
    """tfa's random batch: uniform [0, 1) embeddings (num_data, 6), labels in 0..3."""
    rng = np.random.default_rng(seed)
    embedding = rng.random((num_data, 6)).astype(np.float32)
    labels = rng.integers(0, 4, size=num_data)
    return labels, embedding


def assert_close_for(dtype, got, expected):
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=tol, atol=tol)


# ---- triplet_test.py ----------------------------------------------------------------------------
@pytest.mark.parametrize("dist_metric", list(DISTANCES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_semihard_tripled_loss(dtype, dist_metric):
    for seed in SEEDS:
        labels, embedding = random_case(seed, num_data=10)
        expected = triplet_semihard_loss_np(labels, embedding, 1.0, DISTANCES[dist_metric])
        y_true = keras.ops.convert_to_tensor(labels)
        y_pred = keras.ops.convert_to_tensor(embedding, dtype=dtype)
        loss = TripletSemiHardLoss(distance_metric=dist_metric)(y_true, y_pred)
        assert_close_for(dtype, loss, expected)


@pytest.mark.parametrize("dist_metric", list(DISTANCES))
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_hard_tripled_loss(dtype, soft, dist_metric):
    for seed in SEEDS:
        labels, embedding = random_case(seed, num_data=20)
        expected = triplet_hard_loss_np(labels, embedding, 1.0, DISTANCES[dist_metric], soft)
        y_true = keras.ops.convert_to_tensor(labels)
        y_pred = keras.ops.convert_to_tensor(embedding, dtype=dtype)
        loss = TripletHardLoss(soft=soft, distance_metric=dist_metric)(y_true, y_pred)
        assert_close_for(dtype, loss, expected)


@pytest.mark.parametrize("name", ["triplet_semihard_loss", "triplet_hard_loss"])
def test_keras_model_compile_by_registered_name(name):
    loss = keras.losses.deserialize(f"visiontk>{name}")
    assert loss is getattr(M, name)
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10)])
    model.compile(loss=loss, optimizer="adam")
    labels, _ = random_case(0, num_data=8)
    x = np.random.default_rng(0).random((8, 784)).astype(np.float32)
    assert np.isfinite(model.train_on_batch(x, labels))


@pytest.mark.parametrize("loss", [TripletSemiHardLoss(), TripletHardLoss()])
def test_serialization(loss):
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_docstring_examples():
    """The usage examples of tfa's triplet_semihard_loss and triplet_hard_loss."""
    y_true = keras.ops.convert_to_tensor([0, 0])
    y_pred = keras.ops.convert_to_tensor([[0.0, 1.0], [1.0, 0.0]])

    def dot(x):
        return keras.ops.matmul(x, keras.ops.transpose(x))

    assert float(M.triplet_semihard_loss(y_true, y_pred, distance_metric="L2")) == \
        pytest.approx(2.4142137, abs=1e-6)
    assert float(M.triplet_semihard_loss(y_true, y_pred, distance_metric=dot)) == \
        pytest.approx(1.0, abs=1e-6)
    assert float(M.triplet_hard_loss(y_true, y_pred, distance_metric="L2")) == \
        pytest.approx(1.0, abs=1e-6)
    assert float(M.triplet_hard_loss(y_true, y_pred, distance_metric=dot)) == \
        pytest.approx(0.0, abs=1e-6)


# ---- contrastive_test.py ------------------------------------------------------------------------
Y_TRUE = np.array([0, 0, 1, 1, 0, 1], np.int64)
Y_PRED = np.array([0.1, 0.3, 1.3, 0.7, 1.1, 0.5], np.float32)
# y * d^2 + (1 - y) * max(1 - d, 0)^2 = [0.9^2, 0.7^2, 1.3^2, 0.7^2, 0, 0.5^2]
PER_PAIR = [0.81, 0.49, 1.69, 0.49, 0.0, 0.25]


def contrastive(loss, y_pred=Y_PRED, **kw):
    y_true = keras.ops.convert_to_tensor(Y_TRUE, dtype="int64")
    return np.asarray(loss(y_true, keras.ops.convert_to_tensor(y_pred, dtype="float32"), **kw))


def test_config():
    loss = ContrastiveLoss(reduction="sum", name="cl")
    assert loss.name == "cl" and loss.reduction == "sum"


def test_zero_loss():
    y_pred = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0], np.float32)
    np.testing.assert_allclose(contrastive(ContrastiveLoss(), y_pred), 0.0)


def test_unweighted():
    np.testing.assert_allclose(contrastive(ContrastiveLoss()), 0.621666, atol=1e-6, rtol=1e-6)


def test_sample_weighted():
    weights = keras.ops.convert_to_tensor([1.2, 0.8, 0.5, 0.4, 1.5, 1.0], dtype="float32")
    np.testing.assert_allclose(contrastive(ContrastiveLoss(), sample_weight=weights), 0.4425,
                               rtol=1e-6)


def test_non_default_margin():
    # [1.9^2, 1.7^2, 1.3^2, 0.7^2, 0.9^2, 0.5^2] / 6
    np.testing.assert_allclose(contrastive(ContrastiveLoss(margin=2.0)), 1.623333, atol=1e-6,
                               rtol=1e-6)


def test_scalar_weighted():
    np.testing.assert_allclose(contrastive(ContrastiveLoss(), sample_weight=6.0), 3.73, atol=1e-6,
                               rtol=1e-6)


def test_zero_weighted():
    np.testing.assert_allclose(contrastive(ContrastiveLoss(), sample_weight=0.0), 0.0)


def test_no_reduction():
    np.testing.assert_allclose(contrastive(ContrastiveLoss(reduction="none")), PER_PAIR, rtol=1e-5)


def test_sum_reduction():
    np.testing.assert_allclose(contrastive(ContrastiveLoss(reduction="sum")), 3.73, rtol=1e-6)
