"""YOLO v1 loss and localization loss: zero for perfect predictions, larger when boxes move."""

from __future__ import annotations

import numpy as np
import pytest

from tests.detection.perfect import targets_to_outputs
from visiontk.tasks.detection.encode import encode_grid

BOXES = np.array([[0.05, 0.10, 0.40, 0.45], [0.55, 0.50, 0.90, 0.95], [0, 0, 0, 0]], np.float32)
CLASSES = np.array([1, 0, -1], np.int32)


def _targets(grid=4):
    return np.asarray(encode_grid(BOXES, CLASSES, grid, 3))[None].astype(np.float32)


@pytest.mark.parametrize("box_loss", ["mse", "smooth_l1", "giou"])
@pytest.mark.parametrize("target", ["iou", "one"])
@pytest.mark.parametrize("confidence", ["mse", "bce"])
def test_yolo_loss_zero_when_perfect_and_grows_when_boxes_move(box_loss, target, confidence):
    from visiontk.tasks.detection.loss import YoloLoss

    loss = YoloLoss(4, 2, 3, box_loss=box_loss, confidence_target=target, confidence_loss=confidence)
    y = _targets()
    perfect = targets_to_outputs(y, 2, slot=1).astype(np.float32)
    terms = {k: float(np.asarray(v)[0]) for k, v in loss.terms(y, perfect).items()}
    assert terms["noobject"] == pytest.approx(0.0, abs=1e-5)   # every other predictor: "empty"
    assert terms["coord"] == pytest.approx(0.0, abs=1e-5)
    assert terms["object"] == pytest.approx(0.0, abs=1e-5)
    assert terms["class"] == pytest.approx(0.0, abs=1e-5)
    base = float(loss(y, perfect))
    previous = base
    for shift in (0.05, 0.15, 0.3):                      # move every box left (cell units)
        moved = perfect.copy()
        obj = y[..., 0] > 0
        moved[..., 6][obj] = perfect[..., 6][obj] - shift
        value = float(loss(y, moved))
        assert value > previous
        previous = value


def test_yolo_loss_no_object_term_counts_false_alarms():
    from visiontk.tasks.detection.loss import YoloLoss

    loss = YoloLoss(4, 2, 3, noobj_weight=0.5)
    y = _targets()
    out = targets_to_outputs(y, 2).astype(np.float32)
    out[0, 3, 0, 0] = 0.8                                 # confidence in an empty cell
    t = loss.terms(y, out)
    assert float(np.asarray(t["noobject"])[0]) == pytest.approx(0.5 * 0.8 ** 2, rel=1e-5)


def test_yolo_loss_config_round_trip():
    import keras

    from visiontk.tasks.detection.loss import YoloLoss

    loss = YoloLoss(7, 2, 3, coord_weight=3.0, noobj_weight=0.25, box_loss="giou")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert again.get_config() == loss.get_config()


@pytest.mark.parametrize("box_loss", ["smooth_l1", "giou", "smooth_l1+giou"])
def test_localization_loss_zero_when_perfect_and_grows(box_loss):
    from visiontk.tasks.localization.loss import LocalizationLoss

    loss = LocalizationLoss(3, box_loss=box_loss)
    y = np.array([[0.5, 0.4, 0.3, 0.2, 0, 1, 0]], np.float32)
    assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-5)
    previous = 0.0
    for shift in (0.02, 0.1, 0.3):
        moved = y.copy()
        moved[0, 0] += shift
        value = float(loss(y, moved))
        assert value > previous
        previous = value


def test_localization_loss_smooths_labels_as_keras_does():
    """train.regularization.label_smoothing reaches the class term (it did not before: the recipe
    accepted it and localization ignored it)."""
    import keras

    from tests.tiny_recipes import all_recipes
    from visiontk.recipe import load_recipe
    from visiontk.tasks.localization.loss import LocalizationLoss
    from visiontk.train.session import prepare

    rng = np.random.default_rng(0)
    probs = rng.random((6, 3)).astype(np.float32) + 0.1
    probs /= probs.sum(1, keepdims=True)
    boxes = rng.random((6, 4)).astype(np.float32) * 0.5 + 0.25
    y_true = np.concatenate([boxes, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]], 1)
    y_pred = np.concatenate([boxes, probs], 1)                    # the box term is zero
    want = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(y_true[:, 4:], probs)
    got = LocalizationLoss(3, label_smoothing=0.2)(y_true, y_pred)
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    assert float(LocalizationLoss(3)(y_true, y_pred)) < float(got)   # the smoothed target costs more
    loss = LocalizationLoss(3, label_smoothing=0.2)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert again.get_config() == loss.get_config()

    data = all_recipes()["localization"]
    data["train"]["regularization"] = {"label_smoothing": 0.1}
    assert prepare(load_recipe(data=data), build=False).task.loss().label_smoothing == 0.1


def test_label_smoothing_is_refused_where_the_loss_would_ignore_it():
    from tests.tiny_recipes import all_recipes
    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe
    from visiontk.train.session import prepare

    data = all_recipes()["detection"]
    data["train"]["regularization"] = {"label_smoothing": 0.1}
    with pytest.raises(RecipeError, match="label_smoothing: task 'detection' does not smooth its "
                                          "targets .*classification, localization"):
        prepare(load_recipe(data=data), build=False)
