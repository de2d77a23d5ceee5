"""IoU and Dice of the evaluation path against keras.metrics.MeanIoU and direct numpy on fixed
masks; the Dice and cross-entropy + Dice losses against numpy."""

import numpy as np
import pytest

from visiontk.tasks.segmentation.evaluation import confusion_matrix, scores_from_confusion

NAMES = ["background", "a", "b", "c"]


def fixed_masks():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, size=(4, 16, 16))          # class 3 never appears in the truth
    pred = truth.copy()
    flip = rng.random(truth.shape) < 0.3
    pred[flip] = rng.integers(0, 3, size=flip.sum())
    pred[0, :2, :2] = 3                                   # ... and appears a little in the prediction
    return truth, pred


def test_mean_iou_equals_keras_meaniou():
    import keras

    truth, pred = fixed_masks()
    scores = scores_from_confusion(confusion_matrix(truth, pred, 4), NAMES)
    m = keras.metrics.MeanIoU(num_classes=4)
    m.update_state(truth.ravel(), pred.ravel())
    assert scores["mean_iou"] == pytest.approx(float(m.result()), abs=1e-6)


def test_iou_and_dice_equal_a_direct_numpy_computation():
    truth, pred = fixed_masks()
    scores = scores_from_confusion(confusion_matrix(truth, pred, 4), NAMES)
    for c, name in enumerate(NAMES):
        t, p = truth == c, pred == c
        inter, union = (t & p).sum(), (t | p).sum()
        assert scores["per_class_iou"][name] == pytest.approx(inter / union, abs=1e-12)
        assert scores["per_class_dice"][name] == pytest.approx(2 * inter / (t.sum() + p.sum()), abs=1e-12)
    assert scores["per_class_iou"]["c"] == 0.0                 # predicted, never true: counted as 0
    assert scores["mean_iou_foreground"] == pytest.approx(
        np.mean([scores["per_class_iou"][n] for n in NAMES[1:]]))
    assert scores["pixel_accuracy"] == pytest.approx((truth == pred).mean())


def test_classes_absent_everywhere_are_left_out_like_keras():
    truth = np.zeros((1, 4, 4), int)
    truth[0, :2] = 1
    scores = scores_from_confusion(confusion_matrix(truth, truth, 4), NAMES)
    assert scores["mean_iou"] == 1.0 and scores["per_class_iou"]["b"] is None


def test_dice_and_ce_dice_losses_against_numpy():
    import keras

    from visiontk.losses import CrossEntropyDiceLoss, DiceLoss

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(2, 8, 8))
    logits = rng.normal(size=(2, 8, 8, 3))
    probs = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    onehot = np.eye(3)[truth]
    dice = (2 * (probs * onehot).sum((1, 2)) + 1) / (probs.sum((1, 2)) + onehot.sum((1, 2)) + 1)
    dice_loss = (1 - dice[:, 1:].mean(-1)).mean()
    ce = -(onehot * np.log(probs)).sum(-1).mean((1, 2)).mean()
    assert float(DiceLoss()(truth, probs)) == pytest.approx(dice_loss, rel=1e-5)
    assert float(CrossEntropyDiceLoss(0.5, 2.0)(truth, probs)) == pytest.approx(0.5 * ce + 2 * dice_loss,
                                                                               rel=1e-5)
    perfect = np.eye(3, dtype=np.float32)[truth]
    assert float(DiceLoss()(truth, perfect)) == pytest.approx(0.0, abs=1e-6)
    # serialisable: a round trip through the config gives the same loss
    again = keras.losses.deserialize(keras.losses.serialize(CrossEntropyDiceLoss(0.5, 2.0)))
    assert float(again(truth, probs)) == pytest.approx(0.5 * ce + 2 * dice_loss, rel=1e-5)


def test_binary_form_uses_bce_and_foreground_dice():
    from visiontk.losses import CrossEntropyDiceLoss

    rng = np.random.default_rng(1)
    t = (rng.random((2, 8, 8, 1)) < 0.4).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (2, 8, 8, 1)).astype(np.float32)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean((1, 2, 3))
    dice = (2 * (p * t).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + t.sum((1, 2, 3)) + 1)
    expected = (bce + (1 - dice)).mean()
    assert float(CrossEntropyDiceLoss()(t, p)) == pytest.approx(expected, rel=1e-5)
