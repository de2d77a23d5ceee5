"""Metric losses against direct numpy computations on fixed embeddings (1e-5), including batches
with no valid positive or negative; tensorflow-addons drop-in signatures; serialisation."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from visiontk.tasks.metric import loss as M  # noqa: E402
from visiontk.losses import (ContrastiveLoss, TripletBatchAllLoss, TripletHardLoss,  # noqa: E402
                             TripletLoss, TripletSemiHardLoss)

RNG = np.random.default_rng(42)
EMB = RNG.normal(size=(12, 5)).astype(np.float32)
LABELS = np.array([0, 1, 2, 0, 1, 2, 3, 3, 0, 1, 4, 2])          # 4 is alone: an anchor w/o positive
CASES = {
    "mixed": (LABELS, EMB),
    "no_positive": (np.arange(6), EMB[:6]),                       # every label distinct
    "no_negative": (np.zeros(6, int), EMB[:6]),                   # a single label
    "duplicates": (np.array([0, 0, 1, 1]), np.repeat(EMB[:2], 2, axis=0)),   # zero distances
}


def dist_np(emb, metric):
    e = emb.astype(np.float64)
    if metric == "angular":
        u = e / np.linalg.norm(e, axis=1, keepdims=True)
        return np.maximum(1.0 - u @ u.T, 1e-16)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    return d ** 2 if metric == "squared-L2" else d


def semihard_np(labels, emb, margin, metric):
    """tfa's reference loop; an anchor without negatives uses the row minimum (tfa's masked max)."""
    d = dist_np(emb, metric)
    total, count = 0.0, 0
    for i in range(len(labels)):
        negs = sorted(d[i, k] for k in range(len(labels)) if labels[k] != labels[i])
        for j in range(len(labels)):
            if j == i or labels[j] != labels[i]:
                continue
            count += 1
            if not negs:
                chosen = d[i].min()
            else:
                outside = [v for v in negs if v > d[i, j]]
                chosen = outside[0] if outside else negs[-1]
            total += max(0.0, margin + d[i, j] - chosen)
    return total / count if count else 0.0


def hard_np(labels, emb, margin, soft, metric):
    d = dist_np(emb, metric)
    out = []
    for i in range(len(labels)):
        pos = [d[i, j] for j in range(len(labels)) if j != i and labels[j] == labels[i]]
        neg = [d[i, j] for j in range(len(labels)) if labels[j] != labels[i]]
        dp = max(pos) if pos else d[i].min()
        dn = min(neg) if neg else d[i].max()
        out.append(np.log1p(np.exp(dp - dn)) if soft else max(dp - dn + margin, 0.0))
    return float(np.mean(out))


def batch_all_np(labels, emb, margin, metric, average):
    d = dist_np(emb, metric)
    vals = []
    n = len(labels)
    for a in range(n):
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            for k in range(n):
                if labels[k] != labels[a]:
                    vals.append(max(d[a, p] - d[a, k] + margin, 0.0))
    if average == "positive":
        vals = [v for v in vals if v > 1e-16]
    return float(np.mean(vals)) if vals else 0.0


def value(x):
    v = float(np.asarray(x))
    assert np.isfinite(v)
    return v


@pytest.mark.parametrize("metric", ["L2", "squared-L2", "angular"])
def test_semihard_matches_numpy(metric):
    for case, (labels, emb) in CASES.items():
        for margin in (0.2, 1.0):
            got = value(TripletSemiHardLoss(margin=margin, distance_metric=metric)(labels, emb))
            np.testing.assert_allclose(got, semihard_np(labels, emb, margin, metric), atol=1e-5,
                                       rtol=1e-5, err_msg=f"{case} margin {margin}")


@pytest.mark.parametrize("metric", ["L2", "squared-L2", "angular"])
def test_hard_matches_numpy(metric):
    for case, (labels, emb) in CASES.items():
        for soft in (False, True):
            got = value(TripletHardLoss(margin=0.5, soft=soft, distance_metric=metric)(labels, emb))
            np.testing.assert_allclose(got, hard_np(labels, emb, 0.5, soft, metric), atol=1e-5,
                                       rtol=1e-5, err_msg=f"{case} soft={soft}")


@pytest.mark.parametrize("metric", ["L2", "squared-L2", "angular"])
def test_batch_all_matches_numpy(metric):
    for case, (labels, emb) in CASES.items():
        for average in ("positive", "all"):
            loss = TripletBatchAllLoss(margin=0.5, distance_metric=metric, average=average)
            np.testing.assert_allclose(value(loss(labels, emb)),
                                       batch_all_np(labels, emb, 0.5, metric, average), atol=1e-5,
                                       rtol=1e-5, err_msg=f"{case} {average}")


def test_no_positive_or_negative_batches_give_finite_documented_values():
    labels, emb = CASES["no_positive"]
    assert value(TripletSemiHardLoss()(labels, emb)) == 0.0            # tfa: 0/0 = NaN
    assert value(TripletBatchAllLoss()(labels, emb)) == 0.0
    # batch hard without positives: d_p = row minimum = 0 -> mean of max(margin - closest neg, 0)
    d = dist_np(emb, "L2")
    np.fill_diagonal(d, np.inf)
    assert value(TripletHardLoss(margin=2.0)(labels, emb)) == pytest.approx(
        np.maximum(2.0 - d.min(1), 0).mean(), abs=1e-5)
    labels, emb = CASES["no_negative"]
    assert value(TripletBatchAllLoss()(labels, emb)) == 0.0
    assert np.isfinite(value(TripletSemiHardLoss()(labels, emb)))


def test_semihard_by_hand():
    # 1-D points; label 0 at 0 and 1, label 1 at 0.5, 1.5 and 3; margin 1. Per positive pair
    # (anchor, positive): chosen negative -> loss
    # (0,1) d=1: 1.5 -> 0.5 | (1,0) d=1: 2 -> 0 | (2,3) d=1: none farther, largest 0.5 -> 1.5
    # (2,4) d=2.5: 0.5 -> 3 | (3,2) d=1: 1.5 -> 0.5 | (3,4) d=1.5: none farther, 1.5 -> 1
    # (4,2) d=2.5: 3 -> 0.5 | (4,3) d=1.5: 2 -> 0.5          total 7.5 over 8 pairs
    emb = np.array([[0.0], [1.0], [0.5], [1.5], [3.0]], np.float32)
    labels = np.array([0, 0, 1, 1, 1])
    assert value(M.triplet_semihard_loss(labels, emb, margin=1.0)) == pytest.approx(0.9375, abs=1e-6)
    # batch-hard by hand: anchors 0..4 -> max(dp - dn + 1, 0): 0: 1-.5+1, 1: 1-.5+1, 2: 2.5-.5+1,
    # 3: 1.5-.5+1, 4: 2.5-2+1 -> (1.5 + 1.5 + 3 + 2 + 1.5) / 5
    assert value(M.triplet_hard_loss(labels, emb, margin=1.0)) == pytest.approx(1.9, abs=1e-6)


def test_contrastive_matches_numpy_and_seed_formula():
    y = np.array([1, 0, 1, 0, 0], np.float32)
    d = np.array([0.3, 0.2, 1.7, 1.5, 0.9], np.float32)
    expect = y * d ** 2 + (1 - y) * np.maximum(0.8 - d, 0) ** 2
    np.testing.assert_allclose(np.asarray(M.contrastive_loss(y, d, 0.8)), expect, atol=1e-6)
    assert value(ContrastiveLoss(margin=0.8)(y, d)) == pytest.approx(expect.mean(), abs=1e-6)
    # y_pred as a (B, 1) column (a Dense(1) distance head) gives the same mean
    assert value(ContrastiveLoss(margin=0.8)(y, d[:, None])) == pytest.approx(expect.mean(), abs=1e-6)
    # all-positive and all-negative batches stay finite
    assert value(ContrastiveLoss()(np.ones(3), d[:3])) == pytest.approx(np.mean(d[:3] ** 2), abs=1e-6)
    assert value(ContrastiveLoss()(np.zeros(3), d[:3])) == pytest.approx(
        np.mean(np.maximum(1 - d[:3], 0) ** 2), abs=1e-6)


@pytest.mark.parametrize("metric", ["squared-L2", "L2", "angular"])
def test_explicit_triplets_match_numpy(metric):
    t = RNG.normal(size=(7, 3, 4)).astype(np.float32)
    d_ap = dist_pairs(t[:, 0], t[:, 1], metric)
    d_an = dist_pairs(t[:, 0], t[:, 2], metric)
    expect = np.maximum(d_ap - d_an + 0.5, 0).mean()
    assert value(TripletLoss(margin=0.5, distance_metric=metric)(np.zeros(7), t)) == \
        pytest.approx(expect, abs=1e-5)


def dist_pairs(a, b, metric):
    a, b = a.astype(np.float64), b.astype(np.float64)
    if metric == "angular":
        return 1 - (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    d2 = ((a - b) ** 2).sum(1)
    return d2 if metric == "squared-L2" else np.sqrt(d2)


def test_center_loss_and_update_match_numpy():
    feats = RNG.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([0, 2, 0, 1, 0, 2])
    centers = RNG.normal(size=(4, 3)).astype(np.float32)
    alpha = 0.3
    expect_loss = 0.5 * ((feats - centers[labels]) ** 2).sum(1)
    np.testing.assert_allclose(np.asarray(M.center_loss_values(feats, labels, centers)), expect_loss,
                               atol=1e-5)
    expect = centers.astype(np.float64).copy()
    for j in range(4):
        sel = labels == j
        delta = (centers[j] - feats[sel]).sum(0) / (1 + sel.sum())
        expect[j] = centers[j] - alpha * delta
    np.testing.assert_allclose(np.asarray(M.center_update(centers, feats, labels, alpha)), expect,
                               atol=1e-5)
    # class 3 has no sample in the batch: its centre does not move
    np.testing.assert_allclose(np.asarray(M.center_update(centers, feats, labels, alpha))[3],
                               centers[3], atol=0)
    # the Keras loss is lambda x mean
    assert value(M.CenterLoss(weight=0.1)(np.zeros(6), expect_loss)) == \
        pytest.approx(0.1 * expect_loss.mean(), abs=1e-6)


def test_gradients_are_finite_with_identical_embeddings():
    import tensorflow as tf

    emb = tf.Variable(np.repeat(EMB[:2], 3, axis=0))
    labels = np.array([0, 0, 0, 1, 1, 1])
    for loss in (TripletSemiHardLoss(), TripletHardLoss(), TripletBatchAllLoss(),
                 TripletHardLoss(distance_metric="angular")):
        with tf.GradientTape() as tape:
            out = loss(labels, emb)
        grad = tape.gradient(out, emb)
        assert np.isfinite(np.asarray(out)) and np.isfinite(grad.numpy()).all(), loss.name


def test_tensorflow_addons_signatures():
    sig = inspect.signature(TripletSemiHardLoss)
    assert list(sig.parameters)[:2] == ["margin", "distance_metric"]
    assert sig.parameters["margin"].default == 1.0 and sig.parameters["distance_metric"].default == "L2"
    sig = inspect.signature(TripletHardLoss)
    assert list(sig.parameters)[:3] == ["margin", "soft", "distance_metric"]
    assert sig.parameters["soft"].default is False
    assert inspect.signature(ContrastiveLoss).parameters["margin"].default == 1.0
    # positional use as with tfa
    assert TripletHardLoss(0.3, True, "angular").soft is True
    with pytest.raises(ValueError, match="distance_metric"):
        TripletSemiHardLoss(distance_metric="L_2")


def test_custom_distance_function():
    def manhattan(e):
        import keras.ops as ops
        return ops.sum(ops.abs(ops.expand_dims(e, 1) - ops.expand_dims(e, 0)), -1)

    labels, emb = CASES["mixed"]
    got = value(TripletHardLoss(margin=0.5, distance_metric=manhattan)(labels, emb))
    d = np.abs(emb[:, None] - emb[None]).sum(-1)
    assert got == pytest.approx(hard_np_matrix(labels, d, 0.5), abs=1e-5)


def hard_np_matrix(labels, d, margin):
    out = []
    for i in range(len(labels)):
        pos = [d[i, j] for j in range(len(labels)) if j != i and labels[j] == labels[i]]
        neg = [d[i, j] for j in range(len(labels)) if labels[j] != labels[i]]
        out.append(max((max(pos) if pos else d[i].min()) - min(neg) + margin, 0))
    return float(np.mean(out))


@pytest.mark.parametrize("loss", [TripletSemiHardLoss(0.3, "angular"), TripletHardLoss(0.2, True),
                                  TripletBatchAllLoss(0.4, average="all"), ContrastiveLoss(0.7),
                                  TripletLoss(0.6), M.CenterLoss(0.05)])
def test_losses_serialise(loss):
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_drop_in_trains_a_model_and_round_trips(tmp_path):
    from visiontk.model_files import load_keras_model

    x = RNG.normal(size=(16, 8)).astype(np.float32)
    y = np.repeat(np.arange(4), 4)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4),
                              keras.layers.UnitNormalization()])
    model.compile(optimizer="adam", loss=TripletSemiHardLoss(margin=0.5))
    hist = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    again = load_keras_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again(x), model(x), atol=1e-6)


# ---- integer labels above 2**24 (issue 17) -------------------------------------------------------
# ids 2**24 + IDS: in float32, 2**24 and 2**24 + 1 become one id and 2**24 + 3 becomes 2**24 + 4
IDS = np.array([0, 1, 2, 3] * 3)
BATCH = [(TripletSemiHardLoss, M.triplet_semihard_loss), (TripletHardLoss, M.triplet_hard_loss),
         (TripletBatchAllLoss, M.triplet_batch_all_loss)]


def exact_value(fn, emb):
    """The loss for ids 2**24 + IDS (= the loss for IDS), checked to differ from the loss for the
    same ids cast to float32, so that a test built on it catches the cast."""
    exact = value(fn(IDS, emb))
    assert abs(exact - value(fn((IDS + 2**24).astype(np.float32), emb))) > 1e-2
    return exact


@pytest.mark.parametrize("cls, fn", BATCH, ids=lambda x: getattr(x, "__name__", ""))
def test_batch_losses_keep_large_integer_labels_exact(cls, fn):
    import tensorflow as tf

    exact = exact_value(fn, EMB)
    for offset in (2**24, 2**40, 2**62):
        for labels in (IDS.astype(np.int64) + offset, tf.constant(IDS + offset, tf.int64)):
            assert value(cls()(labels, EMB)) == pytest.approx(exact, abs=1e-6), offset
            assert value(fn(labels, EMB)) == pytest.approx(exact, abs=1e-6), offset


@pytest.mark.parametrize("cls, fn, policy", [(*BATCH[0], "float32"), (*BATCH[1], "float32"),
                                             (*BATCH[2], "float32"), (*BATCH[0], "mixed_float16"),
                                             (*BATCH[1], "mixed_bfloat16")],
                         ids=lambda x: getattr(x, "__name__", x))
def test_large_labels_stay_exact_through_compile_evaluate_and_fit(cls, fn, policy):
    """Keras hands y_true to the loss through its compile-loss wrapper; under a mixed-precision
    policy the embeddings come in half precision."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(
            5, kernel_initializer="identity", use_bias=False)])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=cls())
        emb = np.asarray(keras.ops.cast(model(EMB), "float32"))    # as the policy rounds them
    finally:
        keras.config.set_dtype_policy(previous)
    exact = exact_value(fn, emb)
    labels = IDS.astype(np.int64) + 2**24
    assert model.evaluate(EMB, labels, batch_size=12, verbose=0) == pytest.approx(exact, abs=1e-5)
    hist = model.fit(EMB, labels, batch_size=12, epochs=1, shuffle=False, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(exact, abs=1e-5)     # loss before the step


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight",
                                       "none"])
def test_sample_weights_and_reductions_as_keras_own_loss_call(reduction):
    """Only the label cast differs from Keras' Loss.__call__ (compared on small labels)."""
    labels, emb = CASES["mixed"]
    weights = np.random.default_rng(1).random(len(labels)).astype(np.float32)
    for cls, fn in BATCH:
        ours = cls(reduction=reduction)
        keras_own = KerasCall(fn, reduction=reduction)
        for w in (None, weights, 2.0):
            np.testing.assert_allclose(np.asarray(ours(labels, emb, sample_weight=w)),
                                       np.asarray(keras_own(labels, emb, sample_weight=w)),
                                       rtol=1e-6, err_msg=f"{cls.__name__} {w}")


class KerasCall(keras.losses.Loss):
    """`fn` through Keras' own Loss.__call__."""

    def __init__(self, fn, **kw):
        super().__init__(**kw)
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


MIRRORED = """
import json, sys
import numpy as np, tensorflow as tf, keras
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
from visiontk.tasks.metric import loss as M
emb = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
ids = np.array([0, 1, 0, 1, 2, 3, 2, 3])
MARGIN, LR = 2.0, 0.5
with tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"]).scope():
    dense = keras.layers.Dense(4, kernel_initializer="identity", use_bias=False)
    model = keras.Sequential([keras.Input((4,)), dense])
    model.compile(optimizer=keras.optimizers.SGD(LR), loss=M.TripletSemiHardLoss(MARGIN))
hist = model.fit(emb, ids.astype(np.int64) + 2**24, batch_size=8, shuffle=False, verbose=0)

def mean_of_halves(labels, kernel):    # each replica's loss on its half of the batch, averaged
    e = emb @ kernel
    return (M.triplet_semihard_loss(labels[:4], e[:4], MARGIN) +
            M.triplet_semihard_loss(labels[4:], e[4:], MARGIN)) / 2

kernel = tf.Variable(np.eye(4, dtype="float32"))
with tf.GradientTape() as tape:
    mean = mean_of_halves(ids, kernel)
step = np.eye(4) - LR * tape.gradient(mean, kernel).numpy()
merged = mean_of_halves((ids + 2**24).astype("float32"), np.eye(4, dtype="float32"))
print(json.dumps({"loss": hist.history["loss"][0], "expected": float(mean), "merged": float(merged),
                  "kernel_error": float(np.abs(dense.kernel.numpy() - step).max())}))
"""


@pytest.mark.slow
def test_mirrored_two_replicas_exact_labels_and_mean_loss(tmp_path):
    """Under MirroredStrategy each replica's batch loss is scaled by 1 / replicas (reported loss and
    step = the mean over the replicas, not their sum) and the labels stay exact."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert abs(got["expected"] - got["merged"]) > 1e-2            # the case catches a float cast
    assert got["loss"] == pytest.approx(got["expected"], abs=1e-5)
    assert got["kernel_error"] < 1e-5


@pytest.mark.parametrize("name", ["contrastive_loss", "triplet_semihard_loss", "triplet_hard_loss",
                                  "triplet_batch_all_loss"])
def test_functional_forms_are_registered_by_name(name):
    fn = getattr(M, name)
    assert keras.saving.get_registered_name(fn) == f"visiontk>{name}"
    assert keras.saving.get_registered_object(f"visiontk>{name}") is fn
    assert keras.losses.deserialize(f"visiontk>{name}") is fn
    assert keras.losses.get(keras.losses.serialize(fn)) is fn


def test_model_compiled_with_a_functional_form_loads_with_it(tmp_path):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=M.triplet_hard_loss)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)     # compiled again
    assert again.loss is M.triplet_hard_loss
    assert np.isfinite(again.evaluate(EMB, LABELS, verbose=0))
