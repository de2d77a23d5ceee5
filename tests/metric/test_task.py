"""The embedding task: every loss builds a trainer whose saved model is the unit-norm embedder;
encode; identity splits; recipe validation."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from visiontk.errors import RecipeError  # noqa: E402
from visiontk.tasks.base import DataInfo  # noqa: E402
from visiontk.tasks.metric import Metric, MetricHead
from visiontk.tasks.metric.config import LOSSES  # noqa: E402


def make_task(**head):
    return Metric(MetricHead(**head), DataInfo(["a", "b", "c"], (16, 16, 3), ("identity",),
                                               {"identities": 12}))


def backbone():
    from visiontk.architectures.lenet import build_lenet5

    return build_lenet5((16, 16, 3), include_top=False, first_padding="same", filters=(4, 8),
                        units=(16, 16))


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_one_step_and_saves_the_embedder(loss, tmp_path):
    from visiontk.model_files import load_keras_model

    task = make_task(loss=loss, embedding_size=8, heldout_identities=[10, 11])
    model = task.build(backbone())
    model.compile(optimizer="adam", loss=task.loss(), metrics=task.metrics(), run_eagerly=True)
    rng = np.random.default_rng(0)
    img = rng.random((8, 16, 16, 3), dtype=np.float32)
    ids = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    if loss == "contrastive":
        x, y = {"image_a": img, "image_b": img[::-1]}, (ids == ids[::-1]).astype(np.float32)
    elif loss == "triplet":
        x, y = {"anchor": img, "positive": img, "negative": img[::-1]}, np.zeros(8)
    elif loss == "center":
        x, y = {"image": img, "label": ids}, {"logits": ids, "center": np.zeros(8)}
    else:
        x, y = img, ids
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    embedder = task.inference_model(model)
    assert [t.name for t in embedder.inputs] == ["image"]
    emb = np.asarray(embedder(img))
    assert emb.shape == (8, 8)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    embedder.save(tmp_path / "m.keras")
    again = load_keras_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(again(img)), emb, atol=1e-5)


def test_center_trainer_keeps_its_centres_in_checkpoints(tmp_path):
    task = make_task(loss="center", embedding_size=4, center_alpha=0.5)
    model = task.build(backbone())
    model.compile(optimizer="adam", loss=task.loss(), run_eagerly=True)
    img = np.random.default_rng(0).random((6, 16, 16, 3), dtype=np.float32)
    ids = np.array([0, 1, 2, 0, 1, 2])
    model.train_on_batch({"image": img, "label": ids}, {"logits": ids, "center": np.zeros(6)})
    centres = np.asarray(model.get_layer("center").centers)
    assert centres.shape == (12, 4) and np.abs(centres[:3]).sum() > 0 and not centres[3:].any()
    model.save_weights(tmp_path / "best.weights.h5")
    fresh = task.build(backbone())
    fresh.load_weights(tmp_path / "best.weights.h5")
    np.testing.assert_allclose(np.asarray(fresh.get_layer("center").centers), centres)


def test_identity_splits_and_labels():
    task = make_task(train_identities=[7, 2, 5])
    assert task.seen_mask([2, 3, 5, 7]).tolist() == [True, False, True, True]
    assert task.class_ids() == [2, 5, 7]
    assert task.label_table()[[2, 5, 7, 3]].tolist() == [0, 1, 2, -1]
    held = make_task(heldout_identities=[0, 11])
    assert held.seen_mask([0, 1, 11]).tolist() == [False, True, False]
    assert held.class_ids() == list(range(1, 11))
    import tensorflow as tf

    soft = make_task(loss="softmax", train_identities=[7, 2, 5])
    x, y = soft.encode(tf.zeros((16, 16, 3)), {"identity": tf.constant(7)})
    assert int(y) == 2
    x, y = make_task().encode(tf.zeros((16, 16, 3)), {"identity": tf.constant(7)})
    assert int(y) == 7                                  # batch losses use the identity itself


def test_head_validation(tiny_recipe):
    with pytest.raises(RecipeError, match="train_identities or heldout_identities"):
        tiny_recipe({"task": "metric", "model": {"head": {"train_identities": [1],
                                                          "heldout_identities": [2]}}})
    with pytest.raises(RecipeError, match="model.head.loss"):
        tiny_recipe({"task": "metric", "model": {"head": {"loss": "triplet_semi_hard"}}})
    with pytest.raises(RecipeError, match="model.head.distance"):
        tiny_recipe({"task": "metric", "model": {"head": {"distance": "manhattan"}}})
    r = tiny_recipe({"task": "siamese"})
    assert r.model.head.loss == "triplet_semihard" and r.model.head.embedding_size == 64


def _centre_trainer(weight=0.3, alpha=0.5):
    """A compiled centre-loss trainer of the task (12 identities, 0-9 are classes)."""
    task = make_task(loss="center", embedding_size=4, center_weight=weight, center_alpha=alpha,
                     heldout_identities=[10, 11])
    model = task.build(backbone())
    model.compile(optimizer="adam", loss=task.loss(), run_eagerly=True)
    return task, model


def _centre_batch():
    rng = np.random.default_rng(3)
    img = rng.random((6, 16, 16, 3), dtype=np.float32)
    labels = np.array([0, 1, 2, 0, 1, 9])
    return {"image": img, "label": labels}, {"logits": labels, "center": np.zeros(6, np.float32)}


def test_centre_task_loss_is_cross_entropy_plus_lambda_centre_term():
    """The task's total loss, on fixed data and centres, equals CE + lambda * mean 1/2 ||x - c_y||^2
    computed in numpy from the projection features, the logits layer and the centres."""
    lam = 0.3
    task, model = _centre_trainer(weight=lam)
    x, y = _centre_batch()
    centres = np.random.default_rng(4).normal(size=(10, 4)).astype(np.float32)
    model.get_layer("center").centers.assign(centres)
    features = np.asarray(keras.Model(model.inputs, model.get_layer("projection").output)(x),
                          np.float64)
    w, b = (np.asarray(v, np.float64) for v in model.get_layer("logits").get_weights())
    logits = features @ w + b
    m = logits.max(1, keepdims=True)
    log_probs = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    ce = -log_probs[np.arange(6), y["logits"]].mean()
    centre = 0.5 * ((features - centres[y["logits"]]) ** 2).sum(1).mean()
    expect = ce + lam * centre
    assert centre > 0.1 and lam * centre > 1e-2 * ce           # both terms weigh in the sum
    got = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expect, rel=1e-5)
    # training computes the same loss from the centres before its update (Wen et al.)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(expect, rel=1e-5)
    assert not np.allclose(np.asarray(model.get_layer("center").centers), centres)


def test_centres_resume_from_the_backup(tmp_path):
    """The run backup (visiontk.train.callbacks.Backup, what `visiontk train` resumes from) holds the
    centres: restored into a fresh trainer they equal the trained ones, and training continues
    identically from there."""
    from visiontk.train.callbacks import Backup

    _, model = _centre_trainer()
    x, y = _centre_batch()
    model.fit(x, y, batch_size=6, epochs=2, verbose=0, shuffle=False,
              callbacks=[Backup(tmp_path / "backup")])
    trained = np.asarray(model.get_layer("center").centers).copy()
    assert np.abs(trained[[0, 1, 2, 9]]).min(1).all() and not trained[3:9].any()
    _, fresh = _centre_trainer()
    fresh.optimizer.build(fresh.trainable_variables)          # as visiontk.train.fit.restore does
    assert Backup(tmp_path / "backup").restore(fresh) == 2
    np.testing.assert_array_equal(np.asarray(fresh.get_layer("center").centers), trained)
    model.train_on_batch(x, y)
    fresh.train_on_batch(x, y)
    np.testing.assert_allclose(np.asarray(fresh.get_layer("center").centers),
                               np.asarray(model.get_layer("center").centers), atol=1e-6)
