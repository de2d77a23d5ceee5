"""ClassCenters (centre-loss state) and PairDistance layers."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from visiontk.tasks.metric.layers import ClassCenters, PairDistance  # noqa: E402
from visiontk.losses import CenterLoss  # noqa: E402


def centre_model(num_classes=3, dim=2, alpha=0.5):
    image = keras.Input((4,), name="image")
    label = keras.Input((), dtype="int32", name="label")
    feats = keras.layers.Dense(dim, name="features")(image)
    logits = keras.layers.Dense(num_classes, name="logits")(feats)
    center = ClassCenters(num_classes, alpha, name="center")([feats, label])
    return keras.Model({"image": image, "label": label}, {"logits": logits, "center": center})


def test_centres_follow_the_seed_rule_during_fit_only():
    model = centre_model()
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    y = np.array([0, 0, 1, 1, 1, 2])
    layer = model.get_layer("center")
    before = np.asarray(layer.centers).copy()
    model({"image": x, "label": y}, training=False)
    np.testing.assert_array_equal(np.asarray(layer.centers), before)     # inference: no update
    feats = np.asarray(model.get_layer("features")(x))
    out = model({"image": x, "label": y}, training=True)
    np.testing.assert_allclose(np.asarray(out["center"]),
                               0.5 * ((feats - before[y]) ** 2).sum(1), atol=1e-5)
    expect = before.copy()
    for j in range(3):
        sel = y == j
        expect[j] -= 0.5 * (before[j] - feats[sel]).sum(0) / (1 + sel.sum())
    np.testing.assert_allclose(np.asarray(layer.centers), expect, atol=1e-5)
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 1


def test_centres_train_and_are_saved_with_the_model(tmp_path):
    from visiontk.model_files import load_keras_model

    model = centre_model()
    model.compile(optimizer="adam",
                  loss={"logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        "center": CenterLoss(weight=0.1)})
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = np.repeat(np.arange(3), 4)
    hist = model.fit({"image": x, "label": y}, {"logits": y, "center": np.zeros(12)}, epochs=3,
                     batch_size=6, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and "center_loss" in hist.history
    centres = np.asarray(model.get_layer("center").centers)
    assert np.abs(centres).sum() > 0                                     # they moved
    model.save(tmp_path / "m.keras")
    again = load_keras_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(again.get_layer("center").centers), centres)
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = centre_model()
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(np.asarray(fresh.get_layer("center").centers), centres)


@pytest.mark.parametrize("distance,expect", [("euclidean", 5.0), ("squared", 25.0),
                                             ("cosine", 1.0 - 4 / 5)])
def test_pair_distance(distance, expect):
    a, b = np.array([[0.0, 1.0]], np.float32), np.array([[3.0, 4.0]], np.float32)
    if distance != "cosine":
        a = np.zeros((1, 2), np.float32)
    assert float(PairDistance(distance)([a, b])[0]) == pytest.approx(expect, abs=1e-6)
    layer = PairDistance.from_config(PairDistance(distance).get_config())
    assert layer.distance == distance
